// SPDX-License-Identifier: GPL-2.0-or-later
//
// nftables apply latency, in one fresh network namespace (the program
// unshares one at start; it needs root or `unshare -rn`). The policy is
// istio-init's defaults for IPv4 and IPv6, with `policy` more excluded
// CIDRs and ports (bench_util.h), beside `foreign` rules in another table:
//   - ApplyFirst:   Engine::Apply into a ruleset without ours (the removal
//                   before it is not timed). Its "floor_us" counter is the
//                   raw floor of the same work, measured in the same loop,
//                   right after a removal too: the prebuilt batch replayed
//                   on a bare netlink socket, and `::6` added to lo (the
//                   one routing change this policy needs), the kernel's
//                   share alone.
//   - ApplyNoop:    Engine::Apply of the policy the kernel already holds
//                   (nothing is sent).
//   - ApplyOnePort: Engine::Apply alternating the policy with and without
//                   one more excluded outbound port (one chain replaced).
//   - NftFile:      `nft -f` of the same rules as a subprocess, as Istio's
//                   nftables backend runs it (the removal is not timed).
// bench/report.py runs this, prints the ratios docs/perf/README.md quotes and
// plots them.

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "backends/nftables/batch.h"
#include "backends/nftables/lower.h"
#include "bench/bench_util.h"
#include "bench/raw_netlink.h"
#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "meshcap/render.h"
#include "src/compile/compile.h"

