// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap-cni reading pods from a Kubernetes API: the stand-in of
// tests/cni/apiserver (HTTPS, a bearer token, the pods and namespaces of its
// fixtures, fault modes, a request log) started by the test in the node's
// network namespace. Each pod Istio captures must hold exactly what
// iptables-legacy-restore of Istio's golden gives; each pod Istio leaves
// alone must be left alone; every API failure must be a CNI error with
// nothing installed, within the time the configuration allows.
//
// Root is needed (namespaces, netfilter), and Debian's python3 and openssl
// for the stand-in; without them the tests skip.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cni/cni_exec_util.h"
#include "tests/cni/cni_test_util.h"
#include "tests/testing/netns.h"

namespace meshcap::cni {
namespace {

using ::meshcap::cni::testing::Exec;
using ::meshcap::cni::testing::kPrevResult;
using ::meshcap::cni::testing::StateFiles;
using ::meshcap::cni::testing::TempDir;
using ::meshcap::testing::DetachedNetns;
using ::meshcap::testing::HaveProgram;
using ::meshcap::testing::ScopedNetns;
using ::meshcap::testing::Shell;
using ::meshcap::testing::ShellIn;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::string kRoot = MESHCAP_SOURCE_ROOT;
const char kPython[] = "/usr/bin/python3";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The stand-in, started in the calling thread's network namespace and
// stopped with the object.
class StandIn {
 public:
  explicit StandIn(const std::vector<std::string>& faults = {}) {
    const std::string ready = dir_.path() + "/ready.json";
    std::vector<std::string> args = {
        kPython,        kRoot + "/tests/cni/apiserver/standin.py",
        "--fixtures",   kRoot + "/tests/cni/apiserver/fixtures/pods.json",
        "--port",       "0",
        "--ready-file", ready,
        "--workdir",    dir_.path() + "/work"};
    args.insert(args.end(), faults.begin(), faults.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      execv(kPython, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(ready); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ready_ = nlohmann::json::parse(ReadFile(ready), nullptr, false);
  }
  ~StandIn() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return ready_.is_object() && ready_.contains("port"); }
  // A kubeconfig variant: "ca-data", "ca-file", "token-file", "insecure",
  // "wrong-ca", "bad-token", "istio" (the installer's own template).
  std::string Kubeconfig(const std::string& variant = "ca-data") const {
    return ready_["kubeconfigs"][variant].get<std::string>();
  }
  // Requests answered (or refused) so far.
  int Requests() const {
    std::istringstream log(ReadFile(ready_["log"].get<std::string>()));
    int n = 0;
    for (std::string line; std::getline(log, line);) {
      if (line.find("\"request\"") != std::string::npos) ++n;
    }
    return n;
  }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  nlohmann::json ready_;
};

class CniApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!std::filesystem::exists(kPython) || !HaveProgram("openssl")) {
      GTEST_SKIP() << "the stand-in needs /usr/bin/python3 and openssl";
    }
    node_ = std::make_unique<ScopedNetns>();
    ASSERT_TRUE(node_->ok()) << node_->error();
    ASSERT_FALSE(state_.path().empty());
  }

  // A pod namespace with an IPv4 address, as the interface plugin before
  // meshcap-cni leaves it (istio-iptables decides IPv6 from it).
  std::unique_ptr<DetachedNetns> Pod() {
    auto pod = std::make_unique<DetachedNetns>();
    EXPECT_TRUE(pod->ok());
    EXPECT_EQ(ShellIn(pod->fd(),
                      "ip link add eth0 type veth peer name peer0 && "
                      "ip addr add 203.0.113.2/24 dev eth0 && "
                      "ip link set eth0 up")
                  .exit_code,
              0);
    return pod;
  }

  std::map<std::string, std::string> Env(const std::string& command,
                                         const DetachedNetns& pod,
                                         const std::string& ns,
                                         const std::string& name) {
    return {{"CNI_COMMAND", command},
            {"CNI_CONTAINERID", "c-" + name},
            {"CNI_NETNS", pod.path()},
            {"CNI_IFNAME", "eth0"},
            {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns +
                             ";K8S_POD_NAME=" + name +
                             ";K8S_POD_INFRA_CONTAINER_ID=c-" + name},
            {"CNI_PATH", "/usr/lib/cni"},
            {"MESHCAP_STATE_DIR", state_.path()}};
  }

