// SPDX-License-Identifier: GPL-2.0-or-later
// Engine::Watch and `meshcap watch` (issue 21): each kind of tampering, on
// each backend, is healed, reported once with what drifted, and verified
// whole again; the watcher's own faults (SIGKILL, a second watcher, a
// policy file made invalid) lose no capture. Each test in a fresh network
// namespace (root; skips otherwise).

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// TPROXY and IPv6: policy routing (fwmark rules, table 133) and `::6`.
constexpr char kPolicy[] =
    R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
        "OutboundIPRangesInclude": "*", "EnableIPv6": true})";

struct Tamper {
  const char* name;
  // Per backend: the shell command that does it.
  const char* nftables;
  const char* iptables_nft;
  const char* iptables_legacy;
  // What the heal's report must name.
  const char* drifted;
};

const Tamper kTampers[] = {
    {"deleted_table", "nft delete table inet istio-proxy-nat",
     "nft delete table ip nat",
     "iptables-legacy -t nat -F && iptables-legacy -t nat -X", "missing"},
    {"flushed_chain", "nft flush chain inet istio-proxy-nat istio-output",
     "iptables-nft -t nat -F ISTIO_OUTPUT",
     "iptables-legacy -t nat -F ISTIO_OUTPUT", "ISTIO_OUTPUT"},
    {"deleted_rule",
     "nft delete rule inet istio-proxy-nat istio-output handle $(nft -a list "
     "chain inet istio-proxy-nat istio-output | sed -n 's/.*counter.*# "
     "handle \\([0-9]*\\)$/\\1/p' | head -1)",
     "iptables-nft -t nat -D ISTIO_OUTPUT 1",
     "iptables-legacy -t nat -D ISTIO_OUTPUT 1", "rule 1"},
    {"deleted_jump",
     "nft delete rule inet istio-proxy-nat output handle $(nft -a list "
     "chain inet istio-proxy-nat output | sed -n 's/.*jump istio-output.*# "
     "handle \\([0-9]*\\)$/\\1/p' | head -1)",
     "iptables-nft -t nat -D OUTPUT -j ISTIO_OUTPUT",
     "iptables-legacy -t nat -D OUTPUT -j ISTIO_OUTPUT", "OUTPUT"},
    {"deleted_fwmark_rule", "ip rule del fwmark 0x539 lookup 133",
     "ip rule del fwmark 0x539 lookup 133",
     "ip rule del fwmark 0x539 lookup 133", "routing"},
    {"removed_v6_loopback_address", "ip -6 addr del ::6/128 dev lo",
     "ip -6 addr del ::6/128 dev lo", "ip -6 addr del ::6/128 dev lo", "::6"},
};

struct Case {
  std::string backend;
  Tamper tamper;
};

std::string CommandFor(const Case& c) {
  if (c.backend == "nftables") return c.tamper.nftables;
  if (c.backend == "iptables-nft") return c.tamper.iptables_nft;
  return c.tamper.iptables_legacy;
}

std::string TempDir() {
  char t[] = "/tmp/meshcap-watch-XXXXXX";
  return mkdtemp(t);
}

// The backends spell chains differently (ISTIO_OUTPUT, istio-output).
std::string Norm(std::string s) {
  for (char& ch : s) ch = ch == '_' ? '-' : static_cast<char>(tolower(ch));
  return s;
}

class WatchHealTest : public ::testing::TestWithParam<Case> {};