namespace {

using ::meshcap::bench::IstioInitWithExclusions;
using ::meshcap::bench::RawAddress;
using ::meshcap::bench::RawSocket;
using ::meshcap::bench::RunProgram;
using ::meshcap::bench::WriteTemp;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// An empty ruleset plus `n` foreign rules in `table ip foreign`.
bool ResetKernel(int64_t foreign_rules) {
  const char* flush[] = {"nft", "flush", "ruleset", nullptr};
  if (RunProgram(flush) != 0) return false;
  if (foreign_rules == 0) return true;
  std::string text =
      "table ip foreign {\n chain forward {\n  type filter hook forward "
      "priority 0; policy accept;\n";
  for (int64_t i = 0; i < foreign_rules; ++i) {
    // Documentation-range addresses; the port keeps every rule distinct.
    text += std::string("  ip saddr ") +
            (i % 2 == 0 ? "198.51.100." : "203.0.113.") +
            std::to_string((i / 2) % 256) + " tcp dport " +
            std::to_string(1024 + i / 512) + " counter accept\n";
  }
  text += " }\n}\n";
  const std::string path = WriteTemp(text);
  const char* load[] = {"nft", "-f", path.c_str(), nullptr};
  const bool ok = RunProgram(load) == 0;
  unlink(path.c_str());
  return ok;
}

std::unique_ptr<meshcap::Engine> NewEngine() {
  meshcap::EngineOptions o;
  o.backend = "nftables";
  auto e = meshcap::Engine::Create(o);
  if (!e.ok()) return nullptr;
  return *std::move(e);
}

void BM_ApplyFirst(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("nft failed");
  const meshcap::CapturePolicy policy =
      IstioInitWithExclusions(static_cast<int>(state.range(1)));
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no nftables engine");
  // The floor's batches: our tables created (as a first apply's), and
  // deleted again.
  const meshcap::ir::RuleSet ir =
      meshcap::internal::Compile(policy, meshcap::ir::Dialect::kNftables);
  auto lowered = meshcap::nft::Lower(ir);
  if (!lowered.ok()) return state.SkipWithError("lowering failed");
  meshcap::nft::BatchPlan plan;
  for (const auto& t : lowered->tables) plan.create.push_back(&t);
  const std::string create = meshcap::nft::BuildBatch(plan, 1).bytes.Bytes();
  plan.create.clear();
  for (const auto& t : lowered->tables) plan.remove.push_back(t.name());
  const std::string remove =
      meshcap::nft::BuildBatch(plan, 1 << 20).bytes.Bytes();
  RawSocket raw;
  RawAddress addr;
  if (!raw.ok() || !addr.ok()) return state.SkipWithError("no netlink socket");

  double floor_seconds = 0;
  for (auto _ : state) {
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    const auto t0 = Clock::now();
    absl::Status s = engine->Apply(policy).status();
    const auto t1 = Clock::now();
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
    state.SetIterationTime(Seconds(t0, t1));
    // The floor, after a removal like the apply's.
    if (!raw.Replay(remove) || !addr.Send(RTM_DELADDR, 0)) {
      return state.SkipWithError("raw remove failed");
    }
    const auto t2 = Clock::now();
    const bool ok =
        raw.Replay(create) && addr.Send(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    const auto t3 = Clock::now();
    if (!ok) return state.SkipWithError("the kernel refused the raw batch");
    floor_seconds += Seconds(t2, t3);
  }
  state.counters["floor_us"] = benchmark::Counter(
      floor_seconds * 1e6, benchmark::Counter::kAvgIterations);
  size_t rules = 0;
  for (const auto& t : lowered->tables) rules += t.rules.size();
  state.counters["rules"] = static_cast<double>(rules);
}

void BM_ApplyNoop(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("nft failed");
  const meshcap::CapturePolicy policy = IstioInitWithExclusions(0);
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no nftables engine");
  if (!engine->Apply(policy).ok()) return state.SkipWithError("apply failed");
  for (auto _ : state) {
    absl::StatusOr<meshcap::ApplyResult> r = engine->Apply(policy);
    if (!r.ok() || r->changed()) return state.SkipWithError("not a no-op");
  }
}

void BM_ApplyOnePort(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("nft failed");
  const meshcap::CapturePolicy a = IstioInitWithExclusions(0);
  const meshcap::CapturePolicy b = IstioInitWithExclusions(0, 8080);
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no nftables engine");
  if (!engine->Apply(a).ok()) return state.SkipWithError("apply failed");
  bool flip = true;
  for (auto _ : state) {
    absl::StatusOr<meshcap::ApplyResult> r = engine->Apply(flip ? b : a);
    if (!r.ok() || !r->changed()) return state.SkipWithError("no change");
    flip = !flip;
  }
}

// Opens and closes an nfnetlink socket: the close flushes the kernel's
// deferred destroy work of earlier commits.
void SettleDestroyWork() {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return;
  // Bound (a port id), as nft's socket is: only those notify on release.
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  (void)bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

void BM_NftFile(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("nft failed");
  const meshcap::CapturePolicy policy =
      IstioInitWithExclusions(static_cast<int>(state.range(1)));
  const std::string path = WriteTemp(*meshcap::Render(policy, "nftables"));
  const char* argv[] = {"nft", "-f", path.c_str(), nullptr};
  auto engine = NewEngine();  // removes what nft made, untimed
  if (!engine) return state.SkipWithError("no nftables engine");
  for (auto _ : state) {
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    // The removal queued the kernel's destroy work, which the next close
    // of an nfnetlink socket waits for: wait for it here, untimed, or nft's
    // exit would be charged with our removal (as a fresh namespace's nft
    // -f is not).
    SettleDestroyWork();
    const auto t0 = Clock::now();
    const int rc = RunProgram(argv);
    state.SetIterationTime(Seconds(t0, Clock::now()));
    if (rc != 0) {
      state.SkipWithError("nft -f failed");
      break;
    }
  }
  unlink(path.c_str());
}

BENCHMARK(BM_ApplyFirst)
    ->Apply(meshcap::bench::ScalingSizes)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NftFile)
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
  // A fresh network namespace for the whole run: the machine's own ruleset
  // is never touched.
  if (unshare(CLONE_NEWNET) != 0) {
    fprintf(stderr,
            "nft_apply_benchmark: unshare(CLONE_NEWNET): %s; run as root or "
            "under `unshare -rn`\n",
            strerror(errno));
    return 1;
  }
  // lo up, as in every pod (policy routing for IPv6 needs it).
  const char* lo_up[] = {"ip", "link", "set", "lo", "up", nullptr};
  RunProgram(lo_up);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
