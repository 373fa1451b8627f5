// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap-cni deciding as istio-cni decides, without a kernel or a server:
// the pods of the Kubernetes API stand-in's fixtures (Istio's own
// cni/pkg/plugin test cases), read as the API returns them and as a
// runtime's annotations carry them, must be captured exactly when Istio
// captures them, and the policy must render byte for byte Istio's golden
// (tests/conformance/istio-cni).

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/render.h"
#include "src/cni/config.h"
#include "src/cni/istio.h"
#include "src/cni/pod.h"
#include "src/cni/pod_policy.h"
#include "src/json.h"

namespace meshcap::cni {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kRoot = MESHCAP_SOURCE_ROOT;

// The stand-in's fixtures: pods, namespaces and what Istio does with each.
struct Fixtures {
  internal::Json doc;
  Fixtures() {
    absl::StatusOr<internal::Json> d = internal::ParseJson(
        ReadFile(kRoot + "/tests/cni/apiserver/fixtures/pods.json"),
        {.max_bytes = 4 << 20});
    EXPECT_TRUE(d.ok()) << d.status();
    if (d.ok()) doc = *std::move(d);
  }
  std::string PodJson(const std::string& name) const {
    for (const internal::Json& p : doc["pods"]) {
      if (p["metadata"]["name"] == name) return p.dump();
    }
    ADD_FAILURE() << "no fixture pod " << name;
    return "{}";
  }
};

const Fixtures& TheFixtures() {
  static const Fixtures* f = new Fixtures;
  return *f;
}

// A PodSource over fixed facts, counting what it was asked.
class FakeSource : public PodSource {
 public:
  explicit FakeSource(CniOr<PodInfo> pod,
                      std::map<std::string, std::string> ns_labels = {})
      : pod_(std::move(pod)), labels_(std::move(ns_labels)) {}
  CniOr<PodInfo> Pod() override {
    ++pod_reads;
    return pod_;
  }
  CniOr<std::map<std::string, std::string>> NamespaceLabels() override {
    ++namespace_reads;
    return labels_;
  }
  const std::map<std::string, std::string>* RuntimeAnnotations()
      const override {
    return annotations_.has_value() ? &*annotations_ : nullptr;
  }
  std::optional<std::map<std::string, std::string>> annotations_;
  int pod_reads = 0;
  int namespace_reads = 0;

 private:
  CniOr<PodInfo> pod_;
  std::map<std::string, std::string> labels_;
};

PluginConfig Config(const std::string& extra = "") {
  std::string version;
  CniOr<PluginConfig> c = ParseConfig(
      R"({"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "meshcap-cni")" +
          (extra.empty() ? "" : ", " + extra) + "}",
      Command::kAdd, &version);
  EXPECT_TRUE(c.ok()) << c.error().msg;
  return c.ok() ? *c : PluginConfig{};
}

CniEnvironment Env(const std::string& ns, const std::string& name) {
  CniEnvironment env;
  env.command = Command::kAdd;
  env.container_id = "c1";
  env.ifname = "eth0";
  if (!ns.empty()) env.args["K8S_POD_NAMESPACE"] = ns;
  if (!name.empty()) env.args["K8S_POD_NAME"] = name;
  return env;
}

// IPv4 only, as the pods of Istio's test (10.0.0.2/24).
const Ipv6Detector kIpv4Pod = [](bool) -> CniOr<bool> { return false; };

CniOr<PodDecision> DecideFixture(const std::string& name,
                                 const PluginConfig& config,
                                 FakeSource* seen = nullptr) {
  absl::StatusOr<PodInfo> pod = PodFromApiJson(TheFixtures().PodJson(name));
  EXPECT_TRUE(pod.ok()) << pod.status();
  FakeSource source(pod.ok()
                        ? CniOr<PodInfo>(*pod)
                        : CniOr<PodInfo>(CniError{kErrPodUnknown, "", ""}));
  CniOr<PodDecision> d =
      DecidePod(config, Env("mesh", name), &source, kIpv4Pod, true);
  if (seen != nullptr) seen->pod_reads = source.pod_reads;
  return d;
}

std::vector<internal::Json> Cases(const char* expect) {
  std::vector<internal::Json> out;
  for (const internal::Json& c : TheFixtures().doc["cases"]) {
    if (c["expect"] == expect) out.push_back(c);
  }
  return out;
}

