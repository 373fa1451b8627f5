// SPDX-License-Identifier: GPL-2.0-or-later
//
// The meshcap-cni binary as a runtime runs it: the CNI_* variables, the
// configuration on stdin, the result or the error JSON on stdout. Each
// kernel test runs from a fresh network namespace (playing the node)
// against another fresh one (the pod), with its own state directory, and
// skips when it cannot make them (root needed).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cni/cni_exec_util.h"
#include "tests/cni/cni_test_util.h"
#include "tests/testing/netns.h"

namespace meshcap::cni {
namespace {

using ::meshcap::cni::testing::StateFiles;
using ::meshcap::cni::testing::TempDir;
using ::meshcap::cni::testing::Tree;
using ::meshcap::testing::DetachedNetns;
using ::meshcap::testing::HaveProgram;
using ::meshcap::testing::ScopedNetns;
using ::meshcap::testing::ShellIn;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const char kPlugin[] = MESHCAP_CNI;

using ::meshcap::cni::testing::Exec;
using ::meshcap::cni::testing::kPrevResult;
using ::meshcap::cni::testing::Ruleset;

Exec RunCni(const std::map<std::string, std::string>& env,
            const std::string& input, bool drop_caps = false) {
  return ::meshcap::cni::testing::RunPlugin(kPlugin, env, input, drop_caps);
}

constexpr char kSidecarPolicy[] =
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020", "EnableIPv6": true})";

// --- Without a kernel: VERSION and the errors
// ------------------------------------

TEST(CniExecTest, VersionEchoesTheRequestAndListsTheVersions) {
  Exec r = RunCni({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion":"1.0.0"})");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
            "[\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n");
}

TEST(CniExecTest, WithoutACommandItSaysWhatItIs) {
  Exec r = RunCni({}, "");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("CNI protocol versions supported: 0.4.0 1.0.0 "
                               "1.1.0"));
}

struct ErrorCase {
  const char* name;
  std::map<std::string, std::string> env;
  std::string config;
  int code;
  std::string cni_version;
  std::vector<std::string> msg_has;
};

std::map<std::string, std::string> AddEnv(const std::string& netns) {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "c1"},
          {"CNI_NETNS", netns},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/usr/lib/cni"}};
}

// ADD of pod shop/web-1, as containerd runs it.
std::map<std::string, std::string> K8sAddEnv(const std::string& netns) {
  std::map<std::string, std::string> env = AddEnv(netns);
  env["CNI_ARGS"] = "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1;IgnoreUnknown=1";
  return env;
}

std::string Config(const std::string& extra,
                   const std::string& version = "1.0.0") {
  return R"({"cniVersion":")" + version +
         R"(","name":"pods","type":"meshcap-cni")" +
         (extra.empty() ? "" : "," + extra) + "}";
}

class CniErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(CniErrorTest, PrintsTheErrorJsonAndExitsOne) {
  const ErrorCase& c = GetParam();
  TempDir state;
  std::map<std::string, std::string> env = c.env;
  env["MESHCAP_STATE_DIR"] = state.path();
  Exec r = RunCni(env, c.config);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  ASSERT_EQ(r.out.back(), '\n');
  nlohmann::json e = r.json();
  ASSERT_TRUE(e.is_object()) << r.out;
  EXPECT_EQ(e["code"], c.code) << r.out;
  EXPECT_EQ(e["cniVersion"], c.cni_version) << r.out;
  for (const std::string& s : c.msg_has) {
    EXPECT_THAT(e["msg"].get<std::string>(), HasSubstr(s)) << r.out;
  }
  // Nothing kept for an ADD that failed this early.
  EXPECT_THAT(StateFiles(state.path()), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CniErrorTest,
    ::testing::Values(
        ErrorCase{"bad_json",
                  AddEnv("/nonexistent"),
                  "{\"cniVersion\":",
                  6,
                  "1.1.0",
                  {"not valid JSON"}},
        ErrorCase{"unknown_key",
                  AddEnv("/nonexistent"),
                  Config(R"("excludeNamespace":["kube-system"])"),
                  2,
                  "1.0.0",
                  {"'excludeNamespace'", "[\"kube-system\"]"}},
        ErrorCase{"unknown_policy_key",
                  AddEnv("/nonexistent"),
                  Config(R"("policy":{"ProxyPrt":"1"})"),
                  2,
                  "1.0.0",
                  {"'policy.ProxyPrt'", "\"1\""}},
        ErrorCase{"bad_policy_value",
                  AddEnv("/nonexistent"),
                  Config(R"("podSelection":"all",)"
                         R"("policy":{"InboundPortsExclude":"15090,99999"})"),
                  7,
                  "1.0.0",
                  {"'InboundPortsExclude'", "99999"}},
        ErrorCase{"bad_profile",
                  AddEnv("/nonexistent"),
                  Config(R"("profile":"waypoint")"),
                  7,
                  "1.0.0",
                  {"'profile'", "\"waypoint\""}},
        ErrorCase{"unsupported_version",
                  AddEnv("/nonexistent"),
                  Config("", "0.3.1"),
                  1,
                  "1.1.0",
                  {"incompatible CNI versions"}},
        ErrorCase{"status_on_one_zero",
                  {{"CNI_COMMAND", "STATUS"}},
                  Config(""),
                  1,
                  "1.0.0",
                  {"does not allow STATUS"}},
        ErrorCase{"missing_netns",
                  AddEnv("/run/netns/meshcap-cni-test-nope"),
                  Config(R"("podSelection":"all")"),
                  4,
                  "1.0.0",
                  {"CNI_NETNS", "/run/netns/meshcap-cni-test-nope",
                   "no such network namespace"}},
        ErrorCase{"netns_not_a_namespace",
                  AddEnv("/proc/self/status"),
                  Config(R"("podSelection":"all")"),
                  4,
                  "1.0.0",
                  {"CNI_NETNS", "not a network namespace"}},
        ErrorCase{"pod_unknown",
                  K8sAddEnv("/nonexistent"),
                  Config(""),
                  105,
                  "1.0.0",
                  {"cannot tell whether Istio injected pod 'shop/web-1'"}},
        ErrorCase{"kubeconfig_missing",
                  K8sAddEnv("/nonexistent"),
                  Config(R"("cni_agent_run_dir":"/nonexistent/istio-cni")"),
                  105,
                  "1.0.0",
                  {"cannot read pod 'shop/web-1'", "kubeconfig"}},
        ErrorCase{
            "bad_annotation",
            K8sAddEnv("/nonexistent"),
            Config(R"("runtimeConfig":{"io.kubernetes.cri.pod-annotations":)"
                   R"({"sidecar.istio.io/status":"x",)"
                   R"("traffic.sidecar.istio.io/excludeInboundPorts":)"
                   R"("22,\u001b[31m"}})"),
            7,
            "1.0.0",
            {"traffic.sidecar.istio.io/excludeInboundPorts", "'22,\\x1b[31m'"}},
        ErrorCase{"missing_variables",
                  {{"CNI_COMMAND", "CHECK"}},
                  Config(""),
                  4,
                  "1.0.0",
                  {"CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME"}},
        ErrorCase{"unknown_command",
                  {{"CNI_COMMAND", "UPDATE"}},
                  Config(""),
                  4,
                  "1.0.0",
                  {"'UPDATE'"}}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      return std::string(info.param.name);
    });

// --- Against the kernel
// ------------------------------------------------------------

class CniKernelTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!node_.ok()) GTEST_SKIP() << node_.error();
    if (!pod_.ok()) GTEST_SKIP() << "cannot make a pod namespace";
    if (backend() == "nftables" && !HaveProgram("nft")) {
      GTEST_SKIP() << "no nft";
    }
    if (backend() == "iptables-legacy" &&
        !HaveProgram("iptables-legacy-save")) {
      GTEST_SKIP() << "no iptables-legacy-save";
    }
    ASSERT_FALSE(state_.path().empty());
  }

  std::string backend() const { return GetParam(); }

  std::map<std::string, std::string> Env(const std::string& command,
                                         const std::string& cid = "c1") {
    return {{"CNI_COMMAND", command},
            {"CNI_CONTAINERID", cid},
            {"CNI_NETNS", pod_.path()},
            {"CNI_IFNAME", "eth0"},
            {"CNI_ARGS", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1"},
            {"CNI_PATH", "/usr/lib/cni"},
            {"MESHCAP_STATE_DIR", state_.path()}};
  }

  std::string PluginConfig(const std::string& extra = "",
                           const std::string& profile = "sidecar") {
    return Config(R"("podSelection":"all","profile":")" + profile +
                  R"(","backend":")" + backend() + R"(","policy":)" +
                  (profile == "sidecar" ? std::string(kSidecarPolicy)
                                        : std::string("{}")) +
                  R"(,"logLevel":"info","logFile":")" + log_path() +
                  R"(","prevResult":)" + kPrevResult +
                  (extra.empty() ? "" : "," + extra));
  }

  std::string log_path() const { return logs_.path() + "/cni.log"; }
  std::string Log() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  ScopedNetns node_;  // the plugin runs here; nothing may change it
  DetachedNetns pod_;
  TempDir state_;
  TempDir logs_;
};

