// SPDX-License-Identifier: GPL-2.0-or-later

// Package meshcap installs Istio's transparent traffic-capture rules (those
// of istio-init, `istio-iptables`) into a network namespace, in-process,
// through nftables or legacy iptables; checks them; removes them; and runs
// Istio's validation probe.
//
// It is a cgo binding of meshcap's stable C ABI (libmeshcap_c.so.1,
// <meshcap/meshcap_c.h>), found with pkg-config (meshcap-c). Build with
// cgo enabled and meshcap installed, or point PKG_CONFIG_PATH at a meson
// build tree's meson-uninstalled directory. The module has no dependencies
// beyond the standard library.
//
//	policy, err := meshcap.PolicyFromJSON(`{"OutboundIPRangesInclude": "*",
//		"InboundPortsInclude": "*", "InboundPortsExclude": "15090,15021,15020"}`)
//	if err != nil {
//		return err
//	}
//	engine, err := meshcap.NewEngine(meshcap.EngineOptions{
//		NetnsPath: "/var/run/netns/pod",
//	})
//	if err != nil {
//		return err
//	}
//	defer engine.Close()
//	if _, err := engine.Apply(policy); err != nil {
//		return err
//	}
//
// # Errors
//
// Failures are *Error values carrying a Code (Abseil's status codes) and the
// library's message, which names the offending value. An *Error unwraps to
// its Code, so errors.Is(err, meshcap.NotFound), errors.Is(err,
// meshcap.PermissionDenied) and errors.Is(err, meshcap.Aborted) tell the
// kinds apart; NotFound and PermissionDenied also match fs.ErrNotExist and
// fs.ErrPermission. CodeOf(err) returns the code.
//
// # Goroutines and namespaces
//
// Every function and method may be called from any goroutine. A Policy is
// immutable; an Engine serializes its calls. No call changes the network
// namespace (or the credentials) of the OS thread it runs on: the library
// enters a namespace given by path or file on a thread of its own, once,
// when the Engine is made, and runs the validation probe on threads of its
// own. So callers need neither runtime.LockOSThread nor care about which
// thread a goroutine runs on. The one exception is an Engine made without a
// namespace: it works in the namespace of the thread NewEngine ran on,
// which is the process's own unless the program itself moved a thread.
//
// Applying needs CAP_NET_ADMIN in the target namespace, and entering a
// namespace given by path or file CAP_SYS_ADMIN.
package meshcap
