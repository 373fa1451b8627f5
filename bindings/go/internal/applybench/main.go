// SPDX-License-Identifier: GPL-2.0-or-later

// Command applybench is the Go side of bench/bindings_ratios.py: the loop
// of bench/bindings_apply_cxx.cc through the Go package.
//
//	applybench first|reapply ITERATIONS WARMUP
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	meshcap "example.invalid/meshcap/bindings/go"
)

const policyJSON = `{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
	"InboundPortsExclude": "15090,15021,15020"}`

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "applybench: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 || (os.Args[1] != "first" && os.Args[1] != "reapply") {
		fmt.Fprintf(os.Stderr, "usage: %s first|reapply ITERATIONS WARMUP\n", os.Args[0])
		os.Exit(2)
	}
	first := os.Args[1] == "first"
	iterations, _ := strconv.Atoi(os.Args[2])
	warmup, _ := strconv.Atoi(os.Args[3])
	policy, err := meshcap.PolicyFromJSON(policyJSON)
	if err != nil {
		fail("policy", err)
	}
	engine, err := meshcap.NewEngine(meshcap.EngineOptions{Backend: "nftables"})
	if err != nil {
		fail("engine", err)
	}
	defer engine.Close()
	if _, err := engine.Apply(policy); err != nil {
		fail("apply", err)
	}
	samples := make([]float64, 0, iterations)
	for i := 0; i < warmup+iterations; i++ {
		if first {
			if _, err := engine.Clean(); err != nil {
				fail("clean", err)
			}
		}
		start := time.Now()
		r, err := engine.Apply(policy)
		elapsed := time.Since(start)
		if err != nil {
			fail("apply", err)
		}
		if r.Changed() != first {
			fail("apply", fmt.Errorf("changed = %v", r.Changed()))
		}
		if i >= warmup {
			us := float64(elapsed.Nanoseconds()) / 1000
			samples = append(samples, math.Round(us*1000)/1000)
		}
	}
	out, _ := json.Marshal(map[string]any{
		"api": "go", "case": os.Args[1], "samples_us": samples,
	})
	fmt.Println(string(out))
}
