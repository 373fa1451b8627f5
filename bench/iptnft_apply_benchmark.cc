// SPDX-License-Identifier: GPL-2.0-or-later
//
// iptables-nft apply latency, in one fresh network namespace (the program
// unshares one at start; it needs root or `unshare -rn`). The policy is
// istio-init's defaults for IPv4 and IPv6, with `policy` more excluded
// CIDRs and ports (bench_util.h), beside `foreign` rules that
// iptables-nft-restore put in the ip nat table (as kube-proxy would):
//   - ApplyFirst:   Engine::Apply into tables without ours (the removal
//                   before it is not timed). Its "floor_us" counter is the
//                   raw floor of the same work, measured in the same loop
//                   after the same removal: the batch this apply sends,
//                   prebuilt, replayed on a bare netlink socket, and `::6`
//                   added to lo (the one routing change the policy needs).
//   - ApplyNoop:    Engine::Apply of the policy the kernel already holds.
//   - ApplyOnePort: Engine::Apply alternating the policy with and without
//                   one more excluded outbound port.
//   - Restore:      `iptables-nft-restore --noflush` and
//                   `ip6tables-nft-restore --noflush` of the same rules as
//                   subprocesses, as Istio runs them (removal not timed).
// bench/report.py runs this and prints the ratios docs/perf/README.md quotes.

#include <benchmark/benchmark.h>
#include <errno.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "backends/iptables/render.h"
#include "backends/iptables_nft/batch.h"
#include "backends/iptables_nft/lower.h"
#include "backends/iptables_nft/read.h"
#include "bench/bench_util.h"
#include "bench/raw_netlink.h"
#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "src/compile/compile.h"
#include "src/netlink/netlink.h"

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

std::unique_ptr<meshcap::Engine> NewEngine() {
  meshcap::EngineOptions o;
  o.backend = "iptables-nft";
  auto e = meshcap::Engine::Create(o);
  if (!e.ok()) return nullptr;
  return *std::move(e);
}

// An empty ruleset plus `n` foreign rules in ip nat, written by
// iptables-nft-restore.
bool ResetKernel(int64_t foreign_rules) {
  const char* flush[] = {"nft", "flush", "ruleset", nullptr};
  if (RunProgram(flush) != 0) return false;
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
  const char* load[] = {"iptables-nft-restore", "--noflush", path.c_str(),
                        nullptr};
  const bool ok = RunProgram(load) == 0;
  unlink(path.c_str());
  return ok;
}

// Opens and closes a bound nfnetlink socket: the close flushes the kernel's
// deferred destroy work of earlier commits.
void SettleDestroyWork() {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return;
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  (void)bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

void BM_ApplyFirst(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy policy =
      IstioInitWithExclusions(static_cast<int>(state.range(1)));
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no iptables-nft engine");
  // The floor's batch: what this apply sends into the kernel as it is after
  // a removal (created tables; with foreign rules, nat edited around them).
  const meshcap::ir::RuleSet ir =
      meshcap::internal::Compile(policy, meshcap::ir::Dialect::kIptables);
  auto lowered = meshcap::iptnft::Lower(ir);
  if (!lowered.ok()) return state.SkipWithError("lowering failed");
  if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
  auto nl = meshcap::internal::NetlinkSocket::Open(NETLINK_NETFILTER);
  if (!nl.ok()) return state.SkipWithError("no netlink socket");
  auto kernel = meshcap::iptnft::ReadTables(**nl);
  if (!kernel.ok()) return state.SkipWithError("read failed");
  auto plans = meshcap::iptnft::PlanTables(*lowered, *kernel);
  if (!plans.ok()) return state.SkipWithError("planning failed");
  const std::string create =
      meshcap::iptnft::BuildBatch(*plans, std::nullopt, 1).bytes.Bytes();
  RawSocket raw;
  RawAddress addr;
  if (!raw.ok() || !addr.ok()) return state.SkipWithError("no netlink socket");
  double floor_seconds = 0;
  for (auto _ : state) {
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    // The removal queued the kernel's deferred destroy work (xtables
    // targets drop their conntrack references there, which waits for an
    // RCU grace period): let it finish, untimed, as it has long finished
    // when a pod's first apply comes.
    SettleDestroyWork();
    const auto t0 = Clock::now();
    absl::Status s = engine->Apply(policy).status();
    const auto t1 = Clock::now();
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
    state.SetIterationTime(Seconds(t0, t1));
    // The floor, after a removal like the apply's (`::6` too, whether or
    // not the removal took it).
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    (void)addr.Send(RTM_DELADDR, 0);
    SettleDestroyWork();
    const auto t2 = Clock::now();
    const bool replayed = raw.Replay(create);
    const bool added = addr.Send(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    const auto t3 = Clock::now();
    if (!replayed) return state.SkipWithError("the kernel refused the batch");
    if (!added) return state.SkipWithError("the kernel refused ::6");
    floor_seconds += Seconds(t2, t3);
  }
  state.counters["floor_us"] = benchmark::Counter(
      floor_seconds * 1e6, benchmark::Counter::kAvgIterations);
  size_t rules = 0;
  for (const auto& t : lowered->tables) rules += t.rules.size();
  state.counters["rules"] = static_cast<double>(rules);
}

void BM_ApplyNoop(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("reset failed");
  const meshcap::CapturePolicy policy = IstioInitWithExclusions(0);
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no iptables-nft engine");
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
  if (!engine) return state.SkipWithError("no iptables-nft engine");
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
  const char* restore4[] = {"iptables-nft-restore", "--noflush", v4.c_str(),
                            nullptr};
  const char* restore6[] = {"ip6tables-nft-restore", "--noflush", v6.c_str(),
                            nullptr};
  auto engine = NewEngine();  // removes what the restore left, untimed
  if (!engine) return state.SkipWithError("no iptables-nft engine");
  for (auto _ : state) {
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    SettleDestroyWork();
    const auto t0 = Clock::now();
    const bool ok = RunProgram(restore4) == 0 && RunProgram(restore6) == 0;
    state.SetIterationTime(Seconds(t0, Clock::now()));
    if (!ok) {
      state.SkipWithError("iptables-nft-restore failed");
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
  // A fresh network namespace for the whole run: the machine's own ruleset
  // is never touched.
  if (unshare(CLONE_NEWNET) != 0) {
    fprintf(stderr,
            "iptnft_apply_benchmark: unshare(CLONE_NEWNET): %s; run as root "
            "or under `unshare -rn`\n",
            strerror(errno));
    return 1;
  }
  const char* lo_up[] = {"ip", "link", "set", "lo", "up", nullptr};
  RunProgram(lo_up);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