TEST_P(CniKernelTest, AddAppliesPassesPrevResultThroughAndIsIdempotent) {
  Exec r = RunCni(Env("ADD"), PluginConfig());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, std::string(kPrevResult) + "\n");
  const std::string first = Ruleset(pod_.fd(), backend());
  EXPECT_THAT(first, backend() == "nftables"
                         ? HasSubstr("redirect to :15001")
                         : HasSubstr("-j REDIRECT --to-ports 15001"));
  EXPECT_THAT(Log(), HasSubstr("applied (" + backend() + ")"));

  r = RunCni(Env("ADD"), PluginConfig());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, std::string(kPrevResult) + "\n");
  EXPECT_EQ(Ruleset(pod_.fd(), backend()), first);
  EXPECT_THAT(Log(), HasSubstr(": unchanged\n"));
  // The node's own namespace is untouched.
  EXPECT_EQ(::meshcap::testing::Shell("nft list ruleset").output, "");
  EXPECT_THAT(
      ::meshcap::testing::Shell("iptables-legacy-save 2>/dev/null").output,
      Not(HasSubstr("ISTIO")));
}

TEST_P(CniKernelTest, CheckPassesThenNamesTheDrift) {
  ASSERT_EQ(RunCni(Env("ADD"), PluginConfig()).exit_code, 0);
  Exec r = RunCni(Env("CHECK"), PluginConfig());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");

  // Somebody deletes the rule that sends outbound traffic to the proxy.
  const std::string drift =
      backend() == "nftables"
          ? "nft flush chain inet istio-proxy-nat istio-redirect"
          : "iptables-legacy -t nat -F ISTIO_REDIRECT";
  ASSERT_EQ(ShellIn(pod_.fd(), drift).exit_code, 0);
  r = RunCni(Env("CHECK"), PluginConfig());
  EXPECT_EQ(r.exit_code, 1);
  nlohmann::json e = r.json();
  EXPECT_EQ(e["code"], 103) << r.out;
  EXPECT_EQ(e["cniVersion"], "1.0.0");
  const std::string where = backend() == "nftables"
                                ? "istio-proxy-nat/istio-redirect"
                                : "nat (IPv4)/ISTIO_REDIRECT";
  EXPECT_THAT(e["msg"].get<std::string>(),
              AllOf(HasSubstr("has drifted (" + backend() + ")"),
                    HasSubstr("missing rule 1 in " + where)))
      << r.out;
  EXPECT_THAT(e["details"].get<std::string>(), HasSubstr("15001")) << r.out;

  // ADD puts it back; CHECK agrees again.
  ASSERT_EQ(RunCni(Env("ADD"), PluginConfig()).exit_code, 0);
  EXPECT_EQ(RunCni(Env("CHECK"), PluginConfig()).exit_code, 0);
}

TEST_P(CniKernelTest, DelLeavesNothingOfOursAndIsIdempotent) {
  ASSERT_EQ(RunCni(Env("ADD"), PluginConfig()).exit_code, 0);
  EXPECT_THAT(StateFiles(state_.path()), Not(IsEmpty()));
  for (int i = 0; i < 2; ++i) {
    Exec r = RunCni(Env("DEL"), PluginConfig());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(Ruleset(pod_.fd(), backend()),
                AllOf(Not(HasSubstr("istio")), Not(HasSubstr("ISTIO"))));
    EXPECT_THAT(StateFiles(state_.path()), IsEmpty()) << "after DEL " << i + 1;
  }
  // A CHECK now reports the capture missing.
  Exec r = RunCni(Env("CHECK"), PluginConfig());
  EXPECT_EQ(r.json()["code"], 103) << r.out;
}