  static std::string Config(const std::string& extra) {
    return R"({"cniVersion":"1.0.0","name":"k8s-pod-network",)"
           R"("type":"meshcap-cni","prevResult":)" +
           std::string(kPrevResult) + "," + extra + "}";
  }

  static Exec Run(const std::map<std::string, std::string>& env,
                  const std::string& config) {
    return ::meshcap::cni::testing::RunPlugin(MESHCAP_CNI, env, config);
  }

  // What iptables-legacy-restore of `golden` gives, as iptables-legacy-save
  // prints it (counters dropped).
  static std::string Restored(const std::string& golden) {
    DetachedNetns scratch;
    const std::string file = kRoot + "/tests/conformance/istio-cni/" + golden;
    ShellIn(scratch.fd(), "iptables-legacy-restore < " + file);
    return Saved(scratch.fd());
  }
  static std::string Saved(int netns) {
    return ShellIn(netns,
                   "iptables-legacy-save | grep -v '^#' | "
                   "sed 's/\\[[0-9]*:[0-9]*\\]//'")
        .output;
  }
  // Nothing of ours in `netns`, in any view.
  static void ExpectUntouched(int netns) {
    EXPECT_EQ(ShellIn(netns, "nft list ruleset").output, "");
    EXPECT_THAT(
        ShellIn(netns, "iptables-legacy-save; ip6tables-legacy-save").output,
        Not(HasSubstr("ISTIO")));
    EXPECT_THAT(ShellIn(netns, "ip rule; ip -6 rule").output,
                Not(HasSubstr("fwmark")));
  }

  std::unique_ptr<ScopedNetns> node_;
  TempDir state_;
};

std::vector<nlohmann::json> Cases(const char* expect) {
  nlohmann::json doc = nlohmann::json::parse(
      ReadFile(kRoot + "/tests/cni/apiserver/fixtures/pods.json"));
  std::vector<nlohmann::json> out;
  for (const nlohmann::json& c : doc["cases"]) {
    if (c["expect"] == expect) out.push_back(c);
  }
  return out;
}

TEST_F(CniApiTest, EveryPodIstioCapturesHoldsExactlyIstiosRules) {
  StandIn api;
  ASSERT_TRUE(api.ok());
  const std::string config = Config(R"("backend":"iptables-legacy",)"
                                    R"("kubeconfig":")" +
                                    api.Kubeconfig() + "\"");
  int n = 0;
  for (const nlohmann::json& c : Cases("captured")) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto pod = Pod();
    Exec r = Run(Env("ADD", *pod, "mesh", name), config);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, std::string(kPrevResult) + "\n");
    EXPECT_EQ(Saved(pod->fd()), Restored(c["golden"]));
    EXPECT_EQ(
        ShellIn(pod->fd(), "ip6tables-legacy-save | grep -c ISTIO").output,
        "0\n");
    EXPECT_EQ(Run(Env("CHECK", *pod, "mesh", name), config).exit_code, 0);
    r = Run(Env("DEL", *pod, "mesh", name), config);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    ExpectUntouched(pod->fd());
    EXPECT_THAT(StateFiles(state_.path()), IsEmpty());
    ++n;
  }
  EXPECT_EQ(n, 6);
}

TEST_F(CniApiTest, OnNftablesTheSamePodsAreCapturedAndVerified) {
  StandIn api;
  ASSERT_TRUE(api.ok());
  const std::string config = Config(R"("backend":"nftables","kubeconfig":")" +
                                    api.Kubeconfig() + "\"");
  for (const char* name : {"basic", "tproxy", "dns"}) {
    SCOPED_TRACE(name);
    auto pod = Pod();
    ASSERT_EQ(Run(Env("ADD", *pod, "mesh", name), config).exit_code, 0);
    EXPECT_THAT(ShellIn(pod->fd(), "nft list ruleset").output,
                HasSubstr("table inet istio-proxy-nat"));
    EXPECT_EQ(Run(Env("CHECK", *pod, "mesh", name), config).exit_code, 0);
    ASSERT_EQ(Run(Env("DEL", *pod, "mesh", name), config).exit_code, 0);
    ExpectUntouched(pod->fd());
  }
}

