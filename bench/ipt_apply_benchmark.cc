// SPDX-License-Identifier: GPL-2.0-or-later
//
// Legacy iptables apply latency, in one fresh network namespace (the program
// unshares one at start; it needs root). The policy is istio-init's
// defaults for IPv4 and IPv6, with `policy` more excluded CIDRs and ports
// (bench_util.h), beside `foreign` rules in the nat table:
//   - ApplyFirst:   Engine::Apply through libiptc into tables without ours
//                   (the removal before it is not timed). Its "floor_us"
//                   counter is the kernel's share for the big table,
//                   measured in the same loop after the same removal: one
//                   IPT_SO_GET_ENTRIES and one IPT_SO_SET_REPLACE of the
//                   IPv4 nat table with the applied contents.
//   - ApplyNoop:    Engine::Apply of the policy the tables already hold.
//   - ApplyOnePort: Engine::Apply alternating the policy with and without
//                   one more excluded outbound port.
//   - Restore:      `iptables-legacy-restore --noflush` and
//                   `ip6tables-legacy-restore --noflush` of the same rules as
//                   subprocesses, as Istio runs them (removal not timed).
// bench/report.py runs this, prints the ratios docs/perf/README.md quotes and
// plots them.

#include <benchmark/benchmark.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "backends/iptables/render.h"
#include "backends/iptables_legacy/table.h"
#include "bench/bench_util.h"
#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "src/compile/compile.h"

