// SPDX-License-Identifier: GPL-2.0-or-later
//
// nftables apply latency, in one fresh network namespace (the program
// unshares one at start; it needs root or `unshare -rn`):
//   - Apply/first:   the istio-init default policy (IPv4 + IPv6) into an
//                    empty ruleset (the removal in between is not timed);
//   - Apply/reapply: the same policy over itself;
//   - NftFile:       `nft -f` of the same rules as a subprocess, as Istio's
//                    nftables backend runs it;
//   - RawFloor:      the prebuilt batch bytes replayed on a bare netlink
//                    socket: the kernel's share, nothing of ours.
// Each runs with 0, 1,000 and 20,000 foreign rules in another table.
// bench/ratios.py runs this and prints the ratios the README quotes.

#include <benchmark/benchmark.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "backends/nftables/batch.h"
#include "backends/nftables/lower.h"
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
  const meshcap::CapturePolicy rules = IstioInitRules();
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no nftables engine");
  for (auto _ : state) {
    state.PauseTiming();
    if (!engine->Remove().ok()) return state.SkipWithError("remove failed");
    state.ResumeTiming();
    absl::Status s = engine->Apply(rules).status();
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  }
}

void BM_ApplyReapply(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("nft failed");
  const meshcap::CapturePolicy rules = IstioInitRules();
  auto engine = NewEngine();
  if (!engine) return state.SkipWithError("no nftables engine");
  for (auto _ : state) {
    absl::Status s = engine->Apply(rules).status();
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  }
}

void BM_NftFile(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("nft failed");
  const std::string path =
      WriteTemp(*meshcap::Render(IstioInitRules(), "nftables"));
  const char* argv[] = {"nft", "-f", path.c_str(), nullptr};
  for (auto _ : state) {
    if (RunProgram(argv) != 0) {
      state.SkipWithError("nft -f failed");
      break;
    }
  }
  unlink(path.c_str());
}

void BM_RawFloor(benchmark::State& state) {
  if (!ResetKernel(state.range(0))) return state.SkipWithError("nft failed");
  // The batch of a first apply: our tables created, nothing deleted.
  const meshcap::ir::RuleSet ir = meshcap::internal::Compile(
      IstioInitRules(), meshcap::ir::Dialect::kNftables);
  auto lowered = meshcap::nft::Lower(ir);
  if (!lowered.ok()) return state.SkipWithError("lowering failed");
  meshcap::nft::BatchPlan plan;
  for (const auto& t : lowered->tables) plan.create.push_back(&t);
  const std::string create = meshcap::nft::BuildBatch(plan, 1).bytes.Bytes();
  plan.create.clear();
  for (const auto& t : lowered->tables) plan.remove.push_back(t.name());
  const std::string remove = meshcap::nft::BuildBatch(plan, 1000).bytes.Bytes();
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (fd < 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return state.SkipWithError("no netlink socket");
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  char rx[8192];
  for (auto _ : state) {
    state.PauseTiming();
    if (sendto(fd, remove.data(), remove.size(), 0,
               reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
      state.SkipWithError("sendto failed");
      break;
    }
    while (recv(fd, rx, sizeof(rx), MSG_DONTWAIT) > 0) {
    }
    state.ResumeTiming();
    if (sendto(fd, create.data(), create.size(), 0,
               reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
      state.SkipWithError("sendto failed");
      break;
    }
    bool failed = false;
    for (;;) {  // drain: only errors come back
      const ssize_t n = recv(fd, rx, sizeof(rx), MSG_DONTWAIT);
      if (n <= 0) break;
      failed = true;
    }
    if (failed) {
      state.SkipWithError("the kernel refused the replayed batch");
      break;
    }
  }
  close(fd);
}

#define FOREIGN_SIZES Arg(0)->Arg(1000)->Arg(20000)->ArgName("foreign")
BENCHMARK(BM_ApplyFirst)->FOREIGN_SIZES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ApplyReapply)->FOREIGN_SIZES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NftFile)->FOREIGN_SIZES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawFloor)->FOREIGN_SIZES->Unit(benchmark::kMicrosecond);

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
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