TEST_F(CniApiTest, EveryPodIstioLeavesAloneIsLeftAlone) {
  StandIn api;
  ASSERT_TRUE(api.ok());
  const std::string config =
      Config(R"("kubeconfig":")" + api.Kubeconfig() + "\"");
  int n = 0;
  for (const nlohmann::json& c : Cases("left alone")) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    auto pod = Pod();
    Exec r = Run(Env("ADD", *pod, "mesh", name), config);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, std::string(kPrevResult) + "\n");
    ExpectUntouched(pod->fd());
    EXPECT_THAT(StateFiles(state_.path()), IsEmpty());
    EXPECT_EQ(Run(Env("DEL", *pod, "mesh", name), config).exit_code, 0);
    ++n;
  }
  EXPECT_EQ(n, 7);
}

TEST_F(CniApiTest, AnExcludedNamespaceOrAPodOutsideKubernetesCostsNoRequest) {
  StandIn api;
  ASSERT_TRUE(api.ok());
  const std::string config =
      Config(R"("exclude_namespaces":["kube-system"],"kubeconfig":")" +
             api.Kubeconfig() + "\"");
  auto pod = Pod();
  const int before = api.Requests();
  EXPECT_EQ(Run(Env("ADD", *pod, "kube-system", "basic"), config).exit_code, 0);
  auto env = Env("ADD", *pod, "mesh", "basic");
  env["CNI_ARGS"] = "IgnoreUnknown=1";
  EXPECT_EQ(Run(env, config).exit_code, 0);
  EXPECT_EQ(api.Requests(), before);
  ExpectUntouched(pod->fd());
  // And a pod that is read is one request.
  EXPECT_EQ(
      Run(Env("ADD", *pod, "mesh", "no-status-annotation"), config).exit_code,
      0);
  EXPECT_EQ(api.Requests(), before + 1);
}

TEST_F(CniApiTest, IstiosInstallerKubeconfigUnderTheAgentsRunDir) {
  StandIn api;
  ASSERT_TRUE(api.ok());
  TempDir run_dir;
  std::filesystem::copy_file(api.Kubeconfig("istio"),
                             run_dir.path() + "/istio-cni-kubeconfig");
  const std::string config =
      Config(R"("cni_agent_run_dir":")" + run_dir.path() +
             R"(","plugin_log_level":"info","ambient_enabled":false,)"
             R"("enablement_selectors":[],"exclude_namespaces":null,)"
             R"("pod_namespace":"istio-system","native_nftables":false,)"
             R"("enable_ambient_detection_retry":false,"ipam":{},"dns":{})");
  auto pod = Pod();
  Exec r = Run(Env("ADD", *pod, "mesh", "basic"), config);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // native_nftables false: istio-cni's iptables detection, which in a fresh
  // pod (no legacy rules) is iptables-nft.
  EXPECT_THAT(
      ShellIn(pod->fd(), "iptables-nft-save").output,
      HasSubstr("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001"));
  EXPECT_THAT(Saved(pod->fd()), Not(HasSubstr("ISTIO")));
}

struct ApiFault {
  const char* name;
  std::vector<std::string> standin_flags;
  const char* kubeconfig;  // variant, or "refused"
  const char* pod;
  const char* details;
};

class CniApiFaultTest : public CniApiTest,
                        public ::testing::WithParamInterface<ApiFault> {};