// --- Istio's golden cases ---------------------------------------------------

TEST(IstioCniConformanceTest, EveryInjectedPodRendersIstiosGolden) {
  const std::vector<internal::Json> cases = Cases("captured");
  ASSERT_EQ(cases.size(), 6u);
  for (const internal::Json& c : cases) {
    const std::string name = c["name"];
    CniOr<PodDecision> d = DecideFixture(name, Config());
    ASSERT_TRUE(d.ok()) << name << ": " << d.error().msg;
    ASSERT_FALSE(d->skip) << name << ": " << d->reason;
    absl::StatusOr<std::string> text = Render(*d->policy, "iptables-legacy");
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, ReadFile(kRoot + "/tests/conformance/istio-cni/" +
                              c["golden"].get<std::string>()))
        << name;
  }
}

TEST(IstioCniConformanceTest, EveryPodIstioLeavesAloneIsLeftAlone) {
  const std::vector<internal::Json> cases = Cases("left alone");
  ASSERT_GE(cases.size(), 7u);
  for (const internal::Json& c : cases) {
    const std::string name = c["name"];
    CniOr<PodDecision> d = DecideFixture(name, Config());
    ASSERT_TRUE(d.ok()) << name << ": " << d.error().msg;
    EXPECT_TRUE(d->skip) << name;
    EXPECT_FALSE(d->policy.has_value()) << name;
  }
}

TEST(IstioCniConformanceTest, ReasonsSayWhy) {
  const std::map<std::string, std::string> want = {
      {"no-status-annotation", "Istio did not inject it"},
      {"no-istio-proxy", "no istio-proxy container"},
      {"istio-init", "istio-init container"},
      {"inject-annotation-false", "sidecar.istio.io/inject is 'false'"},
      {"inject-label-false", "sidecar.istio.io/inject is 'false'"},
      {"disable-envoy", "DISABLE_ENVOY"},
      {"proxy-router", "'router', not a sidecar"},
  };
  for (const auto& [name, reason] : want) {
    CniOr<PodDecision> d = DecideFixture(name, Config());
    ASSERT_TRUE(d.ok()) << name;
    EXPECT_THAT(d->reason, HasSubstr(reason)) << name;
  }
}

// The cases of Istio's plugin tests beyond the six goldens shared with the
// project: the policy each must get, as knob values.
std::string PolicyOf(const std::map<std::string, std::string>& annotations,
                     const std::map<std::string, std::string>& env = {},
                     std::optional<int64_t> uid = std::nullopt,
                     std::optional<int64_t> gid = std::nullopt,
                     Ipv6Detector ipv6 = kIpv4Pod) {
  PodInfo pod;
  pod.namespace_name = "testNS";
  pod.name = "testPod";
  pod.containers = {"test", "istio-proxy", "istio-validate"};
  pod.annotations = annotations;
  pod.annotations["sidecar.istio.io/status"] = "true";
  pod.proxy_env = env;
  pod.proxy_uid = uid;
  pod.proxy_gid = gid;
  FakeSource source(pod);
  CniOr<PodDecision> d =
      DecidePod(Config(), Env("testNS", "testPod"), &source, ipv6, true);
  EXPECT_TRUE(d.ok()) << d.error().msg;
  if (!d.ok() || d->skip) return "";
  return d->policy->ToJson();
}

