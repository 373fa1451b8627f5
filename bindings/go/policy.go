// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap

/*
#include <meshcap/meshcap_c.h>
*/
import "C"

import (
	"runtime"
)

// Version returns the version of the C library in use, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.meshcap_version()) }

// Policy is a validated capture policy. It is immutable and safe to use
// from any number of goroutines. Make one with PolicyFromJSON or a
// PolicyBuilder.
type Policy struct {
	p *C.meshcap_policy
}

func newPolicy(p *C.meshcap_policy) *Policy {
	policy := &Policy{p: p}
	runtime.SetFinalizer(policy, func(policy *Policy) {
		C.meshcap_policy_free(policy.p)
	})
	return policy
}

// PolicyFromJSON makes a policy from a JSON object whose keys are Istio's
// Config field names, as `meshcap --policy FILE` reads it:
//
//	{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
//	 "InboundPortsExclude": "15090,15021,15020"}
//
// "{}" is the library's defaults. A malformed document, an unknown key or
// a bad value is InvalidArgument (the message names the key and the
// value); an unknown group name is NotFound.
func PolicyFromJSON(json string) (*Policy, error) {
	var cs cStrings
	defer cs.free()
	var p *C.meshcap_policy
	var msg *C.char
	if err := newError(C.meshcap_policy_from_json(cs.add(json), &p, &msg),
		msg); err != nil {
		return nil, err
	}
	return newPolicy(p), nil
}

// MarshalJSON returns every knob of the policy's profile with the value in
// effect; PolicyFromJSON of it gives an equal policy.
func (p *Policy) MarshalJSON() ([]byte, error) {
	var out, msg *C.char
	rc := C.meshcap_policy_to_json(p.p, &out, &msg)
	runtime.KeepAlive(p)
	if err := newError(rc, msg); err != nil {
		return nil, err
	}
	return []byte(takeString(out)), nil
}

// String returns the policy as JSON.
func (p *Policy) String() string {
	b, err := p.MarshalJSON()
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Render returns the text Istio's generator for backend would run, byte
// for byte: "nftables" gives the `nft -f` transaction, "iptables-legacy"
// the `iptables-restore --noflush` input. No kernel is touched.
func Render(p *Policy, backend string) (string, error) {
	var cs cStrings
	defer cs.free()
	var out, msg *C.char
	rc := C.meshcap_render(p.p, cs.add(backend), &out, &msg)
	runtime.KeepAlive(p)
	if err := newError(rc, msg); err != nil {
		return "", err
	}
	return takeString(out), nil
}

// PolicyBuilder collects knob values; Build validates them all at once.
// The zero value is ready to use. A PolicyBuilder is not safe for
// concurrent use.
//
//	policy, err := new(meshcap.PolicyBuilder).
//		Set("OutboundIPRangesInclude", "*").
//		Set("InboundPortsInclude", "*").
//		Set("InboundPortsExclude", "15090,15021,15020").
//		Build()
type PolicyBuilder struct {
	steps []builderStep
}

type builderStep struct {
	op                 byte // 's'et, 'u'nset, 'j'son
	key, value, origin string
}

// Set sets the knob named key: a JSON key ("ProxyPort") or an
// istio-iptables long flag ("envoy-port"), to value in Istio's text syntax
// ("15001", "*", "10.0.0.0/8,fd00::/8", "true"). An empty value unsets the
// knob. Values and unknown keys are checked by Build.
func (b *PolicyBuilder) Set(key, value string) *PolicyBuilder {
	return b.SetFrom(key, value, "")
}

// SetFrom is Set with the name error messages give the value, such as
// "pod.json: key 'ProxyPort'" or "--envoy-port".
func (b *PolicyBuilder) SetFrom(key, value, origin string) *PolicyBuilder {
	b.steps = append(b.steps, builderStep{'s', key, value, origin})
	return b
}

// Unset returns the knob named key to its default.
func (b *PolicyBuilder) Unset(key string) *PolicyBuilder {
	b.steps = append(b.steps, builderStep{op: 'u', key: key})
	return b
}

// MergeJSON sets the knobs of a JSON object (as PolicyFromJSON reads it)
// on top of those set before; source names the document in messages.
// Errors in it are reported by Build.
func (b *PolicyBuilder) MergeJSON(json, source string) *PolicyBuilder {
	b.steps = append(b.steps, builderStep{op: 'j', value: json, origin: source})
	return b
}

// Build validates every knob and returns the policy. The builder is
// unchanged and can be used again.
func (b *PolicyBuilder) Build() (*Policy, error) {
	var cs cStrings
	defer cs.free()
	var cb *C.meshcap_policy_builder
	var msg *C.char
	if err := newError(C.meshcap_policy_builder_new(&cb, &msg), msg); err != nil {
		return nil, err
	}
	defer C.meshcap_policy_builder_free(cb)
	for _, s := range b.steps {
		var rc C.int
		switch s.op {
		case 's':
			rc = C.meshcap_policy_builder_set(cb, cs.add(s.key), cs.add(s.value),
				cs.optional(s.origin), &msg)
		case 'u':
			rc = C.meshcap_policy_builder_unset(cb, cs.add(s.key), &msg)
		case 'j':
			rc = C.meshcap_policy_builder_set_json(cb, cs.add(s.value),
				cs.optional(s.origin), &msg)
		}
		if err := newError(rc, msg); err != nil {
			return nil, err
		}
	}
	var p *C.meshcap_policy
	if err := newError(C.meshcap_policy_builder_build(cb, &p, &msg), msg); err != nil {
		return nil, err
	}
	return newPolicy(p), nil
}