TEST_P(CniApiFaultTest, IsACniErrorWithNothingInstalledWithinTheBound) {
  const ApiFault& f = GetParam();
  StandIn api(f.standin_flags);
  ASSERT_TRUE(api.ok());
  TempDir dir;
  std::string kubeconfig;
  if (std::string(f.kubeconfig) == "refused") {
    // The stand-in's kubeconfig, pointed at a port nobody listens on.
    std::string text = ReadFile(api.Kubeconfig());
    const std::string from = "127.0.0.1:";
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    const size_t end = text.find_first_not_of("0123456789", at + from.size());
    text.replace(at, end - at, "127.0.0.1:9");
    kubeconfig = dir.path() + "/kubeconfig";
    std::ofstream(kubeconfig) << text;
  } else {
    kubeconfig = api.Kubeconfig(f.kubeconfig);
  }
  const std::string config =
      Config(R"("kubeApiTimeout":1,"kubeconfig":")" + kubeconfig + "\"");
  auto pod = Pod();
  const auto start = std::chrono::steady_clock::now();
  Exec r = Run(Env("ADD", *pod, "mesh", f.pod), config);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 1) << r.out;
  nlohmann::json e = r.json();
  EXPECT_EQ(e["code"], 105) << r.out;
  EXPECT_THAT(e["msg"].get<std::string>(),
              HasSubstr("pod 'mesh/" + std::string(f.pod) + "'"));
  EXPECT_THAT(e["details"].get<std::string>(),
              AllOf(HasSubstr("https://127.0.0.1:"), HasSubstr(f.details)));
  // kubeApiTimeout (1 s) plus one request's time-out (3 s) at most.
  EXPECT_LT(took, std::chrono::milliseconds(4500));
  ExpectUntouched(pod->fd());
  EXPECT_THAT(StateFiles(state_.path()), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(
    Faults, CniApiFaultTest,
    ::testing::Values(
        ApiFault{
            "unavailable", {"--status", "503"}, "ca-data", "basic", "HTTP 503"},
        ApiFault{"not_found", {}, "ca-data", "no-such-pod", "HTTP 404"},
        ApiFault{"refused", {}, "refused", "basic", "onnect"},
        ApiFault{"closed", {"--close"}, "ca-data", "basic", "GET"},
        ApiFault{"wrong_ca", {}, "wrong-ca", "basic", "certificate"},
        ApiFault{"bad_token", {}, "bad-token", "basic", "HTTP 401"},
        ApiFault{
            "slow", {"--delay-ms", "5000"}, "ca-data", "basic", "timed out"}),
    [](const ::testing::TestParamInfo<ApiFault>& i) {
      return std::string(i.param.name);
    });

TEST_F(CniApiTest, ATransientFailureIsRetriedWithinTheBudget) {
  StandIn api({"--fail-first", "2"});
  ASSERT_TRUE(api.ok());
  auto pod = Pod();
  Exec r = Run(Env("ADD", *pod, "mesh", "basic"),
               Config(R"("backend":"iptables-legacy","kubeconfig":")" +
                      api.Kubeconfig() + "\""));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Saved(pod->fd()), Restored("basic.txt.golden"));
}

// Without a kubeconfig, the runtime's annotations decide: the pods whose
// difference is in their annotations are captured exactly; what only the
// spec holds (the proxy's identity and env) gets Istio's defaults.
TEST_F(CniApiTest, FromTheRuntimesAnnotationsAlone) {
  nlohmann::json doc = nlohmann::json::parse(
      ReadFile(kRoot + "/tests/cni/apiserver/fixtures/pods.json"));
  for (const nlohmann::json& p : doc["pods"]) {
    const std::string name = p["metadata"]["name"];
    if (name != "basic" && name != "include-exclude-ip" &&
        name != "include-exclude-ports" && name != "tproxy" &&
        name != "no-status-annotation" && name != "inject-annotation-false") {
      continue;
    }
    SCOPED_TRACE(name);
    nlohmann::json runtime;
    runtime["io.kubernetes.cri.pod-annotations"] = p["metadata"]["annotations"];
    const std::string config = Config(
        R"("backend":"iptables-legacy","runtimeConfig":)" + runtime.dump());
    auto pod = Pod();
    Exec r = Run(Env("ADD", *pod, "mesh", name), config);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const std::string golden = name + ".txt.golden";
    if (std::filesystem::exists(kRoot + "/tests/conformance/istio-cni/" +
                                golden)) {
      EXPECT_EQ(Saved(pod->fd()), Restored(golden));
    } else {
      ExpectUntouched(pod->fd());
    }
    ASSERT_EQ(Run(Env("DEL", *pod, "mesh", name), config).exit_code, 0);
    ExpectUntouched(pod->fd());
  }
}

}  // namespace
}  // namespace meshcap::cni