TEST(IstioCniRedirectTest, IstiosOtherPluginCases) {
  // basic: what NewRedirect gives a pod that sets nothing.
  const std::string basic = PolicyOf({});
  EXPECT_THAT(basic,
              AllOf(HasSubstr(R"("ProxyPort":"15001")"),
                    HasSubstr(R"("ProxyUID":"1337")"),
                    HasSubstr(R"("ProxyGID":"1337")"),
                    HasSubstr(R"("InboundInterceptionMode":"REDIRECT")"),
                    HasSubstr(R"("InboundPortsInclude":"*")"),
                    HasSubstr(R"("InboundPortsExclude":"15020,15021,15090")"),
                    HasSubstr(R"("OutboundPortsExclude":"15020")"),
                    HasSubstr(R"("OutboundIPRangesInclude":"*")"),
                    HasSubstr(R"("EnableIPv6":false)")));
  // custom-uid-zero: a runAsUser of 0 keeps 1337 (golden: basic).
  EXPECT_EQ(PolicyOf({}, {}, 0, 0), basic);
  // invalid-drop.
  EXPECT_THAT(PolicyOf({}, {{"INVALID_DROP", "true"}}),
              HasSubstr(R"("DropInvalid":true)"));
  // custom-uid-tproxy.
  EXPECT_THAT(PolicyOf({{"sidecar.istio.io/interceptionMode", "TPROXY"}}, {},
                       1000670000, 1000670001),
              AllOf(HasSubstr(R"("ProxyUID":"1000670000")"),
                    HasSubstr(R"("ProxyGID":"1000670001")"),
                    HasSubstr(R"("InboundInterceptionMode":"TPROXY")")));
  // TestCmdAddTwoContainersWithEmptyInboundPort: no inbound capture.
  EXPECT_THAT(PolicyOf({{"traffic.sidecar.istio.io/includeInboundPorts", ""}}),
              HasSubstr(R"("InboundPortsInclude":"")"));
  // ...WithEmptyExcludeInboundPort and ...WithExplictExcludeInboundPort.
  EXPECT_THAT(PolicyOf({{"traffic.sidecar.istio.io/excludeInboundPorts", ""}}),
              HasSubstr(R"("InboundPortsExclude":"15020,15021,15090")"));
  EXPECT_THAT(
      PolicyOf({{"traffic.sidecar.istio.io/excludeInboundPorts", "3306"}}),
      HasSubstr(R"("InboundPortsExclude":"3306,15020,15021,15090")"));
  EXPECT_THAT(PolicyOf({{"traffic.sidecar.istio.io/excludeInboundPorts",
                         "15090,3306"}}),
              HasSubstr(R"("InboundPortsExclude":"15090,3306,15020,15021")"));
  // ISTIO_DUAL_STACK widens the IPv6 detection; DNS capture sets both.
  bool asked_dual = false;
  EXPECT_THAT(PolicyOf({}, {{"ISTIO_DUAL_STACK", "true"}}, {}, {},
                       [&](bool dual) -> CniOr<bool> {
                         asked_dual = dual;
                         return true;
                       }),
              HasSubstr(R"("EnableIPv6":true)"));
  EXPECT_TRUE(asked_dual);
  EXPECT_THAT(PolicyOf({}, {{"ISTIO_META_DNS_CAPTURE", "true"}}),
              AllOf(HasSubstr(R"("RedirectDNS":true)"),
                    HasSubstr(R"("CaptureAllDNS":true)")));
  // An unparseable environment value is false, as Go's ParseBool failure.
  EXPECT_THAT(PolicyOf({}, {{"ISTIO_META_DNS_CAPTURE", "yes"}}),
              HasSubstr(R"("RedirectDNS":false)"));
  // reroute-virtual-interfaces wins over the deprecated kubevirt one, even
  // empty.
  EXPECT_THAT(
      PolicyOf({{"traffic.sidecar.istio.io/kubevirtInterfaces", "net1"}}),
      HasSubstr(R"("RerouteVirtualInterfaces":"net1")"));
  EXPECT_THAT(PolicyOf({{"traffic.sidecar.istio.io/kubevirtInterfaces", "net1"},
                        {"istio.io/reroute-virtual-interfaces", ""}}),
              HasSubstr(R"("RerouteVirtualInterfaces":"")"));
}

TEST(IstioCniRedirectTest, NoAddressInThePodFailsAsIstioFails) {
  PodInfo pod;
  pod.containers = {"istio-proxy"};
  pod.annotations["sidecar.istio.io/status"] = "true";
  FakeSource source(pod);
  CniOr<PodDecision> d = DecidePod(
      Config(), Env("ns", "p"), &source,
      [](bool) -> CniOr<bool> {
        return CniError{kErrInvalidEnvironment, "no address in CNI_NETNS", ""};
      },
      true);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, kErrInvalidEnvironment);
}