TEST_P(WatchHealTest, HealsAndSaysWhatDrifted) {
  const Case& c = GetParam();
  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  ASSERT_EQ(system("ip link set lo up"), 0);
  const std::string state = TempDir();
  EngineOptions o;
  o.backend = c.backend;
  o.state_dir = state;
  auto engine = Engine::Create(o);
  ASSERT_THAT(engine, IsOk());
  const CapturePolicy policy = PolicyJson(kPolicy);
  // An Engine is not thread-safe: while one watches, another looks.
  auto looker = Engine::Create(o);
  ASSERT_THAT(looker, IsOk());

  std::mutex mu;
  std::vector<WatchEvent> events;
  absl::Status result;
  WatchOptions wo;
  wo.interval = std::chrono::milliseconds(1000);
  std::thread watcher([&] {
    result = (*engine)->Watch(policy, wo, [&](const WatchEvent& e) {
      std::lock_guard<std::mutex> l(mu);
      events.push_back(e);
    });
  });
  // However the test ends, the watch is stopped and joined.
  struct Joiner {
    Engine& engine;
    std::thread& thread;
    ~Joiner() {
      engine.StopWatch();
      if (thread.joinable()) thread.join();
    }
  } joiner{**engine, watcher};
  auto count = [&](WatchEvent::Kind k) {
    std::lock_guard<std::mutex> l(mu);
    int n = 0;
    for (const WatchEvent& e : events) n += e.kind == k ? 1 : 0;
    return n;
  };
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (count(WatchEvent::Kind::kApplied) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(count(WatchEvent::Kind::kApplied), 1);
  ASSERT_THAT((*looker)->Verify(policy), IsOk());

  const std::string cmd = CommandFor(c);
  const Clock::time_point tampered = Clock::now();
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  // Verified whole again: measured from the tampering.
  std::optional<std::chrono::milliseconds> healed;
  while (Clock::now() - tampered < std::chrono::seconds(5)) {
    if (count(WatchEvent::Kind::kHealed) > 0) {
      absl::StatusOr<VerifyReport> v = (*looker)->Verify(policy);
      if (v.ok() && v->matches()) {
        healed = std::chrono::duration_cast<std::chrono::milliseconds>(
            Clock::now() - tampered);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  (*engine)->StopWatch();
  watcher.join();
  EXPECT_THAT(result, IsOk());
  ASSERT_TRUE(healed.has_value()) << "not healed within 5 s: " << cmd;
  std::printf("%s %s: healed %lld ms after the tampering\n", c.backend.c_str(),
              c.tamper.name, static_cast<long long>(healed->count()));
  std::lock_guard<std::mutex> l(mu);
  int heals = 0;
  for (const WatchEvent& e : events) {
    if (e.kind != WatchEvent::Kind::kHealed) continue;
    ++heals;
    EXPECT_THAT(Norm(e.message), HasSubstr(Norm(c.tamper.drifted)));
    EXPECT_THAT(e.message, HasSubstr("healed in"));
    EXPECT_FALSE(e.drifted.empty());
    EXPECT_FALSE(e.changes.empty());
  }
  EXPECT_EQ(heals, 1) << "one tampering, one heal";
  for (const WatchEvent& e : events) {
    EXPECT_NE(e.kind, WatchEvent::Kind::kHealFailed) << e.message;
  }
  // Stopped: the capture stays.
  EXPECT_THAT((*engine)->Verify(policy), IsOk());
  absl::StatusOr<VerifyReport> v = (*engine)->Verify(policy);
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->matches());
  EXPECT_TRUE(std::filesystem::is_empty(state + "/watch"))
      << "the watch's lock file stays behind";
  std::filesystem::remove_all(state);
}

std::vector<Case> Cases() {
  std::vector<Case> out;
  for (const std::string& b : AvailableBackends()) {
    for (const Tamper& t : kTampers) out.push_back({b, t});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, WatchHealTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return ::meshcap::testing::TestName(
                               i.param.backend + "_" + i.param.tamper.name);
                         });

TEST(WatchTest, StopBeforeWatchReturnsAtOnceAndOneWatchAtATime) {
  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  const std::string state = TempDir();
  EngineOptions o;
  o.backend = "nftables";
  o.state_dir = state;
  auto engine = Engine::Create(o);
  ASSERT_THAT(engine, IsOk());
  (*engine)->StopWatch();
  EXPECT_THAT((*engine)->Watch(PolicyJson("{}")), IsOk());
  std::thread t([&] { (void)(*engine)->Watch(PolicyJson("{}")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ((*engine)->Watch(PolicyJson("{}")).code(),
            absl::StatusCode::kFailedPrecondition);
  (*engine)->StopWatch();
  t.join();
  std::filesystem::remove_all(state);
}

// ---- the tool ----------------------------------------------------------

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

pid_t SpawnWatch(const std::vector<std::string>& args, const std::string& log,
                 const std::string& state) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 2);
    dup2(fd, 1);
    setenv("MESHCAP_STATE_DIR", state.c_str(), 1);
    std::vector<char*> argv = {const_cast<char*>(MESHCAP_CLI),
                               const_cast<char*>("watch")};
    for (const std::string& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(MESHCAP_CLI, argv.data());
    _exit(127);
  }
  return pid;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int Verify(const std::string& policy_file) {
  const std::string cmd = std::string(MESHCAP_CLI) +
                          " verify --backend=nftables --policy=" + policy_file +
                          " >/dev/null 2>&1";
  return WEXITSTATUS(system(cmd.c_str()));
}

class WatchToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    netns_ = std::make_unique<::meshcap::testing::ScopedNetns>();
    if (!netns_->ok()) GTEST_SKIP() << netns_->error();
    dir_ = TempDir();
    state_ = dir_ + "/state";
    mkdir(state_.c_str(), 0700);
    policy_ = dir_ + "/policy.json";
    std::ofstream(policy_) << kPolicy;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::vector<std::string> Args() const {
    return {"--backend=nftables", "--policy=" + policy_};
  }
  std::unique_ptr<::meshcap::testing::ScopedNetns> netns_;
  std::string dir_, state_, policy_;
};

TEST_F(WatchToolTest, SigkilledWatcherLosesNothingAndAnotherAdoptsIt) {
  const std::string log1 = dir_ + "/1.log", log2 = dir_ + "/2.log";
  const pid_t first = SpawnWatch(Args(), log1, state_);
  ASSERT_TRUE(
      WaitFor([&] { return Slurp(log1).find("watching") != std::string::npos; },
              std::chrono::seconds(10)))
      << Slurp(log1);
  // A second watcher of the same namespace waits, and says so.
  const pid_t second = SpawnWatch(Args(), log2, state_);
  ASSERT_TRUE(WaitFor(
      [&] { return Slurp(log2).find("another watcher") != std::string::npos; },
      std::chrono::seconds(10)))
      << Slurp(log2);
  EXPECT_THAT(Slurp(log2), HasSubstr(std::to_string(first)));
  EXPECT_THAT(Slurp(log2), ::testing::Not(HasSubstr("applied")));
  ASSERT_EQ(kill(first, SIGKILL), 0);
  waitpid(first, nullptr, 0);
  EXPECT_EQ(Verify(policy_), 0) << "a SIGKILLed watcher loses no capture";
  // The second adopts the namespace: it finds the capture in place.
  ASSERT_TRUE(WaitFor(
      [&] { return Slurp(log2).find("already in place") != std::string::npos; },
      std::chrono::seconds(10)))
      << Slurp(log2);
  ASSERT_EQ(system("nft delete table inet istio-proxy-nat"), 0);
  ASSERT_TRUE(WaitFor(
      [&] { return Slurp(log2).find("healed in") != std::string::npos; },
      std::chrono::seconds(5)))
      << Slurp(log2);
  EXPECT_TRUE(
      WaitFor([&] { return Verify(policy_) == 0; }, std::chrono::seconds(5)));
  ASSERT_EQ(kill(second, SIGTERM), 0);
  int status = 0;
  waitpid(second, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(Verify(policy_), 0) << "SIGTERM leaves the capture in place";
}

TEST_F(WatchToolTest, SighupRereadsThePolicyAndKeepsTheOldOneWhenInvalid) {
  const std::string log = dir_ + "/w.log";
  const pid_t pid = SpawnWatch(Args(), log, state_);
  ASSERT_TRUE(
      WaitFor([&] { return Slurp(log).find("watching") != std::string::npos; },
              std::chrono::seconds(10)))
      << Slurp(log);
  // Made invalid: logged, the old capture kept and still healed.
  std::ofstream(policy_) << R"({"InboundInterceptionMode": "TPROXXY"})";
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  ASSERT_TRUE(
      WaitFor([&] { return Slurp(log).find("not valid") != std::string::npos; },
              std::chrono::seconds(5)))
      << Slurp(log);
  EXPECT_THAT(Slurp(log), HasSubstr("TPROXXY"));
  ASSERT_EQ(system("nft flush chain inet istio-proxy-nat istio-output"), 0);
  ASSERT_TRUE(
      WaitFor([&] { return Slurp(log).find("healed in") != std::string::npos; },
              std::chrono::seconds(5)))
      << Slurp(log);
  const std::string old_policy = dir_ + "/old.json";
  std::ofstream(old_policy) << kPolicy;
  EXPECT_TRUE(WaitFor([&] { return Verify(old_policy) == 0; },
                      std::chrono::seconds(5)));
  // Made valid again, and different: applied.
  constexpr char kNew[] =
      R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*"})";
  std::ofstream(policy_) << kNew;
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  EXPECT_TRUE(
      WaitFor([&] { return Verify(policy_) == 0; }, std::chrono::seconds(5)))
      << Slurp(log);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_THAT(Slurp(log), HasSubstr("policy re-read"));
}

TEST_F(WatchToolTest, BadFlagsExitTwoAndChangeNothing) {
  const std::string cmd = std::string(MESHCAP_CLI) +
                          " watch --backend=nftables --interval=0s "
                          "--policy=" +
                          policy_ + " 2>" + dir_ + "/err";
  EXPECT_EQ(WEXITSTATUS(system(cmd.c_str())), 2);
  EXPECT_THAT(Slurp(dir_ + "/err"), HasSubstr("--interval"));
  EXPECT_NE(Verify(policy_), 0) << "nothing was applied";
}

}  // namespace
}  // namespace meshcap
