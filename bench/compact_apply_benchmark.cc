// SPDX-License-Identifier: GPL-2.0-or-later
//
// CompactLists on the nftables backend: what applying long lists costs, in
// one fresh network namespace (the program unshares one at start; it needs
// root). The policy is istio-init's capture with 10,000 excluded /32
// ranges and 1,000 excluded outbound ports (`compact` 0: Istio's linear
// form, a rule per range and two per port; 1: CompactLists, a named set per
// list):
//   - Apply:      Engine::Apply into a ruleset without ours (the removal
//                 before it is not timed). Its "kernel_kib" counter is the
//                 kernel memory the ruleset holds: the growth of this
//                 process's memory cgroup's kernel memory (cgroup v1
//                 memory.kmem.usage_in_bytes of a cgroup made for it; nf_tables
//                 charges its tables, chains, rules, sets and elements there)
//                 from after the removal to after the apply, when the
//                 machine has such a cgroup.
//   - OneCidr:    Engine::Apply alternating the policy with and without one
//                 more excluded range.
//   - Noop:       Engine::Apply of the policy the kernel holds; its
//                 "generations" counter is how far the nf_tables generation
//                 moved (0: nothing was sent).
// bench/compact_report.py runs this and conn_cost_benchmark, and prints the
// ratios docs/perf/README.md quotes.

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "meshcap/engine.h"
#include "meshcap/policy_json.h"

namespace {

constexpr int kRanges = 10000;
constexpr int kPorts = 1000;

// The i-th excluded range: every other /32 of 10.0.0.0/8 (none adjacent,
// so that none could be merged with another).
std::string Range(int i) {
  const int a = 2 * i;
  return "10." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255) + "/32";
}

std::string Json(bool compact, int extra) {
  std::string ranges;
  for (int i = 0; i < kRanges + extra; ++i) {
    if (i > 0) ranges += ',';
    ranges += Range(i);
  }
  std::string ports;
  for (int i = 0; i < kPorts; ++i) {
    if (i > 0) ports += ',';
    ports += std::to_string(20000 + 3 * i);
  }
  return std::string(R"({"OutboundIPRangesInclude": "*",
      "InboundPortsInclude": "*", "InboundPortsExclude": "15090,15021,15020",
      "CompactLists": )") +
         (compact ? "true" : "false") + R"(, "OutboundIPRangesExclude": ")" +
         ranges + R"(", "OutboundPortsExclude": ")" + ports + "\"}";
}

meshcap::CapturePolicy Policy(bool compact, int extra = 0) {
  absl::StatusOr<meshcap::CapturePolicy> p =
      meshcap::PolicyFromJson(Json(compact, extra));
  if (!p.ok()) std::abort();
  return *p;
}

std::unique_ptr<meshcap::Engine> NftEngine() {
  meshcap::EngineOptions o;
  o.backend = "nftables";
  absl::StatusOr<std::unique_ptr<meshcap::Engine>> e =
      meshcap::Engine::Create(o);
  if (!e.ok()) {
    std::fprintf(stderr, "%s\n", std::string(e.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(e);
}

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    std::exit(1);
  }
}

// The memory cgroup (v1) this process moved into at start, if any, and
// the one it left.
std::string& KmemFile() {
  static std::string path;
  return path;
}
std::string& MemcgDirs(bool own) {
  static std::string dirs[2];
  return dirs[own ? 1 : 0];
}

void LeaveOwnMemcg() {
  if (MemcgDirs(true).empty()) return;
  std::ofstream(MemcgDirs(false) + "/cgroup.procs") << getpid() << std::endl;
  rmdir(MemcgDirs(true).c_str());
}

void JoinOwnMemcg() {
  std::ifstream self("/proc/self/cgroup");
  std::string line, where;
  while (std::getline(self, line)) {
    const size_t at = line.find(":memory:");
    if (at != std::string::npos) where = line.substr(at + 8);
  }
  if (where.empty()) return;
  const std::string parent = "/sys/fs/cgroup/memory" + where;
  const std::string dir = parent + (where == "/" ? "" : "/") +
                          "meshcap-bench-" + std::to_string(getpid());
  if (mkdir(dir.c_str(), 0755) != 0) return;
  MemcgDirs(false) = parent;
  MemcgDirs(true) = dir;
  std::ofstream procs(dir + "/cgroup.procs");
  procs << getpid() << std::endl;
  if (!procs) return;
  KmemFile() = dir + "/memory.kmem.usage_in_bytes";
}

std::optional<double> ReadKmemKib() {
  if (KmemFile().empty()) return std::nullopt;
  std::ifstream f(KmemFile());
  double bytes = 0;
  if (!(f >> bytes)) return std::nullopt;
  return bytes / 1024.0;
}

// Once the kernel's deferred frees (a commit releases what it replaced from
// a work queue) have settled: two reads 20 ms apart agree.
std::optional<double> KmemKib() {
  std::optional<double> last = ReadKmemKib();
  for (int i = 0; i < 50 && last.has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::optional<double> now = ReadKmemKib();
    if (now == last) break;
    last = now;
  }
  return last;
}

void BM_Apply(benchmark::State& state) {
  const meshcap::CapturePolicy p = Policy(state.range(0) != 0);
  auto engine = NftEngine();
  double kib = 0;
  int64_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Check(engine->Remove().status());
    const std::optional<double> before = KmemKib();
    state.ResumeTiming();
    Check(engine->Apply(p).status());
    state.PauseTiming();
    const std::optional<double> after = KmemKib();
    if (before && after) {
      kib += *after - *before;
      ++n;
    }
    state.ResumeTiming();
  }
  if (n > 0) state.counters["kernel_kib"] = kib / static_cast<double>(n);
}

void BM_OneCidr(benchmark::State& state) {
  const bool compact = state.range(0) != 0;
  const meshcap::CapturePolicy a = Policy(compact);
  const meshcap::CapturePolicy b = Policy(compact, 1);
  auto engine = NftEngine();
  Check(engine->Apply(a).status());
  bool flip = false;
  for (auto _ : state) {
    flip = !flip;
    Check(engine->Apply(flip ? b : a).status());
  }
}

void BM_Noop(benchmark::State& state) {
  const meshcap::CapturePolicy p = Policy(state.range(0) != 0);
  auto engine = NftEngine();
  Check(engine->Apply(p).status());
  const uint32_t gen = engine->Verify(p)->generation;
  for (auto _ : state) Check(engine->Apply(p).status());
  state.counters["generations"] =
      static_cast<double>(engine->Verify(p)->generation - gen);
}

BENCHMARK(BM_Apply)->Arg(0)->Arg(1)->ArgName("compact")->Unit(
    benchmark::kMillisecond);
BENCHMARK(BM_OneCidr)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("compact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Noop)->Arg(0)->Arg(1)->ArgName("compact")->Unit(
    benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (run as root)");
    return 1;
  }
  JoinOwnMemcg();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  LeaveOwnMemcg();
  return 0;
}