TEST(IstioCniRedirectTest, TheConfigurationsPolicyIsTheNodesDefault) {
  PodInfo pod;
  pod.containers = {"istio-proxy"};
  pod.annotations = {{"sidecar.istio.io/status", "true"},
                     {"traffic.sidecar.istio.io/excludeOutboundPorts", "22"}};
  FakeSource source(pod);
  CniOr<PodDecision> d = DecidePod(
      Config(R"("policy": {"OutboundIPRangesExclude": "10.0.0.0/8",
                           "OutboundPortsExclude": "5555", "EnableIPv6": true})"),
      Env("ns", "p"), &source,
      [](bool) -> CniOr<bool> {
        ADD_FAILURE() << "EnableIPv6 was given: no detection";
        return false;
      },
      true);
  ASSERT_TRUE(d.ok()) << d.error().msg;
  const std::string json = d->policy->ToJson();
  // The node's default stays where the pod says nothing; the pod's
  // annotation wins where it does.
  EXPECT_THAT(json,
              AllOf(HasSubstr(R"("OutboundIPRangesExclude":"10.0.0.0/8")"),
                    HasSubstr(R"("OutboundPortsExclude":"22")"),
                    HasSubstr(R"("EnableIPv6":true)")));
}

// --- Which pods, and in which order ------------------------------------------

TEST(IstioCniSelectionTest, ChecksBeforeThePodAreMadeWithoutReadingIt) {
  PodInfo injected;
  injected.containers = {"istio-proxy"};
  injected.annotations["sidecar.istio.io/status"] = "true";
  struct Case {
    CniEnvironment env;
    std::string extra;
    std::string reason;
  };
  const Case cases[] = {
      {Env("istio-system", "istio-cni-node-x2k4f"),
       R"("pod_namespace": "istio-system")", "node agent's own pod"},
      {Env("kube-system", "meshcap-cni-node-7"),
       R"("pod_namespace": "kube-system")", "node agent's own pod"},
      {Env("", "p"), "", "not a Kubernetes pod"},
      {Env("ns", ""), "", "not a Kubernetes pod"},
      {Env("kube-system", "coredns"),
       R"("exclude_namespaces": ["kube-system"])", "is in excludeNamespaces"},
      {Env("kube-system", "coredns"),
       R"("excludeNamespaces": ["a"], "exclude_namespaces": ["kube-system"])",
       "is in excludeNamespaces"},
  };
  for (const Case& c : cases) {
    FakeSource source(injected);
    CniOr<PodDecision> d =
        DecidePod(Config(c.extra), c.env, &source, kIpv4Pod, true);
    ASSERT_TRUE(d.ok()) << c.extra;
    EXPECT_TRUE(d->skip) << c.extra;
    EXPECT_THAT(d->reason, HasSubstr(c.reason));
    EXPECT_EQ(source.pod_reads, 0) << c.reason;
  }
}

TEST(IstioCniSelectionTest, ThePodsOwnPodNamespaceIsNotTheAgent) {
  PodInfo injected;
  injected.containers = {"istio-proxy"};
  injected.annotations["sidecar.istio.io/status"] = "true";
  FakeSource source(injected);
  CniOr<PodDecision> d =
      DecidePod(Config(R"("pod_namespace": "istio-system")"),
                Env("istio-system", "istiod-5f9"), &source, kIpv4Pod, true);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->skip);
}

TEST(IstioCniSelectionTest, RuntimeAnnotationsWithoutStatusNeedNoRequest) {
  PodInfo injected;
  FakeSource source(injected);
  source.annotations_ = std::map<std::string, std::string>{{"a", "b"}};
  CniOr<PodDecision> d =
      DecidePod(Config(), Env("ns", "p"), &source, kIpv4Pod, true);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->skip);
  EXPECT_EQ(source.pod_reads, 0);
}

TEST(IstioCniSelectionTest, ThePodsErrorIsTheDecisions) {
  FakeSource source(CniError{kErrPodUnknown, "cannot read pod 'ns/p'", "503"});
  CniOr<PodDecision> d =
      DecidePod(Config(), Env("ns", "p"), &source, kIpv4Pod, true);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, kErrPodUnknown);
}

