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
//
// KillTest does the same to the whole `meshcap apply` process at random
// moments: MESHCAP_KILL_TRIALS trials per backend (default 40; the
// reliability campaign in docs/guarantees.md runs 1,000), alternating B over A
// and A over B, and prints what the kills found.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

struct Side {
  const State& state;        // what a clean apply leaves
  const ir::RuleSet* rules;  // its rule set (for the routing it needs)
};

// Whether the kernel has all the routing `rules` needs.
bool HasRoutingOf(const ir::RuleSet& rules) {
  auto r = internal::Routing::Open();
  if (!r.ok()) return false;
  auto plan = r->Plan(&rules);
  return plan.ok() && plan->add.empty();
}

// What a state left by a killed apply from `a` to `b` is.
enum class Found { kOld, kNew, kSubset, kUnsafe };

// The safety property: each table of ours is the old one's, the new one's,
// or empty, never some from each, and a firewall in force has the routing
// it needs. Adds a failure naming `where` for every violation.
Found CheckSafe(const State& now, Side from, Side to,
                const std::string& where) {
  if (now == from.state) return Found::kOld;
  if (now == to.state) return Found::kNew;
  bool from_in_force = false, to_in_force = false, unsafe = false;
  std::set<std::string> names;
  for (const auto* m : {&now.tables, &from.state.tables, &to.state.tables}) {
    for (const auto& [t, _] : *m) names.insert(t);
  }
  for (const std::string& t : names) {
    auto text = [&](const State& s) {
      auto it = s.tables.find(t);
      return it == s.tables.end() ? std::string() : it->second;
    };
    const std::string have = text(now), a = text(from.state),
                      b = text(to.state);
    if (have.empty() || a == b) continue;
    if (have == a) {
      from_in_force = true;
    } else if (have == b) {
      to_in_force = true;
    } else {
      ADD_FAILURE() << where << ": " << t << " holds neither policy's table:\n"
                    << have;
      unsafe = true;
    }
  }
  if (from_in_force && to_in_force) {
    ADD_FAILURE() << where << ": tables of both policies are in force";
    unsafe = true;
  }
  if (to_in_force && to.rules->routing.has_value() &&
      !HasRoutingOf(*to.rules)) {
    ADD_FAILURE() << where << ": the new firewall runs without its routing";
    unsafe = true;
  }
  if (from_in_force && from.rules->routing.has_value() &&
      !HasRoutingOf(*from.rules)) {
    ADD_FAILURE() << where << ": the old firewall runs without its routing";
    unsafe = true;
  }
  return unsafe ? Found::kUnsafe : Found::kSubset;
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
  // The routing each policy needs.
  const auto rules_from =
      internal::Compile(from, backend == "nftables" ? ir::Dialect::kNftables
                                                    : ir::Dialect::kIptables);
  const auto rules_to =
      internal::Compile(to, backend == "nftables" ? ir::Dialect::kNftables
                                                  : ir::Dialect::kIptables);

  int crashes = 0;
  bool finished = false;
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
      finished = true;
      break;  // n is past the last crash point
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ++crashes;
    const State now = Read(backend);

    CheckSafe(now, {ref_from, &rules_from}, {ref_to, &rules_to},
              absl::StrCat("n=", n));

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
  // The apply ran to its end once: every point was reached and killed.
  EXPECT_TRUE(finished) << "more than 199 crash points";
  // Every scenario changes routing or commits tables: there were points.
  EXPECT_GT(crashes, 0);
  RecordProperty("crash_points", crashes);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, CrashTest,
    ::testing::Combine(
        ::testing::Values("nftables", "iptables-legacy", "iptables-nft"),
        ::testing::Values(
            Scenario{"redirect_to_tproxy", kIstioInit, kTproxyDns},
            Scenario{"tproxy_to_redirect", kTproxyDns, kIstioInit},
            Scenario{"sidecar_to_ambient", kTproxyDns, kAmbient})),
    [](const auto& info) {
      return ::meshcap::testing::TestName(std::get<0>(info.param)) + "_" +
             std::get<1>(info.param).name;
    });

// --- The whole process, killed at random moments

const std::string kMeshcap = MESHCAP_CLI;

int KillTrials() {
  const char* v = getenv("MESHCAP_KILL_TRIALS");
  return v != nullptr && atoi(v) > 0 ? atoi(v) : 40;
}

