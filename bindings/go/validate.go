// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap

/*
#include <meshcap/meshcap_c.h>
*/
import "C"

import (
	"os"
	"runtime"
	"time"
)

// ValidateOptions configures Validate. The zero value probes the process's
// namespace with Istio's defaults.
type ValidateOptions struct {
	// The ports and the identity to probe: the policy's proxy port, inbound
	// capture port, first proxy UID and GID. nil: Istio's defaults (15001,
	// 15006, 1337, 1337).
	Policy *Policy
	// The namespace, as in EngineOptions.
	NetnsPath string
	NetnsFile *os.File
	// The port dialled on 127.0.0.6; 0: 15002.
	ProbePort uint16
	// Listen on ::1 and dial ::6 instead.
	IPv6 bool
	// How long to try; 0: 5s.
	Timeout time.Duration
}

// Validate runs Istio's validation probe (`istio-iptables
// --run-validation`): it listens on 127.0.0.1 at the outbound and inbound
// capture ports, dials 127.0.0.6 at the probe port as the proxy's UID and
// GID, and succeeds when a listener accepts the connection with the probe
// port as its original destination. It fails with DeadlineExceeded when
// nothing captured the probe in time, FailedPrecondition when a listener
// cannot bind, PermissionDenied when the identity cannot be taken. The
// probe runs on threads of the library's own; no goroutine's thread changes
// namespace or identity.
func Validate(opts ValidateOptions) error {
	var cs cStrings
	defer cs.free()
	var o C.meshcap_validate_options
	C.meshcap_validate_options_init(&o)
	var msg *C.char
	if opts.Policy != nil {
		rc := C.meshcap_validate_options_set_policy(&o, opts.Policy.p, &msg)
		runtime.KeepAlive(opts.Policy)
		if err := newError(rc, msg); err != nil {
			return err
		}
	}
	o.netns_path = cs.optional(opts.NetnsPath)
	if opts.NetnsFile != nil {
		o.netns_fd = C.int32_t(opts.NetnsFile.Fd())
	}
	if opts.ProbePort != 0 {
		o.probe_port = C.uint16_t(opts.ProbePort)
	}
	if opts.IPv6 {
		o.flags |= C.MESHCAP_VALIDATE_IPV6
	}
	if opts.Timeout > 0 {
		o.timeout_ms = C.int64_t(opts.Timeout.Milliseconds())
	}
	rc := C.meshcap_validate(&o, &msg)
	runtime.KeepAlive(opts.NetnsFile)
	return newError(rc, msg)
}