TEST(IstioCniSelectionTest, InjectLabelWinsOverTheAnnotationEvenEmpty) {
  PodInfo pod;
  pod.containers = {"istio-proxy"};
  pod.annotations = {{"sidecar.istio.io/status", "x"},
                     {"sidecar.istio.io/inject", "false"}};
  EXPECT_TRUE(IstioLeavesAlone(pod).has_value());
  pod.labels = {{"sidecar.istio.io/inject", ""}};
  EXPECT_FALSE(IstioLeavesAlone(pod).has_value());
  pod.labels = {{"sidecar.istio.io/inject", "true"}};
  EXPECT_FALSE(IstioLeavesAlone(pod).has_value());
  // Not a boolean: ignored.
  pod.labels = {{"sidecar.istio.io/inject", "maybe"}};
  EXPECT_FALSE(IstioLeavesAlone(pod).has_value());
  pod.labels = {{"sidecar.istio.io/inject", "0"}};
  EXPECT_TRUE(IstioLeavesAlone(pod).has_value());
}

TEST(IstioCniSelectionTest, AmbientPodsAreTheNodeAgentsAndNeedTheNamespace) {
  const std::string helm_default = R"("ambient_enabled": true,
      "enablement_selectors": [
        {"podSelector": {"matchLabels": {"istio.io/dataplane-mode": "ambient"}}},
        {"podSelector": {"matchExpressions": [{"key": "istio.io/dataplane-mode",
                          "operator": "NotIn", "values": ["none"]}]},
         "namespaceSelector": {"matchLabels":
                          {"istio.io/dataplane-mode": "ambient"}}}])";
  PodInfo app;
  app.containers = {"app"};
  struct Case {
    std::map<std::string, std::string> pod_labels, ns_labels;
    bool ambient;
  };
  const Case cases[] = {
      {{{"istio.io/dataplane-mode", "ambient"}}, {}, true},
      {{}, {{"istio.io/dataplane-mode", "ambient"}}, true},
      {{{"istio.io/dataplane-mode", "none"}},
       {{"istio.io/dataplane-mode", "ambient"}},
       false},
      {{}, {}, false},
  };
  for (const Case& c : cases) {
    PodInfo pod = app;
    pod.labels = c.pod_labels;
    FakeSource source(pod, c.ns_labels);
    CniOr<PodDecision> d = DecidePod(Config(helm_default), Env("ns", "p"),
                                     &source, kIpv4Pod, true);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->skip);  // ambient or not injected: never sidecar-captured
    EXPECT_EQ(d->reason.find("ambient") != std::string::npos, c.ambient)
        << d->reason;
    EXPECT_EQ(source.namespace_reads, 1);
  }
  // A pod with Istio's sidecar is never ambient.
  PodInfo sidecar;
  sidecar.containers = {"istio-proxy"};
  sidecar.labels = {{"istio.io/dataplane-mode", "ambient"}};
  sidecar.annotations["sidecar.istio.io/status"] = "true";
  FakeSource source(sidecar);
  CniOr<PodDecision> d =
      DecidePod(Config(helm_default), Env("ns", "p"), &source, kIpv4Pod, true);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->skip);
}

TEST(IstioCniSelectionTest, AmbientLookupErrorsFailOnlyWithTheRetryFlag) {
  FakeSource source(CniError{kErrPodUnknown, "cannot read pod", ""});
  CniOr<PodDecision> d = DecidePod(Config(R"("ambient_enabled": true,
                          "enable_ambient_detection_retry": true)"),
                                   Env("ns", "p"), &source, kIpv4Pod, true);
  EXPECT_FALSE(d.ok());
  // Without it, the lookup is let pass; the sidecar path then needs the pod
  // and fails on it, as istio-cni's does.
  d = DecidePod(Config(R"("ambient_enabled": true)"), Env("ns", "p"), &source,
                kIpv4Pod, true);
  EXPECT_FALSE(d.ok());
}

// --- From the runtime's annotations alone ------------------------------------

TEST(IstioCniRuntimeAnnotationsTest, TheStatusListsTheContainers) {
  const std::string status =
      R"({"initContainers":["istio-init"],"containers":["istio-proxy"]})";
  PodInfo pod = PodFromRuntimeAnnotations(
      "ns", "p", {{"sidecar.istio.io/status", status}});
  EXPECT_THAT(IstioLeavesAlone(pod).value_or(""), HasSubstr("istio-init"));
  pod = PodFromRuntimeAnnotations(
      "ns", "p",
      {{"sidecar.istio.io/status",
        R"({"initContainers":["istio-validation","istio-proxy"],"containers":null})"}});
  EXPECT_EQ(IstioLeavesAlone(pod), std::nullopt);
  pod = PodFromRuntimeAnnotations(
      "ns", "p", {{"sidecar.istio.io/status", R"({"containers":["other"]})"}});
  EXPECT_THAT(IstioLeavesAlone(pod).value_or(""), HasSubstr("no istio-proxy"));
  // Not the injector's JSON: istio-cni checks presence only.
  pod = PodFromRuntimeAnnotations("ns", "p",
                                  {{"sidecar.istio.io/status", "true"}});
  EXPECT_EQ(IstioLeavesAlone(pod), std::nullopt);
}