namespace {

using ::meshcap::bench::IstioInitWithExclusions;
using ::meshcap::bench::RunProgram;
using ::meshcap::bench::WriteTemp;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::unique_ptr<meshcap::Engine> NewEngine() {
  meshcap::EngineOptions o;
  o.backend = "iptables-legacy";
  auto e = meshcap::Engine::Create(o);
  if (!e.ok()) return nullptr;
  return *std::move(e);
}

// Empty tables plus `n` foreign rules in a nat chain of their own.
bool ResetKernel(int64_t foreign_rules) {
  for (const char* tool : {"iptables-legacy", "ip6tables-legacy"}) {
    for (const char* table : {"nat", "mangle", "raw"}) {
      const char* flush[] = {tool, "-t", table, "-F", nullptr};
      const char* del[] = {tool, "-t", table, "-X", nullptr};
      if (RunProgram(flush) != 0 || RunProgram(del) != 0) return false;
    }
  }
  if (foreign_rules == 0) return true;
  std::string text = "*nat\n:KUBE-SERVICES - [0:0]\n";
  for (int64_t i = 0; i < foreign_rules; ++i) {
    // Documentation-range addresses; the port keeps every rule distinct.
    text += std::string("-A KUBE-SERVICES -d ") +
            (i % 2 == 0 ? "198.51.100." : "203.0.113.") +
            std::to_string((i / 2) % 256) + "/32 -p tcp -m tcp --dport " +
            std::to_string(1024 + i / 512) + " -j RETURN\n";
  }
  text += "-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n";
  const std::string path = WriteTemp(text);
  const char* load[] = {"iptables-legacy-restore", "--noflush", path.c_str(),
                        nullptr};
  const bool ok = RunProgram(load) == 0;
  unlink(path.c_str());
  return ok;
}

void BM_ApplyFirst(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy policy =
      IstioInitWithExclusions(static_cast<int>(state.range(1)));
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no iptables-legacy engine");
  // The IPv4 nat table as an apply leaves it, for the floor.
  if (!engine->Apply(policy).ok()) return state.SkipWithError("apply failed");
  absl::StatusOr<meshcap::ipt::RawTable> applied = meshcap::ipt::ReadRaw(
      meshcap::IpFamily::kIpv4, meshcap::ir::TableKind::kNat);
  if (!applied.ok()) return state.SkipWithError("read failed");
  double floor_seconds = 0;
  for (auto _ : state) {
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    const auto t0 = Clock::now();
    absl::Status s = engine->Apply(policy).status();
    const auto t1 = Clock::now();
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
    state.SetIterationTime(Seconds(t0, t1));
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    const auto t2 = Clock::now();
    absl::StatusOr<meshcap::ipt::RawTable> read = meshcap::ipt::ReadRaw(
        meshcap::IpFamily::kIpv4, meshcap::ir::TableKind::kNat);
    const bool ok = read.ok() && meshcap::ipt::WriteRaw(
                                     meshcap::IpFamily::kIpv4,
                                     meshcap::ir::TableKind::kNat, *applied)
                                     .ok();
    const auto t3 = Clock::now();
    if (!ok) return state.SkipWithError("raw read/replace failed");
    floor_seconds += Seconds(t2, t3);
  }
  state.counters["floor_us"] = benchmark::Counter(
      floor_seconds * 1e6, benchmark::Counter::kAvgIterations);
}

void BM_ApplyNoop(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy policy = IstioInitWithExclusions(0);
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no iptables-legacy engine");
  if (!engine->Apply(policy).ok()) return state.SkipWithError("apply failed");
  for (auto _ : state) {
    absl::StatusOr<meshcap::ApplyResult> r = engine->Apply(policy);
    if (!r.ok() || r->changed()) return state.SkipWithError("not a no-op");
  }
}

void BM_ApplyOnePort(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy a = IstioInitWithExclusions(0);
  const meshcap::CapturePolicy b = IstioInitWithExclusions(0, 8080);
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no iptables-legacy engine");
  if (!engine->Apply(a).ok()) return state.SkipWithError("apply failed");
  bool flip = true;
  for (auto _ : state) {
    absl::StatusOr<meshcap::ApplyResult> r = engine->Apply(flip ? b : a);
    if (!r.ok() || !r->changed()) return state.SkipWithError("no change");
    flip = !flip;
  }
}

void BM_Restore(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy policy =
      IstioInitWithExclusions(static_cast<int>(state.range(1)));
  const meshcap::ir::RuleSet ir =
      meshcap::internal::Compile(policy, meshcap::ir::Dialect::kIptables);
  const std::string v4 =
      WriteTemp(meshcap::ipt::Render(ir, meshcap::IpFamily::kIpv4));
  const std::string v6 =
      WriteTemp(meshcap::ipt::Render(ir, meshcap::IpFamily::kIpv6));
  const char* restore4[] = {"iptables-legacy-restore", "--noflush", v4.c_str(),
                            nullptr};
  const char* restore6[] = {"ip6tables-legacy-restore", "--noflush", v6.c_str(),
                            nullptr};
  auto engine = NewEngine();  // removes what the restore left, untimed
  if (!engine) return state.SkipWithError("no iptables-legacy engine");
  for (auto _ : state) {
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    const auto t0 = Clock::now();
    const bool ok = RunProgram(restore4) == 0 && RunProgram(restore6) == 0;
    state.SetIterationTime(Seconds(t0, Clock::now()));
    if (!ok) {
      state.SkipWithError("iptables-legacy-restore failed");
      break;
    }
  }
  unlink(v4.c_str());
  unlink(v6.c_str());
}

BENCHMARK(BM_ApplyFirst)
    ->Apply(meshcap::bench::ScalingSizes)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Restore)
    ->Apply(meshcap::bench::ScalingSizes)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ApplyNoop)
    ->Arg(0)
    ->Arg(20000)
    ->ArgName("foreign")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ApplyOnePort)
    ->Arg(0)
    ->Arg(20000)
    ->ArgName("foreign")
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  if (unshare(CLONE_NEWNET) != 0) {
    fprintf(stderr,
            "ipt_apply_benchmark: unshare(CLONE_NEWNET): %s; run as root\n",
            strerror(errno));
    return 1;
  }
  const char* lo_up[] = {"ip", "link", "set", "lo", "up", nullptr};
  RunProgram(lo_up);
  // Our own lock file: the machine's /run/xtables.lock is not ours to hold.
  setenv("XTABLES_LOCKFILE", "/tmp/meshcap-bench-xtables.lock", 1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
