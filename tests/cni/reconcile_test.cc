// SPDX-License-Identifier: GPL-2.0-or-later
// The node agent's reconcile (issue 21): `meshcap-cni install --watch`
// holds the capture of every pod the plugin captured. Pods added by the
// real plugin (ADD, as a runtime runs it) in namespaces of their own, on
// nftables and iptables-legacy; tampered captures healed under the per-pod
// lock; a DEL not undone; a namespace that went away forgotten; the
// metrics scraped over HTTP and parsed. Runs from a fresh network
// namespace playing the node (root; skips otherwise).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cni/cni_exec_util.h"
#include "tests/cni/cni_test_util.h"
#include "tests/testing/netns.h"

namespace meshcap::cni {
namespace {

using ::meshcap::cni::testing::Exec;
using ::meshcap::cni::testing::Ruleset;
using ::meshcap::cni::testing::TempDir;
using ::meshcap::testing::DetachedNetns;
using ::meshcap::testing::HaveProgram;
using ::meshcap::testing::ScopedNetns;
using ::meshcap::testing::ShellIn;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr char kPolicy[] =
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020"})";

constexpr char kFlannel[] =
    R"({"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}]})";

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// GET /metrics; "" when nothing answers.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  }
  close(fd);
  return out;
}

// The samples of a Prometheus text body: "name{labels}" -> value. Fails
// the test on a line that does not parse.
std::map<std::string, double> ParseMetrics(const std::string& response) {
  std::map<std::string, double> out;
  const size_t body = response.find("\r\n\r\n");
  EXPECT_NE(body, std::string::npos) << response;
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(response, HasSubstr("text/plain; version=0.0.4"));
  if (body == std::string::npos) return out;
  for (absl::string_view line :
       absl::StrSplit(response.substr(body + 4), '\n', absl::SkipEmpty())) {
    if (line[0] == '#') {
      EXPECT_TRUE(absl::StartsWith(line, "# HELP ") ||
                  absl::StartsWith(line, "# TYPE "))
          << line;
      continue;
    }
    const size_t space = line.rfind(' ');
    double v = 0;
    EXPECT_NE(space, absl::string_view::npos) << line;
    if (space == absl::string_view::npos) continue;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &v)) << line;
    out[std::string(line.substr(0, space))] = v;
  }
  return out;
}

class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<ScopedNetns>();
    if (!node_->ok()) GTEST_SKIP() << node_->error();
    if (!HaveProgram("nft") || !HaveProgram("iptables-legacy-save")) {
      GTEST_SKIP() << "no nft or iptables-legacy-save";
    }
    ASSERT_EQ(system("ip link set lo up"), 0);
    for (const char* d : {"net.d", "bin", "run", "state"}) {
      std::filesystem::create_directories(dir_.path() + "/" + d);
    }
    chmod(State().c_str(), 0700);
    std::ofstream(dir_.path() + "/net.d/10-flannel.conflist") << kFlannel;
    port_ = FreePort();
  }
  void TearDown() override {
    if (agent_ > 0) {
      kill(agent_, SIGKILL);
      waitpid(agent_, nullptr, 0);
    }
  }

  std::string State() const { return dir_.path() + "/state"; }
  std::string AgentLog() const { return Slurp(dir_.path() + "/agent.log"); }

  void StartAgent() {
    agent_ = fork();
    if (agent_ == 0) {
      const int fd = open((dir_.path() + "/agent.log").c_str(),
                          O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      setenv("MESHCAP_STATE_DIR", State().c_str(), 1);
      const std::string p = dir_.path();
      const std::vector<std::string> args = {
          MESHCAP_CNI,
          "install",
          "--watch",
          "--cni-conf-dir=" + p + "/net.d",
          "--cni-bin-dir=" + p + "/bin",
          "--cni-agent-run-dir=" + p + "/run",
          "--state-dir=" + State(),
          "--reconcile-interval=1s",
          "--metrics-address=127.0.0.1:" + std::to_string(port_)};
      std::vector<char*> argv;
      for (const std::string& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
      }
      argv.push_back(nullptr);
      execv(MESHCAP_CNI, argv.data());
      _exit(127);
    }
    ASSERT_TRUE(WaitFor([&] { return !Scrape(port_).empty(); },
                        std::chrono::seconds(10)))
        << AgentLog();
  }

  Exec Cni(const std::string& command, const std::string& cid,
           const DetachedNetns& pod, const std::string& backend,
           const std::string& policy = kPolicy) {
    const std::map<std::string, std::string> env = {
        {"CNI_COMMAND", command},     {"CNI_CONTAINERID", cid},
        {"CNI_NETNS", pod.path()},    {"CNI_IFNAME", "eth0"},
        {"CNI_PATH", "/usr/lib/cni"}, {"MESHCAP_STATE_DIR", State()}};
    const std::string config =
        std::string(R"({"cniVersion":"1.0.0","name":"pods",)") +
        R"("type":"meshcap-cni","podSelection":"all","backend":")" + backend +
        R"(","policy":)" + policy + R"(,"prevResult":)" +
        ::meshcap::cni::testing::kPrevResult + "}";
    return ::meshcap::cni::testing::RunPlugin(MESHCAP_CNI, env, config);
  }

  double Metric(const std::string& sample) {
    std::map<std::string, double> m = ParseMetrics(Scrape(port_));
    auto it = m.find(sample);
    return it == m.end() ? -1 : it->second;
  }

  std::unique_ptr<ScopedNetns> node_;
  TempDir dir_;
  int port_ = 0;
  pid_t agent_ = -1;
};