TEST(IstioCniRuntimeAnnotationsTest, FixturePodsAsTheRuntimeSeesThem) {
  // What annotations alone cannot know (docs/cni.md): DISABLE_ENVOY, the proxy
  // type and the inject label are in the spec; the proxy's identity and
  // env too (custom-uid and dns then get the defaults). The status
  // annotation lists what the injector added, which these fixtures, edited
  // after injection, no longer have (no istio-proxy, an istio-init).
  const std::set<std::string> spec_only = {"disable-envoy", "proxy-router",
                                           "inject-label-false",
                                           "no-istio-proxy", "istio-init"};
  for (const internal::Json& c : TheFixtures().doc["cases"]) {
    const std::string name = c["name"];
    absl::StatusOr<PodInfo> full = PodFromApiJson(TheFixtures().PodJson(name));
    ASSERT_TRUE(full.ok());
    FakeSource source(CniError{kErrPodUnknown, "no API", ""});
    source.annotations_ = full->annotations;
    PluginConfig config = Config();
    config.runtime_pod_annotations = full->annotations;
    // No kubeconfig: the annotations are the pod.
    FakeSource runtime(
        PodFromRuntimeAnnotations("mesh", name, full->annotations));
    runtime.annotations_ = full->annotations;
    CniOr<PodDecision> d =
        DecidePod(config, Env("mesh", name), &runtime, kIpv4Pod, true);
    ASSERT_TRUE(d.ok()) << name;
    const bool captured = c["expect"] == "captured";
    if (spec_only.count(name) != 0) {
      EXPECT_FALSE(d->skip) << name << " (needs the spec: captured)";
    } else {
      EXPECT_EQ(!d->skip, captured) << name << ": " << d->reason;
    }
  }
}

// --- Untrusted annotations
// ----------------------------------------------------

TEST(IstioCniAnnotationTest, BadValuesNameTheAnnotationAndTheValue) {
  struct Case {
    const char* annotation;
    std::string value;
    const char* why;
  };
  const Case cases[] = {
      {"sidecar.istio.io/interceptionMode", "NONE", "REDIRECT or TPROXY"},
      {"sidecar.istio.io/interceptionMode", "redirect", "REDIRECT or TPROXY"},
      {"traffic.sidecar.istio.io/includeInboundPorts", "80,,81", "'' is not"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", "70000", "'70000'"},
      {"traffic.sidecar.istio.io/excludeOutboundPorts", "1-2", "'1-2'"},
      {"traffic.sidecar.istio.io/includeOutboundPorts", " *", "without blanks"},
      {"traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.1",
       "not a CIDR"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "*", "'*'"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", " 10.0.0.0/8",
       "' 10.0.0.0/8'"},
      {"traffic.sidecar.istio.io/excludeInterfaces", "eth0,1bad", "'1bad'"},
      {"istio.io/reroute-virtual-interfaces", "averyveryverylongname",
       "longer than 15"},
      {"traffic.sidecar.istio.io/excludeInboundPorts",
       std::string(kMaxAnnotationBytes + 1, '1'), "longer than"},
  };
  for (const Case& c : cases) {
    PodInfo pod;
    pod.annotations = {{c.annotation, c.value}};
    CniOr<IstioRedirect> r = NewRedirect(pod);
    ASSERT_FALSE(r.ok()) << c.annotation << "=" << c.value;
    EXPECT_EQ(r.error().code, kErrInvalidConfig);
    EXPECT_THAT(r.error().msg, AllOf(HasSubstr(c.annotation),
                                     HasSubstr(c.value.substr(0, 20))));
    EXPECT_THAT(r.error().details, HasSubstr(c.why)) << c.annotation;
    EXPECT_LE(r.error().msg.size(), 400u);
  }
  // Too many items.
  std::string ports;
  for (size_t i = 0; i <= kMaxListItems; ++i) ports += (i ? ",1" : "1");
  PodInfo pod;
  pod.annotations = {{"traffic.sidecar.istio.io/excludeInboundPorts", ports}};
  CniOr<IstioRedirect> r = NewRedirect(pod);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().details, HasSubstr("more than 1024"));
}

