// SPDX-License-Identifier: GPL-2.0-or-later
// What the benchmark programs share: the istio-init policy and running the
// subprocess tools they are compared with.

#ifndef MESHCAP_BENCH_BENCH_UTIL_H_
#define MESHCAP_BENCH_BENCH_UTIL_H_

#include <string>

#include "benchmark/benchmark.h"
#include "meshcap/policy.h"

namespace meshcap::bench {

// istio-init's defaults: -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -b '*'
// -d 15090,15021,15020.
PolicyBuilder IstioInit();

// The istio-init policy with IPv4 and IPv6.
CapturePolicy IstioInitDualStack();

// The same with `n` more excluded outbound CIDRs (10.x.y.0/24) and `n` more
// excluded inbound ports: a policy of about 3n + 40 rules over both
// families, for the scaling benchmarks. `extra_port` > 0 adds
// one more excluded outbound port (a one-port change).
CapturePolicy IstioInitWithExclusions(int n, int extra_port = 0);

// The scaling arguments {foreign rules, policy size} both apply
// benchmarks use (bench/report.py reads them by these names): foreign
// rules at the default policy, then policy sizes without foreign rules.
void ScalingSizes(benchmark::internal::Benchmark* b);

// Runs argv (searched on PATH) and returns its exit status, -1 on failure.
int RunProgram(const char* const argv[]);

// Writes `text` to a new temporary file and returns its path.
std::string WriteTemp(const std::string& text);

}  // namespace meshcap::bench

#endif  // MESHCAP_BENCH_BENCH_UTIL_H_