// Runs `meshcap apply` of `policy_file` and SIGKILLs it after `delay`;
// returns the wait status.
int ApplyAndKill(const std::string& backend, const std::string& policy_file,
                 std::chrono::nanoseconds delay) {
  const std::string backend_flag = "--backend=" + backend;
  const std::string policy_flag = "--policy=" + policy_file;
  const pid_t child = fork();
  if (child == 0) {
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    execl(kMeshcap.c_str(), kMeshcap.c_str(), "apply", backend_flag.c_str(),
          policy_flag.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for `delay` or the child's exit, whichever comes first.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    timespec ts{static_cast<time_t>(delay.count() / 1000000000),
                static_cast<long>(delay.count() % 1000000000)};
    ppoll(&p, 1, &ts, nullptr);
    close(pidfd);
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  return status;
}

class KillTest : public ::testing::TestWithParam<const char*> {};

TEST_P(KillTest, ARandomlyKilledCommandLeavesASafeStateThatVerifyDescribes) {
  const std::string backend = GetParam();
  if (!::meshcap::testing::HaveProgram("ip")) GTEST_SKIP() << "no ip";
  char tmpl[] = "/tmp/meshcap-kill-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string files[2] = {dir + "/A.json", dir + "/B.json"};
  std::ofstream(files[0]) << kIstioInit;
  std::ofstream(files[1]) << kTproxyDns;
  const State refs[2] = {Reference(backend, kIstioInit),
                         Reference(backend, kTproxyDns)};
  const ir::Dialect dialect =
      backend == "nftables" ? ir::Dialect::kNftables : ir::Dialect::kIptables;
  const CapturePolicy policies[2] = {PolicyJson(kIstioInit),
                                     PolicyJson(kTproxyDns)};
  const ir::RuleSet rules[2] = {internal::Compile(policies[0], dialect),
                                internal::Compile(policies[1], dialect)};

  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  auto engine = MakeEngine(backend);
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(policies[0]), IsOk());

  // How long a whole apply of one over the other takes, unkilled.
  std::vector<double> took;
  for (int i = 0; i < 6; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const int st =
        ApplyAndKill(backend, files[(i + 1) % 2], std::chrono::seconds(5));
    took.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
    ASSERT_TRUE(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
  }
  // Six applies alternate: the kernel holds A again.
  std::sort(took.begin(), took.end());
  const double whole = took[took.size() / 2];

  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  const int trials = KillTrials();
  int finished = 0, old_state = 0, new_state = 0, subset = 0, unsafe = 0;
  int false_verify = 0, converged = 0;
  int at = 0;  // the policy in force: 0 (A) or 1 (B)
  for (int trial = 0; trial < trials; ++trial) {
    const int to = 1 - at;
    // Half the kills anywhere in the process's life, half in its first
    // 2 ms, where start-up ends and the apply runs.
    const double span = trial % 2 == 0 ? whole * 1.25 : std::min(whole, 2e-3);
    const auto delay = std::chrono::nanoseconds(static_cast<int64_t>(
        std::uniform_real_distribution<double>(0, span)(rng) * 1e9));
    const int st = ApplyAndKill(backend, files[to], delay);
    const std::string where =
        absl::StrCat(backend, " trial ", trial, " (kill after ",
                     delay.count() / 1000, " us)");
    if (WIFEXITED(st)) {
      ASSERT_EQ(WEXITSTATUS(st), 0) << where << ": the apply failed";
      ++finished;
    } else {
      ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << where;
    }
    const State now = Read(backend);
    switch (
        CheckSafe(now, {refs[at], &rules[at]}, {refs[to], &rules[to]}, where)) {
      case Found::kOld:
        ++old_state;
        break;
      case Found::kNew:
        ++new_state;
        break;
      case Found::kSubset:
        ++subset;
        break;
      case Found::kUnsafe:
        ++unsafe;
        break;
    }
    // Verify passes only for exactly its policy.
    for (int p : {0, 1}) {
      absl::StatusOr<VerifyReport> v = engine->Verify(policies[p]);
      ASSERT_THAT(v, IsOk()) << where;
      if (v->matches() && !(now == refs[p])) {
        ++false_verify;
        ADD_FAILURE() << where << ": verify passes a state that is not its "
                      << "policy's:\n"
                      << ToString(now);
      }
    }
    // The next apply converges.
    ASSERT_THAT(engine->Apply(policies[to]), IsOk()) << where;
    const bool ok =
        Read(backend) == refs[to] && engine->Verify(policies[to])->matches();
    EXPECT_TRUE(ok) << where << ": the next apply did not converge";
    converged += ok;
    at = to;
  }
  ::meshcap::testing::Shell("rm -rf " + dir);
  std::cout << "kill campaign " << backend << ": " << trials
            << " trials (a whole apply takes " << static_cast<int>(whole * 1e6)
            << " us): " << old_state << " killed before any change, " << subset
            << " killed mid-apply (a safe state between the two), " << new_state
            << " with the new policy in force (" << finished
            << " of them finished); " << unsafe << " unsafe, " << false_verify
            << " false verify passes, " << converged << "/" << trials
            << " converged\n";
  RecordProperty("trials", trials);
  RecordProperty("mid_apply", subset);
  RecordProperty("unsafe", unsafe);
  RecordProperty("false_verify", false_verify);
  RecordProperty("converged", converged);
}

INSTANTIATE_TEST_SUITE_P(Backends, KillTest,
                         ::testing::Values("nftables", "iptables-legacy",
                                           "iptables-nft"),
                         ::meshcap::testing::BackendName);

}  // namespace
}  // namespace meshcap