bool Captured(const DetachedNetns& pod, const std::string& backend) {
  const std::string r = Ruleset(pod.fd(), backend);
  return backend == "nftables"
             ? r.find("redirect to :15001") != std::string::npos
             : r.find("-A ISTIO_OUTPUT -j ISTIO_REDIRECT") != std::string::npos;
}

TEST_F(ReconcileTest, HoldsEveryCapturedPodAndForgetsThoseGone) {
  StartAgent();
  auto web = std::make_unique<DetachedNetns>();
  auto api = std::make_unique<DetachedNetns>();
  auto old = std::make_unique<DetachedNetns>();
  ASSERT_TRUE(web->ok() && api->ok() && old->ok());
  for (auto [cid, pod, backend] :
       {std::tuple{"web", web.get(), "nftables"},
        std::tuple{"api", api.get(), "iptables-legacy"},
        std::tuple{"old", old.get(), "nftables"}}) {
    Exec r = Cni("ADD", cid, *pod, backend);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_TRUE(Captured(*pod, backend)) << cid;
  }
  ASSERT_TRUE(WaitFor([&] { return Metric("meshcap_cni_pods_captured") == 3; },
                      std::chrono::seconds(10)))
      << AgentLog();

  // Tampered: healed, under the plugin's lock, and said so.
  Clock::time_point t0 = Clock::now();
  ASSERT_EQ(
      ShellIn(web->fd(), "nft delete table inet istio-proxy-nat").exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Captured(*web, "nftables"); },
                      std::chrono::seconds(5)))
      << AgentLog();
  printf("nftables pod healed %lld ms after the tampering\n",
         static_cast<long long>(
             std::chrono::duration_cast<std::chrono::milliseconds>(
                 Clock::now() - t0)
                 .count()));
  t0 = Clock::now();
  ASSERT_EQ(
      ShellIn(api->fd(), "iptables-legacy -t nat -F ISTIO_OUTPUT").exit_code,
      0);
  ASSERT_TRUE(WaitFor([&] { return Captured(*api, "iptables-legacy"); },
                      std::chrono::seconds(5)))
      << AgentLog();
  printf("iptables-legacy pod healed %lld ms after the tampering\n",
         static_cast<long long>(
             std::chrono::duration_cast<std::chrono::milliseconds>(
                 Clock::now() - t0)
                 .count()));
  EXPECT_THAT(AgentLog(), HasSubstr("healed in"));
  EXPECT_TRUE(
      WaitFor([&] { return Metric("meshcap_cni_drifts_healed_total") >= 2; },
              std::chrono::seconds(5)));

  // A DEL is not undone: the capture stays removed, the watch ends.
  Exec r = Cni("DEL", "api", *api, "iptables-legacy");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(Captured(*api, "iptables-legacy"));
  EXPECT_TRUE(WaitFor([&] { return Metric("meshcap_cni_pods_captured") == 2; },
                      std::chrono::seconds(5)))
      << AgentLog();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_FALSE(Captured(*api, "iptables-legacy")) << "the DEL was undone";

  // A namespace that went away without a DEL: its record is forgotten.
  old.reset();
  EXPECT_TRUE(WaitFor(
      [&] { return Metric("meshcap_cni_records_forgotten_total") >= 1; },
      std::chrono::seconds(10)))
      << AgentLog();
  EXPECT_THAT(AgentLog(), HasSubstr("forgot container 'old'"));
  EXPECT_FALSE(std::filesystem::exists(State() + "/cni/pods/old@eth0.json"));

  // The metrics, parsed.
  std::map<std::string, double> m = ParseMetrics(Scrape(port_));
  EXPECT_EQ(m["meshcap_cni_pods_captured"], 1);
  EXPECT_EQ(m["meshcap_cni_command_duration_seconds_count{verb=\"ADD\"}"], 3);
  EXPECT_EQ(m["meshcap_cni_command_duration_seconds_count{verb=\"DEL\"}"], 1);
  EXPECT_EQ(m["meshcap_cni_command_duration_seconds_bucket{verb=\"ADD\",le=\"+"
              "Inf\"}"],
            3);
  EXPECT_GE(m["meshcap_cni_heal_duration_seconds_count"], 2);
  EXPECT_EQ(m["meshcap_cni_heal_failures_total"], 0);
  EXPECT_GE(m["meshcap_cni_reconcile_passes_total"], 1);
  EXPECT_GE(m["meshcap_cni_seconds_since_last_full_pass"], 0);
  EXPECT_LT(m["meshcap_cni_seconds_since_last_full_pass"], 5);

  // A SIGKILLed agent loses no capture; the next one adopts the pods.
  ASSERT_EQ(kill(agent_, SIGKILL), 0);
  waitpid(agent_, nullptr, 0);
  EXPECT_TRUE(Captured(*web, "nftables"));
  StartAgent();
  ASSERT_TRUE(WaitFor([&] { return Metric("meshcap_cni_pods_captured") == 1; },
                      std::chrono::seconds(10)))
      << AgentLog();
  ASSERT_EQ(
      ShellIn(web->fd(), "nft flush chain inet istio-proxy-nat istio-output")
          .exit_code,
      0);
  EXPECT_TRUE(WaitFor([&] { return Captured(*web, "nftables"); },
                      std::chrono::seconds(5)))
      << AgentLog();

  // SIGTERM: the agent goes, the captures stay.
  ASSERT_EQ(kill(agent_, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(agent_, &status, 0), agent_);
  agent_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << AgentLog();
  EXPECT_TRUE(Captured(*web, "nftables"));
}