TEST_P(CniKernelTest, DelSucceedsWhenTheNamespaceIsGone) {
  std::map<std::string, std::string> env;
  {
    DetachedNetns doomed;
    ASSERT_TRUE(doomed.ok());
    env = Env("ADD");
    env["CNI_NETNS"] = doomed.path();
    ASSERT_EQ(RunCni(env, PluginConfig()).exit_code, 0);
  }
  env["CNI_COMMAND"] = "DEL";
  for (int i = 0; i < 2; ++i) {
    Exec r = RunCni(env, PluginConfig());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(StateFiles(state_.path()), IsEmpty());
  }
  EXPECT_THAT(Log(), HasSubstr("is gone; forgetting the attachment"));
  env.erase("CNI_NETNS");
  EXPECT_EQ(RunCni(env, PluginConfig()).exit_code, 0);
}

TEST_P(CniKernelTest, AmbientProfile) {
  Exec r = RunCni(Env("ADD"), PluginConfig("", "ambient"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(Ruleset(pod_.fd(), backend()),
              backend() == "nftables"
                  ? HasSubstr("table inet istio-ambient-nat")
                  : HasSubstr("-j CONNMARK --set-xmark 0x111/0xfff"));
  EXPECT_EQ(RunCni(Env("CHECK"), PluginConfig("", "ambient")).exit_code, 0);
  // The sidecar policy is not what the pod holds.
  r = RunCni(Env("CHECK"), PluginConfig());
  EXPECT_EQ(r.json()["code"], 103) << r.out;
  ASSERT_EQ(RunCni(Env("DEL"), PluginConfig("", "ambient")).exit_code, 0);
  EXPECT_THAT(Ruleset(pod_.fd(), backend()),
              AllOf(Not(HasSubstr("istio")), Not(HasSubstr("ISTIO"))));
}

TEST_P(CniKernelTest, ExcludedNamespacesAreLeftAlone) {
  std::map<std::string, std::string> env = Env("ADD");
  env["CNI_ARGS"] = "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns";
  const std::string config =
      PluginConfig(R"("excludeNamespaces":["kube-system"])");
  const std::string before = Ruleset(pod_.fd(), backend());
  Exec r = RunCni(env, config);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, std::string(kPrevResult) + "\n");
  EXPECT_EQ(Ruleset(pod_.fd(), backend()), before);
  EXPECT_THAT(StateFiles(state_.path()), IsEmpty());
  env["CNI_COMMAND"] = "CHECK";
  EXPECT_EQ(RunCni(env, config).exit_code, 0);
}

TEST_P(CniKernelTest, RuntimeConfigOverridesThePolicyPerPod) {
  const std::string override_config = PluginConfig(
      R"("runtimeConfig":{"meshcap":{"policy":{"OutboundPortsExclude":"8443"}}})");
  Exec r = RunCni(Env("ADD"), override_config);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(Ruleset(pod_.fd(), backend()), HasSubstr("8443"));
  EXPECT_EQ(RunCni(Env("CHECK"), override_config).exit_code, 0);
  // Without the override the pod's rules are not the policy.
  r = RunCni(Env("CHECK"), PluginConfig());
  EXPECT_EQ(r.json()["code"], 103) << r.out;
  EXPECT_THAT(r.json()["details"].get<std::string>(), HasSubstr("8443"));
}

TEST_P(CniKernelTest, RefusesThePluginsOwnNamespace) {
  std::map<std::string, std::string> env = Env("ADD");
  env["CNI_NETNS"] = "/proc/self/ns/net";
  Exec r = RunCni(env, PluginConfig());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.json()["code"], 4);
  EXPECT_THAT(r.json()["msg"].get<std::string>(),
              HasSubstr("the plugin's own network namespace"));
  EXPECT_EQ(::meshcap::testing::Shell("nft list ruleset").output, "");
  // DEL of an attachment never added changes nothing, here neither.
  env["CNI_COMMAND"] = "DEL";
  r = RunCni(env, PluginConfig());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(::meshcap::testing::Shell("nft list ruleset").output, "");
}

