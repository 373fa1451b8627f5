// SPDX-License-Identifier: GPL-2.0-or-later
//
// Legacy iptables apply latency, in one fresh network namespace (the program
// unshares one at start; it needs root):
//   - Apply/first:   the istio-init default policy (IPv4 + IPv6) through
//                    libiptc into tables without ours (removal not timed);
//   - Apply/reapply: the same policy over itself;
//   - Restore:       `iptables-legacy-restore --noflush` and
//                    `ip6tables-legacy-restore --noflush` of the same rules as
//                    subprocesses, as Istio runs them (removal not timed).
// Each runs with 0 and 20,000 foreign rules in the nat table.
// bench/ratios.py runs this and prints the ratios the README quotes.

#include <benchmark/benchmark.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "backends/iptables_legacy/render.h"
#include "bench/bench_util.h"
#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "meshcap/render.h"
#include "src/compile/compile.h"

namespace {

using ::meshcap::bench::RunProgram;
using ::meshcap::bench::WriteTemp;

meshcap::CapturePolicy IstioInitRules() {
  return ::meshcap::bench::IstioInitDualStack();
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
  const meshcap::CapturePolicy rules = IstioInitRules();
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no iptables-legacy engine");
  for (auto _ : state) {
    state.PauseTiming();
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    state.ResumeTiming();
    absl::Status s = engine->Apply(rules).status();
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  }
}

void BM_ApplyReapply(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy rules = IstioInitRules();
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no iptables-legacy engine");
  for (auto _ : state) {
    absl::Status s = engine->Apply(rules).status();
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  }
}

void BM_Restore(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy rules = IstioInitRules();
  const meshcap::ir::RuleSet ir =
      meshcap::internal::Compile(rules, meshcap::ir::Dialect::kIptables);
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
    state.PauseTiming();
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    state.ResumeTiming();
    if (RunProgram(restore4) != 0 || RunProgram(restore6) != 0) {
      state.SkipWithError("iptables-legacy-restore failed");
      break;
    }
  }
  unlink(v4.c_str());
  unlink(v6.c_str());
}

#define FOREIGN_SIZES Arg(0)->Arg(20000)->ArgName("foreign")
BENCHMARK(BM_ApplyFirst)->FOREIGN_SIZES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ApplyReapply)->FOREIGN_SIZES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Restore)->FOREIGN_SIZES->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  if (unshare(CLONE_NEWNET) != 0) {
    fprintf(stderr,
            "ipt_apply_benchmark: unshare(CLONE_NEWNET): %s; run as root\n",
            strerror(errno));
    return 1;
  }
  // Our own lock file: the machine's /run/xtables.lock is not ours to hold.
  setenv("XTABLES_LOCKFILE", "/tmp/meshcap-bench-xtables.lock", 1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