TEST_F(ReconcileTest, APolicyTooBigToRecordIsAppliedButCountedUnhealable) {
  StartAgent();
  // About 90 KB of excluded ranges: more than a record holds.
  std::string ranges;
  for (int i = 1; i <= 4000; ++i) {
    char buf[48];
    snprintf(buf, sizeof(buf), "%s2001:db8::%x/128", i == 1 ? "" : ",", i);
    ranges += buf;
  }
  const std::string policy =
      R"({"OutboundIPRangesInclude": "*", "EnableIPv6": true,
          "OutboundIPRangesExclude": ")" +
      ranges + R"("})";
  DetachedNetns pod;
  ASSERT_TRUE(pod.ok());
  Exec r = Cni("ADD", "big", pod, "nftables", policy);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Captured(pod, "nftables"));
  const std::string record = Slurp(State() + "/cni/pods/big@eth0.json");
  EXPECT_THAT(record, HasSubstr(R"("policyJson":"")"));
  EXPECT_TRUE(
      WaitFor([&] { return Metric("meshcap_cni_pods_unhealable") == 1; },
              std::chrono::seconds(10)))
      << AgentLog();
  EXPECT_THAT(AgentLog(), HasSubstr("its record holds no policy"));
  EXPECT_EQ(Metric("meshcap_cni_pods_captured"), 0);
}

}  // namespace
}  // namespace meshcap::cni
