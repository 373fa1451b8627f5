// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"strings"

	meshcap "example.invalid/meshcap/bindings/go"
)

func ExampleRender() {
	policy, err := meshcap.PolicyFromJSON(`{"OutboundIPRangesInclude": "*"}`)
	if err != nil {
		log.Fatal(err)
	}
	text, err := meshcap.Render(policy, "nftables")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.SplitN(text, "\n", 2)[0])
	// Output: add table inet istio-proxy-nat
}

// Why the proxy's own traffic is not captured.
func ExampleExplain() {
	policy, err := meshcap.PolicyFromJSON(`{"OutboundIPRangesInclude": "*"}`)
	if err != nil {
		log.Fatal(err)
	}
	proxy := uint32(1337)
	e, err := meshcap.Explain(policy, meshcap.Packet{Dst: "10.96.0.10:80", UID: &proxy}, "nftables")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Captured, e.Mode)
	fmt.Println(e.Summary)
	// Output:
	// false ACCEPT
	// not captured: `skuid 1337 counter return` (inet istio-proxy-nat istio-output, rule 4) lets it pass
}

func ExampleCode() {
	_, err := meshcap.NewEngine(meshcap.EngineOptions{NetnsPath: "/var/run/netns/no-such-pod"})
	fmt.Println(errors.Is(err, meshcap.NotFound), errors.Is(err, fs.ErrNotExist),
		meshcap.CodeOf(err))
	// Output: true true NOT_FOUND
}

func ExamplePolicyBuilder() {
	_, err := new(meshcap.PolicyBuilder).
		Set("OutboundIPRangesInclude", "*").
		SetFrom("InboundPortsExclude", "15090,0", "--istio-local-exclude-ports").
		Build()
	fmt.Println(meshcap.CodeOf(err))
	// Output: INVALID_ARGUMENT
}

// Apply, verify and, when somebody else changed the ruleset in between,
// do nothing.
func ExampleEngine_Apply() {
	policy, err := meshcap.PolicyFromJSON(`{"OutboundIPRangesInclude": "*",
		"InboundPortsInclude": "*", "InboundPortsExclude": "15090,15021,15020"}`)
	if err != nil {
		log.Fatal(err)
	}
	engine, err := meshcap.NewEngine(meshcap.EngineOptions{NetnsPath: "/var/run/netns/pod"})
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	report, err := engine.Verify(policy)
	if err != nil {
		log.Fatal(err)
	}
	if report.Matches() {
		return
	}
	_, err = engine.Apply(policy, meshcap.ExpectGeneration(report.Generation))
	if errors.Is(err, meshcap.Aborted) {
		log.Print("the ruleset changed since it was read; try again")
	} else if err != nil {
		log.Fatal(err)
	}
}