TEST(IstioCniAnnotationTest, IstiosValidatorsAcceptWhatIstioAccepts) {
  PodInfo pod;
  pod.annotations = {
      {"traffic.sidecar.istio.io/includeInboundPorts", " 80 , 0081 "},
      {"traffic.sidecar.istio.io/includeOutboundIPRanges",
       "10.0.0.0/8,2001:db8::/32"},
      {"traffic.sidecar.istio.io/excludeInterfaces", "eth1, net.2"},
  };
  EXPECT_TRUE(NewRedirect(pod).ok());
}

// --- Pods from the API ------------------------------------------------------

TEST(PodFromApiTest, ReadsWhatIstioReadsAndNamesWhatIsWrong) {
  absl::StatusOr<PodInfo> pod = PodFromApiJson(R"({
    "metadata": {"namespace": "n", "name": "p", "labels": {"a": "b"},
                 "annotations": {"x": "y"}},
    "spec": {"hostNetwork": false,
      "initContainers": [{"name": "istio-proxy", "args": ["proxy", "sidecar"],
        "env": [{"name": "A", "value": "1"},
                {"name": "B", "valueFrom": {"fieldRef": {}}}],
        "securityContext": {"runAsUser": 5, "runAsGroup": 6}}],
      "containers": [{"name": "app"}]}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->namespace_name, "n");
  EXPECT_EQ(pod->containers, (std::set<std::string>{"app", "istio-proxy"}));
  EXPECT_EQ(pod->proxy_type, "sidecar");
  EXPECT_EQ(pod->proxy_env.at("A"), "1");
  EXPECT_EQ(pod->proxy_env.at("B"), "");
  EXPECT_EQ(pod->proxy_uid, 5);
  EXPECT_EQ(pod->proxy_gid, 6);
  for (const char* bad : {
           R"({"metadata": {"labels": {"a": 1}}, "spec": {}})",
           R"({"metadata": {}, "spec": {"containers": {}}})",
           R"({"metadata": {}, "spec": {"containers": [{"name": "istio-proxy",
               "securityContext": {"runAsUser": "root"}}]}})",
           R"({"metadata": {}})",
           R"([])",
       }) {
    EXPECT_FALSE(PodFromApiJson(bad).ok()) << bad;
  }
  absl::StatusOr<PodInfo> deep =
      PodFromApiJson(std::string(100, '[') + std::string(100, ']'));
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(std::string(deep.status().message()), HasSubstr("deeper than"));
}

TEST(LabelSelectorTest, ParsesAndMatchesAsKubernetes) {
  absl::StatusOr<internal::Json> doc = internal::ParseJson(
      R"({"matchLabels": {"a": "1"},
          "matchExpressions": [{"key": "b", "operator": "In", "values": ["x", "y"]},
                               {"key": "c", "operator": "DoesNotExist"}]})",
      {});
  ASSERT_TRUE(doc.ok());
  absl::StatusOr<LabelSelector> s = ParseLabelSelector(*doc, "sel");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->Matches({{"a", "1"}, {"b", "y"}}));
  EXPECT_FALSE(s->Matches({{"a", "1"}, {"b", "z"}}));
  EXPECT_FALSE(s->Matches({{"a", "1"}, {"b", "x"}, {"c", ""}}));
  EXPECT_TRUE(LabelSelector{}.Matches({}));
  for (
      const char* bad :
      {R"({"matchExpressions": [{"key": "b", "operator": "In"}]})",
       R"({"matchExpressions": [{"key": "b", "operator": "Exists", "values": ["x"]}]})",
       R"({"matchExpressions": [{"key": "b", "operator": "Near"}]})",
       R"({"matchLabel": {}})", R"([1])"}) {
    absl::StatusOr<internal::Json> d = internal::ParseJson(bad, {});
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(ParseLabelSelector(*d, "sel").ok()) << bad;
  }
}

}  // namespace
}  // namespace meshcap::cni