TEST_P(CniKernelTest, GcForgetsAttachmentsTheRuntimeNoLongerLists) {
  DetachedNetns other;
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(RunCni(Env("ADD", "keep"), PluginConfig()).exit_code, 0);
  std::map<std::string, std::string> env = Env("ADD", "stale");
  env["CNI_NETNS"] = other.path();
  ASSERT_EQ(RunCni(env, PluginConfig()).exit_code, 0);
  EXPECT_THAT(Tree(state_.path()),
              ::testing::IsSupersetOf(
                  {"cni/pods/keep@eth0.json", "cni/pods/stale@eth0.json"}));
  const std::string rules = Ruleset(pod_.fd(), backend());

  Exec r = RunCni(
      {{"CNI_COMMAND", "GC"},
       {"CNI_PATH", "/usr/lib/cni"},
       {"MESHCAP_STATE_DIR", state_.path()}},
      Config(R"("backend":")" + backend() +
                 R"(","cni.dev/valid-attachments":[{"containerID":"keep",)"
                 R"("ifname":"eth0"}])",
             "1.1.0"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  std::vector<std::string> left = Tree(state_.path());
  EXPECT_THAT(left, ::testing::Contains("cni/pods/keep@eth0.json"));
  for (const std::string& f : left) {
    EXPECT_THAT(f, Not(HasSubstr("stale"))) << "GC left " << f;
  }
  // GC keeps out of pod namespaces: the valid pod still holds its rules.
  EXPECT_EQ(Ruleset(pod_.fd(), backend()), rules);
  EXPECT_EQ(RunCni(Env("CHECK", "keep"), PluginConfig()).exit_code, 0);
}

TEST_P(CniKernelTest, StatusSaysTheBackendWorksHere) {
  const std::string config =
      Config(R"("backend":")" + backend() + R"(")", "1.1.0");
  Exec r = RunCni({{"CNI_COMMAND", "STATUS"},
                   {"CNI_PATH", "/usr/lib/cni"},
                   {"MESHCAP_STATE_DIR", state_.path()}},
                  config);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(StateFiles(state_.path()), IsEmpty());

  // Without privileges it cannot serve ADD: 50, saying why.
  r = RunCni({{"CNI_COMMAND", "STATUS"},
              {"CNI_PATH", "/usr/lib/cni"},
              {"MESHCAP_STATE_DIR", state_.path()}},
             config, /*drop_caps=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.json()["code"], 50) << r.out;
  EXPECT_THAT(r.json()["details"].get<std::string>(),
              HasSubstr("CAP_SYS_ADMIN"));
}

INSTANTIATE_TEST_SUITE_P(Backends, CniKernelTest,
                         ::testing::Values("nftables", "iptables-legacy"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           std::string n = i.param;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

// The legacy backend takes a pod-scoped xtables lock: a node whose
// /run/xtables.lock (here: $XTABLES_LOCKFILE) is held by kube-proxy does
// not hold up pod start-up.
TEST(CniXtablesLockTest, LegacyAddDoesNotWaitForTheNodesXtablesLock) {
  ScopedNetns node;
  if (!node.ok()) GTEST_SKIP() << node.error();
  DetachedNetns pod;
  ASSERT_TRUE(pod.ok());
  TempDir state;
  const std::string node_lock = state.path() + "-node-xtables.lock";
  const int fd = open(node_lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  const auto start = std::chrono::steady_clock::now();
  Exec r =
      RunCni({{"CNI_COMMAND", "ADD"},
              {"CNI_CONTAINERID", "c1"},
              {"CNI_NETNS", pod.path()},
              {"CNI_IFNAME", "eth0"},
              {"XTABLES_LOCKFILE", node_lock},
              {"MESHCAP_STATE_DIR", state.path()}},
             Config(R"("podSelection":"all","backend":"iptables-legacy")"));
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  unlink(node_lock.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_THAT(Tree(state.path()), ::testing::Contains("cni/xtables.lock"));
}

}  // namespace
}  // namespace meshcap::cni
