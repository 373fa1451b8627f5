// SPDX-License-Identifier: GPL-2.0-or-later
//
// SIGKILL in the middle of an apply, at every point where the kernel holds
// a state of its own (src/crash_point.h): after each routing entry added or
// removed, each table committed, the intent record written or cleared, the
// nftables batch sent. A child process applies B over A and is killed at
// the N-th point, for N = 1, 2, ... until it finishes. Each time:
//   - safe: the tables in force never mix A's and B's, and a firewall of a
//     policy that needs policy routing never runs without it;
//   - verify tells the truth: verify(P) passes only if the kernel holds
//     exactly P (tables and routing, compared with what a clean apply of P
//     leaves, read with nft / iptables-legacy-save / ip);
//   - the next apply converges to B.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "src/compile/compile.h"
#include "src/crash_point.h"
#include "src/routing.h"
#include "tests/testing/capture_state.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;

using State = ::meshcap::testing::CaptureState;

State Read(const std::string& backend) {
  return ::meshcap::testing::ReadCaptureState(backend);
}

std::unique_ptr<Engine> MakeEngine(const std::string& backend) {
  EngineOptions o;
  o.backend = backend;
  auto e = Engine::Create(o);
  EXPECT_THAT(e, IsOk());
  return e.ok() ? *std::move(e) : nullptr;
}

// The state a clean apply of `json` leaves, in a fresh namespace.
State Reference(const std::string& backend, const std::string& json) {
  ::meshcap::testing::ScopedNetns fresh;
  EXPECT_TRUE(fresh.ok());
  auto e = MakeEngine(backend);
  EXPECT_THAT(e->Apply(PolicyJson(json)), IsOk());
  return Read(backend);
}

int g_crash_at = 0;
int g_points = 0;
void KillAtN(const char*) {
  if (++g_points == g_crash_at) raise(SIGKILL);
}

struct Scenario {
  const char* name;
  const char* from;
  const char* to;
};

constexpr char kIstioInit[] =
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020", "EnableIPv6": true})";
constexpr char kTproxyDns[] =
    R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
        "OutboundIPRangesInclude": "*", "EnableIPv6": true,
        "RedirectDNS": true, "DNSServersV4": "198.51.100.53",
        "OutboundIPRangesExclude": "203.0.113.0/24",
        "OutboundPortsExclude": "22", "DropInvalid": true})";
constexpr char kAmbient[] =
    R"({"Profile": "ambient", "RedirectDNS": true, "EnableIPv6": true})";

class CrashTest
    : public ::testing::TestWithParam<std::tuple<const char*, Scenario>> {};

TEST_P(CrashTest, AKilledApplyLeavesASafeStateThatVerifyDescribesTruly) {
  const std::string backend = std::get<0>(GetParam());
  const Scenario sc = std::get<1>(GetParam());
  if (!::meshcap::testing::HaveProgram("ip")) GTEST_SKIP() << "no ip";
  const State ref_from = Reference(backend, sc.from);
  const State ref_to = Reference(backend, sc.to);
  const CapturePolicy from = PolicyJson(sc.from);
  const CapturePolicy to = PolicyJson(sc.to);

  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  auto engine = MakeEngine(backend);
  ASSERT_NE(engine, nullptr);
  // The routing each policy needs, and whether the kernel has it.
  const auto rules_from =
      internal::Compile(from, backend == "nftables" ? ir::Dialect::kNftables
                                                    : ir::Dialect::kIptables);
  const auto rules_to =
      internal::Compile(to, backend == "nftables" ? ir::Dialect::kNftables
                                                  : ir::Dialect::kIptables);
  auto has_routing_of = [](const ir::RuleSet& rules) {
    auto r = internal::Routing::Open();
    auto plan = r->Plan(&rules);
    return plan.ok() && plan->add.empty();
  };

  int crashes = 0;
  for (int n = 1; n < 200; ++n) {
    ASSERT_THAT(engine->Apply(from), IsOk());
    {
      const State got = Read(backend);
      ASSERT_TRUE(got == ref_from)
          << "could not set up " << sc.from << "\nrouting now:\n"
          << got.routing << "\nrouting then:\n"
          << ref_from.routing;
    }
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      g_crash_at = n;
      internal::SetCrashHookForTest(KillAtN);
      EngineOptions o;
      o.backend = backend;
      auto e = Engine::Create(o);
      if (!e.ok()) _exit(2);
      _exit((*e)->Apply(to).ok() ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "the apply failed at n=" << n;
      EXPECT_TRUE(Read(backend) == ref_to);
      break;  // n is past the last crash point
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ++crashes;
    const State now = Read(backend);

    // Safe: each table of ours is the old one's, the new one's, or empty,
    // and never some from each.
    bool from_in_force = false, to_in_force = false;
    std::set<std::string> names;
    for (const auto* m : {&now.tables, &ref_from.tables, &ref_to.tables}) {
      for (const auto& [t, _] : *m) names.insert(t);
    }
    for (const std::string& t : names) {
      auto text = [&](const State& s) {
        auto it = s.tables.find(t);
        return it == s.tables.end() ? std::string() : it->second;
      };
      const std::string have = text(now), a = text(ref_from), b = text(ref_to);
      if (have.empty() || a == b) continue;
      if (have == a) {
        from_in_force = true;
      } else if (have == b) {
        to_in_force = true;
      } else {
        ADD_FAILURE() << "n=" << n << ": " << t
                      << " holds neither policy's table:\n"
                      << have;
      }
    }
    EXPECT_FALSE(from_in_force && to_in_force)
        << "n=" << n << ": tables of both policies are in force";
    if (to_in_force && rules_to.routing.has_value()) {
      EXPECT_TRUE(has_routing_of(rules_to))
          << "n=" << n << ": the new firewall runs without its routing";
    }
    if (from_in_force && rules_from.routing.has_value()) {
      EXPECT_TRUE(has_routing_of(rules_from))
          << "n=" << n << ": the old firewall runs without its routing";
    }

    // Verify tells the truth: it passes only for exactly its policy.
    absl::StatusOr<VerifyReport> vf = engine->Verify(from);
    absl::StatusOr<VerifyReport> vt = engine->Verify(to);
    ASSERT_THAT(vf, IsOk());
    ASSERT_THAT(vt, IsOk());
    if (vf->matches()) {
      EXPECT_TRUE(now == ref_from) << "n=" << n;
    }
    if (vt->matches()) {
      EXPECT_TRUE(now == ref_to) << "n=" << n;
    }

    // The next apply converges.
    ASSERT_THAT(engine->Apply(to), IsOk()) << "n=" << n;
    EXPECT_TRUE(Read(backend) == ref_to) << "n=" << n;
    EXPECT_TRUE(engine->Verify(to)->matches()) << "n=" << n;
  }
  // Every scenario changes routing or commits tables: there were points.
  EXPECT_GT(crashes, 0);
  RecordProperty("crash_points", crashes);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, CrashTest,
    ::testing::Combine(::testing::Values("nftables", "iptables-legacy"),
                       ::testing::Values(Scenario{"redirect_to_tproxy",
                                                  kIstioInit, kTproxyDns},
                                         Scenario{"tproxy_to_redirect",
                                                  kTproxyDns, kIstioInit},
                                         Scenario{"sidecar_to_ambient",
                                                  kTproxyDns, kAmbient})),
    [](const auto& info) {
      return ::meshcap::testing::TestName(std::get<0>(info.param)) + "_" +
             std::get<1>(info.param).name;
    });

}  // namespace
}  // namespace meshcap
