// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap-cni's logic without a kernel: versions, the CNI_* variables, the
// configuration and its errors, per-pod decisions, error JSON, the
// attachment records and GC, STATUS over fake checks, and RunPlugin for
// the commands that need no namespace.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/cni/attachment_store.h"
#include "src/cni/config.h"
#include "src/cni/environment.h"
#include "src/cni/error.h"
#include "src/cni/log.h"
#include "src/cni/plugin.h"
#include "src/cni/pod_policy.h"
#include "src/cni/version.h"
#include "src/state_dir.h"
#include "tests/cni/cni_test_util.h"

namespace meshcap::cni {
namespace {

using ::meshcap::cni::testing::ScopedEnv;
using ::meshcap::cni::testing::TempDir;
using ::meshcap::cni::testing::Tree;
using ::testing::_;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// --- Versions ---------------------------------------------------------------

TEST(VersionTest, ParsesOnlyMajorMinorPatch) {
  EXPECT_EQ(ParseVersion("1.0.0"), (SemVer{1, 0, 0}));
  EXPECT_EQ(ParseVersion("0.4.0"), (SemVer{0, 4, 0}));
  EXPECT_EQ(ParseVersion("10.20.30"), (SemVer{10, 20, 30}));
  for (const char* bad : {"", "1", "1.0", "1.0.0.0", "v1.0.0", " 1.0.0",
                          "1.0.0 ", "1.0.0-rc1", "1..0", "-1.0.0", "a.b.c"}) {
    EXPECT_EQ(ParseVersion(bad), std::nullopt) << bad;
  }
}

TEST(VersionTest, AcceptsZeroFourToOneOne) {
  EXPECT_THAT(SupportedVersions(), ElementsAre("0.4.0", "1.0.0", "1.1.0"));
  for (const char* v : {"0.4.0", "1.0.0", "1.1.0"}) {
    EXPECT_TRUE(IsSupportedVersion(v)) << v;
  }
  for (const char* v :
       {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "1.2.0", "2.0.0", "1.0"}) {
    EXPECT_FALSE(IsSupportedVersion(v)) << v;
  }
}

TEST(VersionTest, ComparesNumerically) {
  EXPECT_TRUE(VersionAtLeast("1.1.0", "1.1.0"));
  EXPECT_TRUE(VersionAtLeast("1.10.0", "1.9.0"));
  EXPECT_FALSE(VersionAtLeast("1.0.0", "1.1.0"));
  EXPECT_FALSE(VersionAtLeast("0.4.0", "1.1.0"));
  EXPECT_FALSE(VersionAtLeast("junk", "0.1.0"));
}

TEST(VersionTest, VersionAnswerEchoesTheRequest) {
  EXPECT_EQ(VersionJson("1.0.0"),
            R"({"cniVersion":"1.0.0","supportedVersions":)"
            R"(["0.4.0","1.0.0","1.1.0"]})");
  EXPECT_EQ(VersionJson(""), R"({"cniVersion":"1.1.0","supportedVersions":)"
                             R"(["0.4.0","1.0.0","1.1.0"]})");
}

// --- Errors
// -------------------------------------------------------------------

TEST(ErrorTest, JsonHasTheSpecsFields) {
  CniError e{7, "invalid 'profile': \"x\"", "expected sidecar"};
  EXPECT_EQ(
      e.ToJson("1.0.0"),
      R"({"cniVersion":"1.0.0","code":7,"msg":"invalid 'profile': \"x\"",)"
      R"("details":"expected sidecar"})");
  EXPECT_EQ((CniError{4, "m", ""}).ToJson("1.1.0"),
            R"({"cniVersion":"1.1.0","code":4,"msg":"m"})");
}

TEST(ErrorTest, MapsEngineStatusesToCodes) {
  EXPECT_EQ(ErrorFromStatus(absl::PermissionDeniedError("x"), "w").code,
            kErrPermission);
  EXPECT_EQ(ErrorFromStatus(absl::DeadlineExceededError(
                                "the xtables lock /r is held by another "
                                "process; waited 10 ms; nothing was changed"),
                            "w")
                .code,
            kErrTryAgainLater);
  EXPECT_EQ(
      ErrorFromStatus(absl::DeadlineExceededError(
                          "the meshcap lock of this network namespace "
                          "(/run/meshcap/netns-4-1.lock) is held by "
                          "process 12; waited 10 ms; nothing was changed"),
                      "w")
          .code,
      kErrTryAgainLater);
  EXPECT_EQ(
      ErrorFromStatus(absl::UnavailableError("the kernel lacks tproxy"), "w")
          .code,
      kErrKernelSupport);
  const CniError e =
      ErrorFromStatus(absl::InvalidArgumentError("rule 3 refused"), "applying");
  EXPECT_EQ(e.code, kErrCapture);
  EXPECT_EQ(e.msg, "applying failed");
  EXPECT_EQ(e.details, "rule 3 refused");
}

// --- CNI_* variables
// ------------------------------------------------------------

GetEnv Env(std::map<std::string, std::string> vars) {
  auto owned =
      std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [owned](const char* name) -> const char* {
    auto it = owned->find(name);
    return it == owned->end() ? nullptr : it->second.c_str();
  };
}

std::map<std::string, std::string> AddVars() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "c1"},
          {"CNI_NETNS", "/run/netns/p1"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_ARGS", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1"},
          {"CNI_PATH", "/opt/cni/bin"}};
}

TEST(EnvironmentTest, ReadsAnAdd) {
  CniOr<CniEnvironment> env = ReadEnvironment(Env(AddVars()));
  ASSERT_TRUE(env.ok()) << env.error().msg;
  EXPECT_EQ(env->command, Command::kAdd);
  EXPECT_EQ(env->container_id, "c1");
  EXPECT_EQ(env->netns, "/run/netns/p1");
  EXPECT_EQ(env->ifname, "eth0");
  EXPECT_EQ(env->PodNamespace(), "shop");
  EXPECT_EQ(env->PodLabel(), "shop/web-1");
}

TEST(EnvironmentTest, NamesTheMissingVariables) {
  auto vars = AddVars();
  vars.erase("CNI_NETNS");
  vars.erase("CNI_IFNAME");
  CniOr<CniEnvironment> env = ReadEnvironment(Env(vars));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, kErrInvalidEnvironment);
  EXPECT_THAT(env.error().msg, HasSubstr("CNI_NETNS, CNI_IFNAME"));

  vars = AddVars();
  vars.erase("CNI_COMMAND");
  env = ReadEnvironment(Env(vars));
  ASSERT_FALSE(env.ok());
  EXPECT_THAT(env.error().msg, HasSubstr("CNI_COMMAND"));
}

TEST(EnvironmentTest, DelNeedsNoNamespaceAndStatusGcVersionNeedNothing) {
  auto vars = AddVars();
  vars["CNI_COMMAND"] = "DEL";
  vars.erase("CNI_NETNS");
  EXPECT_TRUE(ReadEnvironment(Env(vars)).ok());
  for (const char* c : {"STATUS", "GC", "VERSION"}) {
    CniOr<CniEnvironment> env = ReadEnvironment(Env({{"CNI_COMMAND", c}}));
    EXPECT_TRUE(env.ok()) << c;
  }
}

TEST(EnvironmentTest, RefusesUnknownCommandsAndMalformedValues) {
  auto vars = AddVars();
  vars["CNI_COMMAND"] = "FROB";
  CniOr<CniEnvironment> env = ReadEnvironment(Env(vars));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code, kErrInvalidEnvironment);
  EXPECT_THAT(env.error().msg, HasSubstr("'FROB'"));

  vars = AddVars();
  vars["CNI_CONTAINERID"] = "-bad/id";
  env = ReadEnvironment(Env(vars));
  ASSERT_FALSE(env.ok());
  EXPECT_THAT(env.error().msg, HasSubstr("CNI_CONTAINERID '-bad/id'"));

  vars = AddVars();
  vars["CNI_IFNAME"] = "a/b";
  env = ReadEnvironment(Env(vars));
  ASSERT_FALSE(env.ok());
  EXPECT_THAT(env.error().msg, HasSubstr("CNI_IFNAME 'a/b'"));

  vars = AddVars();
  vars["CNI_ARGS"] = "K8S_POD_NAMESPACE=a;garbage";
  env = ReadEnvironment(Env(vars));
  ASSERT_FALSE(env.ok());
  EXPECT_THAT(env.error().msg, HasSubstr("CNI_ARGS: 'garbage'"));
}

TEST(EnvironmentTest, IdentifiersAndInterfaceNames) {
  EXPECT_TRUE(IsValidIdentifier("a"));
  EXPECT_TRUE(IsValidIdentifier("9f_x.y-z"));
  EXPECT_FALSE(IsValidIdentifier(""));
  EXPECT_FALSE(IsValidIdentifier(".a"));
  EXPECT_FALSE(IsValidIdentifier("a@b"));
  EXPECT_FALSE(IsValidIdentifier("a/b"));
  EXPECT_TRUE(IsValidInterfaceName("eth0"));
  EXPECT_TRUE(IsValidInterfaceName("123456789012345"));
  EXPECT_FALSE(IsValidInterfaceName("1234567890123456"));
  for (const char* bad : {"", ".", "..", "a b", "a:b", "a/b"}) {
    EXPECT_FALSE(IsValidInterfaceName(bad)) << bad;
  }
}

// --- Configuration
// ------------------------------------------------------------

CniOr<PluginConfig> Parse(const std::string& text,
                          Command command = Command::kAdd) {
  std::string version;
  return ParseConfig(text, command, &version);
}

// A configuration with `extra` keys spliced in.
std::string Config(const std::string& extra = "",
                   const std::string& version = "1.0.0") {
  return R"({"cniVersion": ")" + version +
         R"(", "name": "pods", "type": "meshcap-cni")" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

MATCHER_P2(IsCniError, code, msg_matcher, "") {
  if (arg.ok()) {
    *result_listener << "succeeded";
    return false;
  }
  *result_listener << "code " << arg.error().code << ", msg " << arg.error().msg
                   << ", details " << arg.error().details;
  return arg.error().code == code &&
         ::testing::ExplainMatchResult(msg_matcher, arg.error().msg,
                                       result_listener);
}

TEST(ConfigTest, DefaultsForAMinimalEntry) {
  CniOr<PluginConfig> c = Parse(Config());
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->cni_version, "1.0.0");
  EXPECT_EQ(c->name, "pods");
  EXPECT_EQ(c->type, "meshcap-cni");
  EXPECT_EQ(c->profile, std::nullopt);
  EXPECT_EQ(c->backend, "auto");
  EXPECT_EQ(c->policy_json, "{}");
  EXPECT_THAT(c->exclude_namespaces, IsEmpty());
  EXPECT_EQ(c->log_level, LogLevel::kWarn);
  EXPECT_EQ(c->prev_result_json, std::nullopt);
  EXPECT_THAT(c->overrides, IsEmpty());
}

TEST(ConfigTest, ReadsEveryKey) {
  CniOr<PluginConfig> c = Parse(Config(
      R"("podSelection": "all", "profile": "ambient", "backend": "iptables-legacy",
         "policy": {"RedirectDNS": true}, "excludeNamespaces": ["kube-system"],
         "logLevel": "debug", "logFile": "/var/log/m.log",
         "capabilities": {"meshcap": true},
         "prevResult": {"cniVersion": "1.0.0", "ips": [], "dns": {}})"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->profile, "ambient");
  EXPECT_EQ(c->backend, "iptables-legacy");
  EXPECT_EQ(c->policy_json, R"({"RedirectDNS":true})");
  EXPECT_THAT(c->exclude_namespaces, ElementsAre("kube-system"));
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_EQ(c->log_file, "/var/log/m.log");
  // Byte for byte: the result is the previous plugin's, unchanged.
  EXPECT_EQ(c->prev_result_json,
            R"({"cniVersion": "1.0.0", "ips": [], "dns": {}})");
}

TEST(ConfigTest, APrevResultWithoutAVersionGetsTheConfigurations) {
  CniOr<PluginConfig> c =
      Parse(Config(R"("prevResult": {"ips": [], "dns": {}})", "0.4.0"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->prev_result_json,
            R"({"cniVersion":"0.4.0","ips": [], "dns": {}})");
  c = Parse(Config(R"("prevResult": { })", "0.4.0"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->prev_result_json, R"({"cniVersion":"0.4.0" })");
}

TEST(ConfigTest, BadJsonIsADecodingFailure) {
  EXPECT_THAT(Parse("{\"cniVersion\": "),
              IsCniError(kErrDecodingFailure, HasSubstr("not valid JSON")));
  EXPECT_THAT(Parse("[1]"),
              IsCniError(kErrDecodingFailure, HasSubstr("not a JSON object")));
  EXPECT_THAT(Parse(""), IsCniError(kErrDecodingFailure, _));
}

TEST(ConfigTest, VersionsOutsideZeroFourToOneOneAreIncompatible) {
  EXPECT_THAT(Parse(R"({"name": "pods", "type": "meshcap-cni"})"),
              IsCniError(kErrIncompatibleVersion, "incompatible CNI versions"));
  CniOr<PluginConfig> c = Parse(Config("", "0.3.1"));
  ASSERT_THAT(c, IsCniError(kErrIncompatibleVersion, _));
  EXPECT_THAT(c.error().details,
              AllOf(HasSubstr("\"0.3.1\""), HasSubstr("0.4.0, 1.0.0, 1.1.0")));
  EXPECT_THAT(Parse(R"({"cniVersion": 1, "name": "pods", "type": "x"})"),
              IsCniError(kErrIncompatibleVersion, _));
  for (const char* v : {"0.4.0", "1.0.0", "1.1.0"}) {
    EXPECT_TRUE(Parse(Config("", v)).ok()) << v;
  }
}

TEST(ConfigTest, StatusAndGcNeedOneOne) {
  for (Command cmd : {Command::kStatus, Command::kGc}) {
    EXPECT_THAT(Parse(Config(), cmd),
                IsCniError(kErrIncompatibleVersion,
                           HasSubstr("does not allow " +
                                     std::string(CommandName(cmd)))));
    EXPECT_TRUE(Parse(Config("", "1.1.0"), cmd).ok());
  }
}

TEST(ConfigTest, ErrorsCarryTheConfigurationsVersion) {
  std::string version;
  EXPECT_FALSE(
      ParseConfig(Config(R"("bogus": 1)", "0.4.0"), Command::kAdd, &version)
          .ok());
  EXPECT_EQ(version, "0.4.0");
  EXPECT_FALSE(ParseConfig(Config("", "9.9.9"), Command::kAdd, &version).ok());
  EXPECT_EQ(version, "1.1.0");
}

TEST(ConfigTest, UnknownKeysAreUnsupportedFieldsNamedWithTheirValue) {
  EXPECT_THAT(Parse(Config(R"("excludeNamespace": ["a"])")),
              IsCniError(kErrUnsupportedField,
                         "unsupported field 'excludeNamespace' with value "
                         "[\"a\"]"));
  EXPECT_THAT(Parse(Config(R"("policy": {"ProxyPorts": "15001"})")),
              IsCniError(kErrUnsupportedField,
                         "unsupported field 'policy.ProxyPorts' with value "
                         "\"15001\""));
  EXPECT_THAT(
      Parse(Config(R"("runtimeConfig": {"meshcap": {"polcy": {}}})")),
      IsCniError(kErrUnsupportedField,
                 HasSubstr("'runtimeConfig.meshcap.polcy' with value {}")));
  // Keys for runtimes and other plugins' capabilities are not ours to judge.
  EXPECT_TRUE(Parse(Config(R"("cni.dev/future": 1,
                              "runtimeConfig": {"portMappings": []},
                              "args": {"cni": {"ips": ["10.0.0.1"]}})"))
                  .ok());
}

TEST(ConfigTest, NativeNftablesPicksTheBackendAsIstioCniDoes) {
  CniOr<PluginConfig> c = Parse(Config(R"("native_nftables": false)"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->backend, "iptables");  // legacy if it holds rules, else nft
  c = Parse(Config(R"("native_nftables": true)"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->backend, "nftables");
  c = Parse(Config(R"("backend": "iptables")"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->backend, "iptables");
  c = Parse(Config(R"("backend": "iptables-nft", "native_nftables": false)"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_EQ(c->backend, "iptables-nft");
}

TEST(ConfigTest, BadValuesAreInvalidConfigNamedWithTheValue) {
  EXPECT_THAT(Parse(Config(R"("profile": "mesh")")),
              IsCniError(kErrInvalidConfig, "invalid 'profile': \"mesh\""));
  EXPECT_THAT(
      Parse(Config(R"("backend": "iptables-ng")")),
      IsCniError(kErrInvalidConfig, "invalid 'backend': \"iptables-ng\""));
  EXPECT_THAT(Parse(Config(R"("policy": "ProxyPort=1")")),
              IsCniError(kErrInvalidConfig, HasSubstr("invalid 'policy'")));
  EXPECT_THAT(Parse(Config(R"("excludeNamespaces": "kube-system")")),
              IsCniError(kErrInvalidConfig,
                         "invalid 'excludeNamespaces': \"kube-system\""));
  EXPECT_THAT(Parse(Config(R"("excludeNamespaces": [1])")),
              IsCniError(kErrInvalidConfig, "invalid 'excludeNamespaces': 1"));
  EXPECT_THAT(Parse(Config(R"("logLevel": "loud")")),
              IsCniError(kErrInvalidConfig, "invalid 'logLevel': \"loud\""));
  EXPECT_THAT(Parse(Config(R"("logFile": "rel.log")")),
              IsCniError(kErrInvalidConfig, "invalid 'logFile': \"rel.log\""));
  EXPECT_THAT(Parse(Config(R"("prevResult": 3)")),
              IsCniError(kErrInvalidConfig, "invalid 'prevResult': 3"));
  EXPECT_THAT(Parse(Config(R"("args": {"cni": {"meshcap": {"skip": "yes"}}})")),
              IsCniError(kErrInvalidConfig,
                         "invalid 'args.cni.meshcap.skip': \"yes\""));
  EXPECT_THAT(Parse(R"({"cniVersion": "1.0.0", "name": "a b", "type": "x"})"),
              IsCniError(kErrInvalidConfig, "invalid 'name': \"a b\""));
  EXPECT_THAT(Parse(R"({"cniVersion": "1.0.0", "type": "x"})"),
              IsCniError(kErrInvalidConfig, HasSubstr("no 'name'")));
  EXPECT_THAT(Parse(R"({"cniVersion": "1.0.0", "name": "pods"})"),
              IsCniError(kErrInvalidConfig, HasSubstr("no 'type'")));
}

TEST(ConfigTest, AKeyGivenTwiceIsRefusedAtAnyDepth) {
  EXPECT_THAT(Parse(Config(R"("profile": "sidecar", "profile": "ambient")")),
              IsCniError(kErrInvalidConfig,
                         HasSubstr("'profile' is given twice in the top "
                                   "level")));
  EXPECT_THAT(
      Parse(Config(R"("policy": {"ProxyPort": "1", "ProxyPort": "2"})")),
      IsCniError(kErrInvalidConfig,
                 HasSubstr("'ProxyPort' is given twice in policy")));
  // The same key in sibling objects is fine.
  EXPECT_TRUE(Parse(Config(R"("policy": {"ProxyPort": "1"},
                              "runtimeConfig": {"meshcap": {"policy":
                                  {"ProxyPort": "2"}}})"))
                  .ok());
}

// DEL reads none of the per-pod data, so no shape of them may refuse it
// (a refused DEL wedges the pod); ADD and CHECK refuse them naming the key.
TEST(ConfigTest, DelTakesPerPodDataOfAnyShapeAddAndCheckNameTheKey) {
  const std::string deep = std::string(50000, '[') + std::string(50000, ']');
  for (const char* key : {"args", "runtimeConfig", "prevResult"}) {
    for (const std::string& value :
         {std::string("5"), std::string(R"("x")"), std::string("null"),
          std::string("true"), std::string("[]"), std::string("[[1], {}]"),
          deep}) {
      const std::string text =
          Config("\"" + std::string(key) + "\": " + value, "1.1.0");
      SCOPED_TRACE(std::string(key) + "=" + value.substr(0, 20));
      CniOr<PluginConfig> del = Parse(text, Command::kDel);
      ASSERT_TRUE(del.ok()) << del.error().msg;
      EXPECT_EQ(del->name, "pods");
      EXPECT_EQ(del->prev_result_json, std::nullopt);
      EXPECT_THAT(del->overrides, IsEmpty());
      for (Command cmd : {Command::kAdd, Command::kCheck}) {
        CniOr<PluginConfig> c = Parse(text, cmd);
        ASSERT_FALSE(c.ok());
        if (value == deep) {
          EXPECT_EQ(c.error().code, kErrDecodingFailure);
          EXPECT_THAT(
              c.error().details,
              HasSubstr("nested deeper than 64 levels at " + std::string(key)));
        } else {
          EXPECT_EQ(c.error().code, kErrInvalidConfig);
          EXPECT_THAT(c.error().msg,
                      HasSubstr("invalid '" + std::string(key) + "'"));
        }
      }
    }
  }
  // DEL still needs the document itself to be JSON, within the bounds.
  EXPECT_THAT(Parse(Config(R"("args": [)", "1.1.0"), Command::kDel),
              IsCniError(kErrDecodingFailure, HasSubstr("not valid JSON")));
  EXPECT_THAT(Parse(Config(R"("args": {"a": 1, "a": 2})", "1.1.0") + "x",
                    Command::kDel),
              IsCniError(kErrDecodingFailure, _));
  EXPECT_THAT(Parse(std::string(kMaxConfigBytes + 1, ' '), Command::kDel),
              IsCniError(kErrDecodingFailure, _));
}

TEST(ConfigTest, OverridesComeArgsFirstWhateverTheKeyOrder) {
  CniOr<PluginConfig> c = Parse(Config(
      R"("runtimeConfig": {"meshcap": {"profile": "ambient"}},
         "args": {"cni": {"meshcap": {"skip": false,
                                      "policy": {"ProxyPort": "15009"}}}})"));
  ASSERT_TRUE(c.ok()) << c.error().msg;
  ASSERT_EQ(c->overrides.size(), 2u);
  EXPECT_EQ(c->overrides[0].origin, "args.cni.meshcap");
  EXPECT_EQ(c->overrides[0].skip, false);
  EXPECT_EQ(c->overrides[0].policy_json, R"({"ProxyPort":"15009"})");
  EXPECT_EQ(c->overrides[1].origin, "runtimeConfig.meshcap");
  EXPECT_EQ(c->overrides[1].profile, "ambient");
}

TEST(ConfigTest, ReadsValidAttachmentsUnderEitherName) {
  CniOr<PluginConfig> c =
      Parse(Config(R"("cni.dev/valid-attachments": [{"containerID": "a",
                                               "ifname": "eth0"}])",
                   "1.1.0"),
            Command::kGc);
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_THAT(*c->valid_attachments, ElementsAre(Attachment{"a", "eth0"}));
  c = Parse(Config(R"("cni.dev/attachments": [{"containerID": "b",
                                              "ifname": "net1"}])",
                   "1.1.0"),
            Command::kGc);
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_THAT(*c->valid_attachments, ElementsAre(Attachment{"b", "net1"}));
  // Both: the current name wins, whatever the order.
  c = Parse(Config(R"("cni.dev/attachments": [{"containerID": "old"}],
                      "cni.dev/valid-attachments": [{"containerID": "new"}])",
                   "1.1.0"),
            Command::kGc);
  ASSERT_TRUE(c.ok()) << c.error().msg;
  EXPECT_THAT(*c->valid_attachments, ElementsAre(Attachment{"new", ""}));
  EXPECT_THAT(
      Parse(Config(R"("cni.dev/valid-attachments": [{"ifname": "eth0"}])",
                   "1.1.0"),
            Command::kGc),
      IsCniError(kErrInvalidConfig, HasSubstr("'cni.dev/valid-attachments'")));
}

// --- Per-pod decisions
// ----------------------------------------------------------

CniEnvironment Pod(const std::string& ns) {
  CniEnvironment env;
  env.command = Command::kAdd;
  env.container_id = "c1";
  env.ifname = "eth0";
  if (!ns.empty()) env.args["K8S_POD_NAMESPACE"] = ns;
  return env;
}

// Decisions with "podSelection": "all": the istio selection has its own
// tests (istio_cni_test.cc).
CniOr<PodDecision> Decide(const std::string& extra,
                          const std::string& ns = "shop") {
  CniOr<PluginConfig> c =
      Parse(Config(extra.empty() ? R"("podSelection": "all")"
                                 : R"("podSelection": "all", )" + extra));
  if (!c.ok()) return c.error();
  return DecidePod(*c, Pod(ns), nullptr, nullptr, true);
}

TEST(PodPolicyTest, ExcludedNamespacesAreLeftAlone) {
  const std::string extra = R"("excludeNamespaces": ["kube-system", "istio"])";
  CniOr<PodDecision> d = Decide(extra, "kube-system");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->skip);
  EXPECT_EQ(d->reason, "namespace 'kube-system' is in excludeNamespaces");
  EXPECT_FALSE(d->policy.has_value());
  d = Decide(extra, "shop");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->skip);
  EXPECT_TRUE(d->policy.has_value());
  // Not a Kubernetes pod: nothing to match.
  d = Decide(extra, "");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->skip);
}

TEST(PodPolicyTest, OverridesDecideSkipLastOneWins) {
  CniOr<PodDecision> d = Decide(R"("excludeNamespaces": ["kube-system"],
                "args": {"cni": {"meshcap": {"skip": false}}})",
                                "kube-system");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->skip);
  d = Decide(R"("args": {"cni": {"meshcap": {"skip": false}}},
                "runtimeConfig": {"meshcap": {"skip": true}})");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->skip);
  EXPECT_EQ(d->reason, "runtimeConfig.meshcap.skip is true");
}

TEST(PodPolicyTest, PolicyKeysAreLaidOverKeyByKey) {
  CniOr<PodDecision> d = Decide(
      R"("policy": {"ProxyPort": "15001", "InboundPortsInclude": "*",
                    "InboundPortsExclude": "15090"},
         "args": {"cni": {"meshcap": {"policy": {"ProxyPort": "15002",
                                                 "ProxyUID": "1000"}}}},
         "runtimeConfig": {"meshcap": {"policy": {"ProxyPort": "15003"}}})");
  ASSERT_TRUE(d.ok()) << d.error().msg;
  ASSERT_TRUE(d->policy.has_value());
  EXPECT_EQ(d->policy->proxy_port(), 15003);
  EXPECT_THAT(d->policy->proxy_uids(), ElementsAre(1000u));
  EXPECT_TRUE(d->policy->inbound_ports().all);
  EXPECT_THAT(d->policy->inbound_ports_exclude(), ElementsAre(15090));
}

TEST(PodPolicyTest, ProfileComesFromTheConfigOrAnOverride) {
  CniOr<PodDecision> d = Decide(R"("profile": "ambient")");
  ASSERT_TRUE(d.ok()) << d.error().msg;
  EXPECT_EQ(d->policy->profile(), Profile::kAmbient);
  d = Decide(R"("policy": {"Profile": "ambient"})");
  ASSERT_TRUE(d.ok()) << d.error().msg;
  EXPECT_EQ(d->policy->profile(), Profile::kAmbient);
  d = Decide(R"("profile": "ambient",
                "runtimeConfig": {"meshcap": {"profile": "sidecar"}})");
  ASSERT_TRUE(d.ok()) << d.error().msg;
  EXPECT_EQ(d->policy->profile(), Profile::kSidecar);
  d = Decide("");
  ASSERT_TRUE(d.ok()) << d.error().msg;
  EXPECT_EQ(d->policy->profile(), Profile::kSidecar);
}

TEST(PodPolicyTest, BadPolicyValuesNameTheKeyTheValueAndTheSource) {
  EXPECT_THAT(
      Decide(R"("policy": {"ProxyPort": "0"})"),
      IsCniError(kErrInvalidConfig, AllOf(HasSubstr("policy: key 'ProxyPort'"),
                                          HasSubstr("'0'"))));
  EXPECT_THAT(Decide(R"("runtimeConfig": {"meshcap": {"policy":
                 {"OutboundIPRangesExclude": "10.0.0.0/33"}}})"),
              IsCniError(kErrInvalidConfig,
                         AllOf(HasSubstr("runtimeConfig.meshcap.policy: key "
                                         "'OutboundIPRangesExclude'"),
                               HasSubstr("10.0.0.0/33"))));
  EXPECT_THAT(Decide(R"("policy": {"ProxyPort": 1.5})"),
              IsCniError(kErrInvalidConfig, HasSubstr("'ProxyPort'")));
  // A knob of the other profile.
  EXPECT_THAT(Decide(R"("profile": "ambient",
                        "policy": {"InboundPortsExclude": "22"})"),
              IsCniError(kErrInvalidConfig, HasSubstr("InboundPortsExclude")));
}

TEST(PodPolicyTest, ProfileAndPolicyProfileMustAgree) {
  EXPECT_THAT(Decide(R"("profile": "sidecar",
                        "policy": {"Profile": "ambient"})"),
              IsCniError(kErrInvalidConfig,
                         HasSubstr("'profile' is 'sidecar' but "
                                   "'policy.Profile' is \"ambient\"")));
  EXPECT_TRUE(Decide(R"("profile": "ambient",
                        "policy": {"Profile": "ambient"})")
                  .ok());
}

// --- Attachment records and GC
// -----------------------------------------------------

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  std::string Path(const std::string& rel) const {
    return dir_.path() + "/" + rel;
  }
  void Touch(const std::string& rel) const { std::ofstream(Path(rel)) << "x"; }
  static AttachmentRecord Record(const std::string& cid, uint64_t cookie,
                                 const std::string& ifname = "eth0") {
    return AttachmentRecord{
        {cid, ifname}, "/run/netns/" + cid, "netns-4-" + std::to_string(cookie),
        cookie,        "nftables",          "0123456789abcdef",
        "{}"};
  }
  AttachmentStore Store(const std::string& network = "pods") {
    absl::StatusOr<AttachmentStore> s =
        AttachmentStore::Open(dir_.path(), network, true);
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }
  // Saves `r` as ADD does: under the namespace's lock.
  void Save(AttachmentStore& store, const AttachmentRecord& r) {
    absl::StatusOr<internal::FileLock> lock =
        store.LockNamespace(r.NamespaceId(), std::chrono::seconds(1));
    ASSERT_TRUE(lock.ok()) << lock.status();
    ASSERT_TRUE(store.Save(r).ok());
  }

  TempDir dir_;
};

TEST_F(StoreTest, SavesAndLoadsARecordWithItsNamespaceEntry) {
  AttachmentStore store = Store();
  Save(store, Record("c1", 100));
  EXPECT_THAT(
      Tree(dir_.path()),
      ElementsAre("cni", "cni/.ns", "cni/.ns/cookie-100",
                  "cni/.ns/cookie-100.lock", "cni/.ns/cookie-100/pods+c1@eth0",
                  "cni/pods", "cni/pods/c1@eth0.json"));
  LoadedRecord r = store.Load({"c1", "eth0"});
  ASSERT_TRUE(r.record.has_value()) << r.unreadable;
  EXPECT_EQ(r.record->netns, "/run/netns/c1");
  EXPECT_EQ(r.record->netns_key, "netns-4-100");
  EXPECT_EQ(r.record->netns_cookie, 100u);
  EXPECT_EQ(r.record->backend, "nftables");
  EXPECT_EQ(r.record->NamespaceId(), "cookie-100");
  EXPECT_FALSE(store.Load({"c1", "eth1"}).record.has_value());
  EXPECT_TRUE(store.Load({"c1", "eth1"}).unreadable.empty());
}

TEST_F(StoreTest, SharingSeesOtherAttachmentsOfTheNamespaceInAnyNetwork) {
  AttachmentStore pods = Store();
  AttachmentStore mesh2 = Store("mesh2");
  Save(pods, Record("c1", 100));
  Save(pods, Record("c1", 100, "net1"));
  Save(mesh2, Record("c2", 100));
  Save(pods, Record("c3", 200));
  std::vector<std::string> ids;
  for (const AttachmentRecord& r : pods.Sharing("cookie-100", {"c1", "eth0"})) {
    ids.push_back(r.attachment.container_id + "/" + r.attachment.ifname);
  }
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("c1/net1", "c2/eth0"));
  EXPECT_THAT(pods.Sharing("cookie-200", {"c3", "eth0"}), IsEmpty());
  // An entry whose record is gone shares nothing.
  ASSERT_TRUE(mesh2.Forget({"c2", "eth0"}, "", nullptr).ok());
  EXPECT_EQ(pods.Sharing("cookie-100", {"c1", "eth0"}).size(), 1u);
}

TEST_F(StoreTest, ForgetThenForgetNamespaceLeaveNothingButOtherNamespaces) {
  AttachmentStore store = Store();
  Save(store, Record("c1", 100));
  Save(store, Record("c2", 200));
  Touch("netns-4-100.intent");
  Touch("netns-4-200.intent");
  Touch("cni/pods/c1@eth0.json.tmp");
  std::vector<std::string> removed;
  ASSERT_TRUE(store.Forget({"c1", "eth0"}, "cookie-100", &removed).ok());
  absl::StatusOr<internal::FileLock> lock =
      store.LockNamespace("cookie-100", std::chrono::seconds(1));
  ASSERT_TRUE(lock.ok());
  store.ForgetNamespace("cookie-100", "netns-4-100", *lock, &removed);
  EXPECT_THAT(
      Tree(dir_.path()),
      ElementsAre("cni", "cni/.ns", "cni/.ns/cookie-200",
                  "cni/.ns/cookie-200.lock", "cni/.ns/cookie-200/pods+c2@eth0",
                  "cni/pods", "cni/pods/c2@eth0.json", "netns-4-200.intent"));
  EXPECT_EQ(removed.size(), 6u);
  // Again: nothing left to remove, still fine.
  removed.clear();
  EXPECT_TRUE(store.Forget({"c1", "eth0"}, "cookie-100", &removed).ok());
  EXPECT_THAT(removed, IsEmpty());
}

TEST_F(StoreTest, ForgetNamespaceNeverRemovesAFileARecordNames) {
  TempDir elsewhere;
  const std::string victim = elsewhere.path() + "/keep.intent";
  std::ofstream(victim) << "x";
  AttachmentStore store = Store();
  AttachmentRecord r = Record("c1", 100);
  r.netns_key = "../../" + elsewhere.path() + "/keep";
  Save(store, r);
  absl::StatusOr<internal::FileLock> lock =
      store.LockNamespace("cookie-100", std::chrono::seconds(1));
  ASSERT_TRUE(lock.ok());
  store.ForgetNamespace("cookie-100", r.netns_key, *lock, nullptr);
  EXPECT_TRUE(std::filesystem::exists(victim));
}

TEST_F(StoreTest, RecordsOfAnyShapeAreReadAsUntrustedInput) {
  AttachmentStore store = Store();
  const std::pair<const char*, const char*> bad[] = {
      {"not json", "not a record"},
      {R"({"containerID": 1, "ifname": "eth0", "netns": "", "netnsKey": "",
           "backend": ""})",
       "wrong type"},
      {R"({"containerID": "c1", "ifname": "eth0", "netns": "",
           "netnsKey": "", "backend": "", "netnsCookie": "x"})",
       "wrong type"},
      {R"({"containerID": "other", "ifname": "eth0", "netns": "",
           "netnsKey": "", "backend": ""})",
       "record of container 'other'"},
      {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
       "deeper than"},
  };
  for (const auto& [text, why] : bad) {
    std::ofstream(Path("cni/pods/c1@eth0.json")) << text;
    LoadedRecord r = store.Load({"c1", "eth0"});
    EXPECT_FALSE(r.record.has_value()) << text;
    EXPECT_THAT(r.unreadable, HasSubstr(why)) << text;
  }
  // A link planted in the record's place is not followed.
  TempDir elsewhere;
  const std::string target = elsewhere.path() + "/target.json";
  std::ofstream(target) << R"({"containerID": "c1"})";
  std::filesystem::remove(Path("cni/pods/c1@eth0.json"));
  std::filesystem::create_symlink(target, Path("cni/pods/c1@eth0.json"));
  LoadedRecord r = store.Load({"c1", "eth0"});
  EXPECT_FALSE(r.record.has_value());
  EXPECT_THAT(r.unreadable, HasSubstr("symbolic link"));
}

TEST_F(StoreTest, LongIdsAndNetworkNamesGetShortFileNames) {
  const std::string id(300, 'a');
  const std::string network(250, 'n');
  AttachmentStore store = Store(network);
  Save(store, Record(id, 100));
  LoadedRecord r = store.Load({id, "eth0"});
  ASSERT_TRUE(r.record.has_value()) << r.unreadable;
  EXPECT_EQ(r.record->attachment.container_id, id);
  for (const std::string& f : Tree(dir_.path())) {
    EXPECT_LE(std::filesystem::path(f).filename().string().size(), 255u) << f;
  }
  // Another long ID with the same first bytes is another file.
  const std::string id2 = std::string(299, 'a') + "b";
  EXPECT_FALSE(store.Load({id2, "eth0"}).record.has_value());
  EXPECT_EQ(store.Sharing("cookie-100", {id2, "eth0"}).size(), 1u);
}

TEST_F(StoreTest, ARecordIsWrittenOnlyIfItCanBeReadBack) {
  AttachmentStore store = Store();
  AttachmentRecord r = Record("", 100);
  const size_t rest = AttachmentStore::RecordBytes(r);
  // The biggest record Load reads back: written and read.
  r.attachment.container_id = std::string(kMaxRecordBytes - rest, 'a');
  ASSERT_EQ(AttachmentStore::RecordBytes(r), kMaxRecordBytes);
  Save(store, r);
  LoadedRecord loaded = store.Load(r.attachment);
  ASSERT_TRUE(loaded.record.has_value()) << loaded.unreadable;
  EXPECT_EQ(loaded.record->attachment, r.attachment);
  ASSERT_TRUE(store.Forget(r.attachment, "cookie-100", nullptr).ok());
  // One byte more: refused, nothing written.
  r.attachment.container_id += "a";
  ASSERT_EQ(AttachmentStore::RecordBytes(r), kMaxRecordBytes + 1);
  absl::Status s = store.Save(r);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr("65537 bytes"), HasSubstr("container ID of"),
                    HasSubstr("more than the 65536")));
  EXPECT_THAT(Tree(Path("cni/pods")), IsEmpty());
}

TEST_F(StoreTest, CollectKeepsARecordTooBigToReadButNotOtherUnreadableOnes) {
  AttachmentStore store = Store();
  // An older build's record of a container ID of 64 KiB, and a file that
  // is no record at all.
  const std::string big = Path("cni/pods/big@eth0.json");
  std::ofstream(big) << R"({"containerID": ")"
                     << std::string(kMaxRecordBytes, 'b') << R"("})";
  std::ofstream(Path("cni/pods/junk@eth0.json")) << "not json";
  const auto old =
      std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5);
  std::filesystem::last_write_time(big, old);
  std::filesystem::last_write_time(Path("cni/pods/junk@eth0.json"), old);
  LoadedRecord r = store.Load({"big", "eth0"});
  EXPECT_FALSE(r.record.has_value());
  EXPECT_TRUE(r.oversized) << r.unreadable;
  EXPECT_FALSE(store.Load({"junk", "eth0"}).oversized);
  ASSERT_TRUE(
      store.Collect({}, std::chrono::system_clock::now(), nullptr).ok());
  EXPECT_TRUE(std::filesystem::exists(big));
  EXPECT_FALSE(std::filesystem::exists(Path("cni/pods/junk@eth0.json")));
}

TEST_F(StoreTest, ADirectoryOthersCanWriteOrALinkIsRefused) {
  ASSERT_EQ(chmod(dir_.path().c_str(), 0777), 0);
  absl::StatusOr<AttachmentStore> s =
      AttachmentStore::Open(dir_.path(), "pods", true);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(internal::IsStateError(s.status()));
  EXPECT_THAT(std::string(s.status().message()),
              AllOf(HasSubstr(dir_.path()), HasSubstr("0777")));
  ASSERT_EQ(chmod(dir_.path().c_str(), 0700), 0);
  TempDir elsewhere;
  std::filesystem::create_directory_symlink(elsewhere.path(), Path("cni"));
  s = AttachmentStore::Open(dir_.path(), "pods", true);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("symbolic link"));
  EXPECT_THAT(Tree(elsewhere.path()), IsEmpty());
}

TEST_F(StoreTest, CollectForgetsOnlyWhatTheRuntimeNoLongerLists) {
  AttachmentStore store = Store();
  AttachmentStore other = Store("othernet");
  for (uint64_t i : {1, 2, 3}) {
    Save(store, Record(i == 1 ? "keep" : "stale" + std::to_string(i), i));
    Touch("netns-4-" + std::to_string(i) + ".intent");
  }
  // Another network's attachment in stale2's namespace keeps its intent.
  Save(other, Record("x", 2));
  Touch("cni/pods/README");  // not ours by name: left alone
  // A temporary file of a write long dead.
  Touch("cni/pods/dead@eth0.json.tmp");
  const auto old =
      std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5);
  std::filesystem::last_write_time(Path("cni/pods/dead@eth0.json.tmp"), old);
  std::vector<std::string> removed;
  ASSERT_TRUE(
      store
          .Collect({{"keep", "eth0"}},
                   std::chrono::system_clock::now() + std::chrono::seconds(1),
                   &removed)
          .ok());
  EXPECT_THAT(
      Tree(dir_.path()),
      ElementsAre("cni", "cni/.ns", "cni/.ns/cookie-1", "cni/.ns/cookie-1.lock",
                  "cni/.ns/cookie-1/pods+keep@eth0", "cni/.ns/cookie-2",
                  "cni/.ns/cookie-2.lock", "cni/.ns/cookie-2/othernet+x@eth0",
                  "cni/othernet", "cni/othernet/x@eth0.json", "cni/pods",
                  "cni/pods/README", "cni/pods/keep@eth0.json",
                  "netns-4-1.intent", "netns-4-2.intent"));
}

TEST_F(StoreTest, CollectSparesAddsInFlightAndRecordsNewerThanItsList) {
  AttachmentStore store = Store();
  Save(store, Record("busy", 1));
  Save(store, Record("fresh", 2));
  absl::StatusOr<internal::FileLock> busy =
      store.LockNamespace("cookie-1", std::chrono::seconds(1));
  ASSERT_TRUE(busy.ok());
  // The list was made before "fresh" was recorded.
  const auto since = std::chrono::system_clock::now() - std::chrono::seconds(5);
  ASSERT_TRUE(store.Collect({}, since, nullptr).ok());
  EXPECT_TRUE(store.Load({"busy", "eth0"}).record.has_value());
  EXPECT_TRUE(store.Load({"fresh", "eth0"}).record.has_value());
  busy->RemoveAndRelease();
  ASSERT_TRUE(
      store
          .Collect({},
                   std::chrono::system_clock::now() + std::chrono::seconds(1),
                   nullptr)
          .ok());
  EXPECT_FALSE(store.Load({"busy", "eth0"}).record.has_value());
  EXPECT_FALSE(store.Load({"fresh", "eth0"}).record.has_value());
}

// ADD stamps its record last, under the namespace's lock; GC spares an
// attachment stamped at or after its start. The stamp has the clock's full
// resolution: the kernel's own stamp of a write can be a tick older than a
// time read before the write.
TEST_F(StoreTest, CollectSparesARecordStampedSinceItStarted) {
  AttachmentStore store = Store();
  Save(store, Record("done", 1));
  Save(store, Record("late", 2));
  const auto old =
      std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5);
  std::filesystem::last_write_time(Path("cni/pods/done@eth0.json"), old);
  std::filesystem::last_write_time(Path("cni/pods/late@eth0.json"), old);
  const auto since = std::chrono::system_clock::now();
  ASSERT_TRUE(store.Stamp({"late", "eth0"}).ok());
  struct stat st;
  ASSERT_EQ(stat(Path("cni/pods/late@eth0.json").c_str(), &st), 0);
  EXPECT_GE(std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::seconds(st.st_mtim.tv_sec) +
                    std::chrono::nanoseconds(st.st_mtim.tv_nsec))),
            since);
  ASSERT_TRUE(store.Collect({}, since, nullptr).ok());
  EXPECT_FALSE(store.Load({"done", "eth0"}).record.has_value());
  EXPECT_TRUE(store.Load({"late", "eth0"}).record.has_value());
  EXPECT_TRUE(absl::IsNotFound(store.Stamp({"never", "eth0"})));
}

TEST_F(StoreTest, CollectWithAnEntryWithoutIfnameKeepsTheContainer) {
  AttachmentStore store = Store();
  Save(store, Record("c1", 1));
  const auto later = std::chrono::system_clock::now() + std::chrono::seconds(1);
  ASSERT_TRUE(store.Collect({{"c1", ""}}, later, nullptr).ok());
  EXPECT_TRUE(store.Load({"c1", "eth0"}).record.has_value());
  ASSERT_TRUE(store.Collect({}, later, nullptr).ok());
  EXPECT_THAT(Tree(dir_.path()), ElementsAre("cni", "cni/.ns", "cni/pods"));
}

TEST_F(StoreTest, CollectSweepsNamespacesNoRecordRefersToButNoLockHeld) {
  AttachmentStore store = Store();
  AttachmentStore other = Store("othernet");
  Save(store, Record("live", 1));
  Save(other, Record("x", 5));  // another network's: live too
  // What killed verbs leave: a lock alone (an ADD before its record), an
  // empty directory and its lock (a DEL or GC after the record and the
  // entry went), an entry whose record is gone, one whose record moved to
  // another namespace.
  Touch("cni/.ns/cookie-2.lock");
  std::filesystem::create_directory(Path("cni/.ns/cookie-3"));
  Touch("cni/.ns/cookie-3.lock");
  std::filesystem::create_directory(Path("cni/.ns/cookie-4"));
  Touch("cni/.ns/cookie-4/pods+gone@eth0");
  Save(store, Record("moved", 8));
  std::filesystem::create_directory(Path("cni/.ns/cookie-7"));
  Touch("cni/.ns/cookie-7/pods+moved@eth0");
  // An entry whose record cannot be read may be live: it stays.
  std::filesystem::create_directory(Path("cni/.ns/cookie-9"));
  Touch("cni/.ns/cookie-9/othernet+junk@eth0");
  Touch("cni/othernet/junk@eth0.json");
  // A lock somebody holds (an ADD between its lock and its record), and a
  // file that is none of ours.
  std::optional<absl::StatusOr<internal::FileLock>> held(
      store.LockNamespace("cookie-6", std::chrono::seconds(1)));
  ASSERT_TRUE(held->ok());
  Touch("cni/.ns/README");
  const std::vector<Attachment> valid = {{"live", "eth0"}, {"moved", "eth0"}};
  std::vector<std::string> removed;
  ASSERT_TRUE(
      store.Collect(valid, std::chrono::system_clock::now(), &removed).ok());
  EXPECT_THAT(
      Tree(Path("cni/.ns")),
      ElementsAre("README", "cookie-1", "cookie-1.lock",
                  "cookie-1/pods+live@eth0", "cookie-5", "cookie-5.lock",
                  "cookie-5/othernet+x@eth0", "cookie-6.lock", "cookie-8",
                  "cookie-8.lock", "cookie-8/pods+moved@eth0", "cookie-9",
                  "cookie-9/othernet+junk@eth0"));
  EXPECT_THAT(removed, ::testing::Contains(Path("cni/.ns/cookie-2.lock")));
  // Once its holder lets go, the next GC takes it.
  held.reset();
  ASSERT_TRUE(
      store.Collect(valid, std::chrono::system_clock::now(), nullptr).ok());
  EXPECT_FALSE(std::filesystem::exists(Path("cni/.ns/cookie-6.lock")));
  EXPECT_TRUE(std::filesystem::exists(Path("cni/.ns/cookie-1.lock")));
}

TEST_F(StoreTest, ALockRemovedByItsHolderIsNeverHeldTwice) {
  AttachmentStore store = Store();
  absl::StatusOr<internal::FileLock> first =
      store.LockNamespace("cookie-9", std::chrono::seconds(1));
  ASSERT_TRUE(first.ok());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    absl::StatusOr<internal::FileLock> second =
        store.LockNamespace("cookie-9", std::chrono::seconds(5));
    got = second.ok();
    EXPECT_TRUE(std::filesystem::exists(Path("cni/.ns/cookie-9.lock")));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got);
  first->RemoveAndRelease();
  waiter.join();
  EXPECT_TRUE(got);
  absl::StatusOr<internal::FileLock> held =
      store.LockNamespace("cookie-9", std::chrono::seconds(1));
  ASSERT_TRUE(held.ok());
  absl::StatusOr<internal::FileLock> timed_out =
      store.LockNamespace("cookie-9", std::chrono::milliseconds(30));
  ASSERT_FALSE(timed_out.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(timed_out.status()));
  EXPECT_THAT(std::string(timed_out.status().message()),
              HasSubstr("held by process"));
}

// --- STATUS over fake checks
// ----------------------------------------------------------

struct FakeChecks {
  absl::Status apply;
  absl::Status capture;
  std::vector<std::string> calls;

  NodeChecks Get() {
    return NodeChecks{
        [this](const CapturePolicy& p, const std::string& backend) {
          calls.push_back(
              "apply " + backend + " " +
              (p.profile() == Profile::kAmbient ? "ambient" : "sidecar"));
          return apply;
        },
        [this](const std::string& backend) {
          calls.push_back("capture " + backend);
          return capture;
        }};
  }
};

std::optional<CniError> Status(FakeChecks& fake,
                               const std::string& extra = "") {
  Logger log(LogLevel::kNone, "");
  CniOr<PluginConfig> c = Parse(Config(extra, "1.1.0"), Command::kStatus);
  EXPECT_TRUE(c.ok());
  return NodeStatus(*c, fake.Get(), log);
}

TEST(NodeStatusTest, ReadyWhenThePolicyInstallsAndCaptures) {
  FakeChecks fake;
  EXPECT_EQ(Status(fake, R"("podSelection": "all", "profile": "ambient",
                           "backend": "nftables")"),
            std::nullopt);
  EXPECT_THAT(fake.calls,
              ElementsAre("apply nftables ambient", "capture nftables"));
}

TEST(NodeStatusTest, FiftyWhenTheBackendCannotInstall) {
  FakeChecks fake;
  fake.apply = absl::UnavailableError("nf_tables: Protocol not supported");
  std::optional<CniError> e = Status(fake);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kErrNotAvailable);
  EXPECT_THAT(e->msg, HasSubstr("auto backend cannot install"));
  EXPECT_EQ(e->details, "nf_tables: Protocol not supported");
  EXPECT_THAT(fake.calls, ElementsAre("apply auto sidecar"));
}

// An ADD could not give a pod its capture: 50. Never 51, which speaks of
// existing containers' connectivity, of which STATUS knows nothing.
TEST(NodeStatusTest, FiftyWhenTheRulesInstallButCaptureNothing) {
  FakeChecks fake;
  fake.capture = absl::DeadlineExceededError("nothing accepted 127.0.0.6");
  std::optional<CniError> e = Status(fake);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kErrNotAvailable);
  EXPECT_THAT(e->msg, HasSubstr("captures nothing"));
  EXPECT_EQ(e->details, "nothing accepted 127.0.0.6");
}

TEST(NodeStatusTest, AProbeThatCannotRunProvesNothingEitherWay) {
  FakeChecks fake;
  fake.capture = absl::PermissionDeniedError("setresuid");
  EXPECT_EQ(Status(fake), std::nullopt);
  fake.capture = absl::FailedPreconditionError("cannot bind 15001");
  std::optional<CniError> e = Status(fake);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kErrNotAvailable);
}

TEST(NodeStatusTest, ABadPolicyIsAConfigError) {
  FakeChecks fake;
  std::optional<CniError> e = Status(fake, R"("policy": {"ProxyPort": "x"})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kErrInvalidConfig);
  EXPECT_THAT(fake.calls, IsEmpty());
}

// --- RunPlugin, where no namespace is needed
// ---------------------------------------

class RunPluginTest : public ::testing::Test {
 protected:
  PluginOutput Run(std::map<std::string, std::string> vars,
                   const std::string& stdin_text) {
    Logger log(LogLevel::kNone, "");
    return RunPlugin(Env(std::move(vars)), stdin_text, log, fake_.Get());
  }
  static nlohmann::json Json(const PluginOutput& out) {
    return nlohmann::json::parse(out.stdout_text, nullptr, false);
  }

  TempDir state_;
  ScopedEnv state_env_{"MESHCAP_STATE_DIR", state_.path()};
  FakeChecks fake_;
};

TEST_F(RunPluginTest, Version) {
  PluginOutput out =
      Run({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "0.4.0"})");
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(
      out.stdout_text,
      R"({"cniVersion":"0.4.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]})"
      "\n");
  out = Run({{"CNI_COMMAND", "VERSION"}}, "");
  EXPECT_EQ(Json(out)["cniVersion"], "1.1.0");
}

TEST_F(RunPluginTest, ErrorsAreJsonOnStdoutWithExitOne) {
  PluginOutput out = Run({{"CNI_COMMAND", "ADD"}}, Config());
  EXPECT_EQ(out.exit_code, 1);
  nlohmann::json e = Json(out);
  EXPECT_EQ(e["code"], kErrInvalidEnvironment);
  EXPECT_EQ(e["cniVersion"], "1.0.0");
  EXPECT_THAT(e["msg"].get<std::string>(),
              HasSubstr("CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME"));

  auto vars = AddVars();
  out = Run(vars, Config("", "0.3.1"));
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(Json(out)["code"], kErrIncompatibleVersion);
  EXPECT_EQ(Json(out)["cniVersion"], "1.1.0");
}

TEST_F(RunPluginTest, AddForAnExcludedPodPassesPrevResultThroughUntouched) {
  auto vars = AddVars();
  vars["CNI_NETNS"] = "/nonexistent/netns";  // never opened
  vars["CNI_ARGS"] = "K8S_POD_NAMESPACE=kube-system";
  const std::string prev =
      R"({"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],)"
      R"("ips":[{"address":"203.0.113.2/24","interface":0}],"dns":{}})";
  PluginOutput out = Run(vars, Config(R"("excludeNamespaces": ["kube-system"],
                                         "prevResult": )" +
                                      prev));
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(out.stdout_text, prev + "\n");
  EXPECT_THAT(Tree(state_.path()), IsEmpty());
}

TEST_F(RunPluginTest, AddWithoutPrevResultPrintsAnEmptyResult) {
  auto vars = AddVars();
  vars["CNI_NETNS"] = "/nonexistent/netns";
  vars["CNI_ARGS"] = "K8S_POD_NAMESPACE=kube-system";
  PluginOutput out =
      Run(vars, Config(R"("excludeNamespaces": ["kube-system"])", "0.4.0"));
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(out.stdout_text, "{\"cniVersion\":\"0.4.0\"}\n");
}

TEST_F(RunPluginTest, AddAndCheckRefuseAMissingNamespaceNamingIt) {
  for (const char* cmd : {"ADD", "CHECK"}) {
    auto vars = AddVars();
    vars["CNI_COMMAND"] = cmd;
    vars["CNI_NETNS"] = "/nonexistent/netns";
    PluginOutput out = Run(vars, Config(R"("podSelection": "all")"));
    EXPECT_EQ(out.exit_code, 1);
    EXPECT_EQ(Json(out)["code"], kErrInvalidEnvironment) << cmd;
    EXPECT_EQ(Json(out)["msg"],
              "invalid CNI_NETNS '/nonexistent/netns': no such network "
              "namespace")
        << cmd;
  }
}

TEST_F(RunPluginTest, DelOfAGoneNamespaceForgetsTheAttachment) {
  absl::StatusOr<AttachmentStore> store =
      AttachmentStore::Open(state_.path(), "pods", true);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(
      store
          ->Save(AttachmentRecord{
              {"c1", "eth0"}, "/gone", "netns-4-77", 77, "nftables", "", ""})
          .ok());
  std::ofstream(state_.path() + "/netns-4-77.intent") << "{}";
  auto vars = AddVars();
  vars["CNI_COMMAND"] = "DEL";
  vars["CNI_NETNS"] = "/nonexistent/netns";
  PluginOutput out = Run(vars, Config());
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_THAT(Tree(state_.path()), ElementsAre("cni", "cni/.ns", "cni/pods"));
  // And again, with no namespace at all.
  vars.erase("CNI_NETNS");
  out = Run(vars, Config());
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
}

TEST_F(RunPluginTest, DelOfAnAttachmentNeverAddedChangesNothing) {
  auto vars = AddVars();
  vars["CNI_COMMAND"] = "DEL";
  vars["CNI_NETNS"] = "/nonexistent/netns";
  PluginOutput out = Run(vars, Config());
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_THAT(Tree(state_.path()), IsEmpty());
}

TEST_F(RunPluginTest, DelToleratesAPolicyThatNoLongerBuilds) {
  auto vars = AddVars();
  vars["CNI_COMMAND"] = "DEL";
  vars["CNI_NETNS"] = "/nonexistent/netns";
  PluginOutput out = Run(vars, Config(R"("policy": {"ProxyPort": "0"})"));
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
}

TEST_F(RunPluginTest, GcRemovesStaleRecordsAndPrintsNothing) {
  absl::StatusOr<AttachmentStore> store =
      AttachmentStore::Open(state_.path(), "pods", true);
  ASSERT_TRUE(store.ok());
  uint64_t cookie = 1;
  for (const char* cid : {"a", "b"}) {
    ASSERT_TRUE(store
                    ->Save(AttachmentRecord{{cid, "eth0"},
                                            "/x",
                                            std::string("netns-4-") + cid,
                                            cookie++,
                                            "nftables",
                                            "",
                                            ""})
                    .ok());
  }
  // Written before the runtime made its list.
  const auto old =
      std::filesystem::file_time_type::clock::now() - std::chrono::minutes(1);
  std::filesystem::last_write_time(state_.path() + "/cni/pods/b@eth0.json",
                                   old);
  PluginOutput out =
      Run({{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/opt/cni/bin"}},
          Config(R"("cni.dev/valid-attachments": [{"containerID": "a",
                                                "ifname": "eth0"}])",
                 "1.1.0"));
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_THAT(Tree(state_.path()),
              ElementsAre("cni", "cni/.ns", "cni/.ns/cookie-1",
                          "cni/.ns/cookie-1/pods+a@eth0", "cni/pods",
                          "cni/pods/a@eth0.json"));
}

TEST_F(RunPluginTest, GcNeedsTheListAndOneOne) {
  PluginOutput out = Run({{"CNI_COMMAND", "GC"}}, Config("", "1.1.0"));
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(Json(out)["code"], kErrInvalidConfig);
  EXPECT_THAT(Json(out)["msg"].get<std::string>(),
              HasSubstr("cni.dev/valid-attachments"));
  out = Run({{"CNI_COMMAND", "GC"}},
            Config(R"("cni.dev/valid-attachments": [])", "1.0.0"));
  EXPECT_EQ(Json(out)["code"], kErrIncompatibleVersion);
}

TEST_F(RunPluginTest, StatusUsesTheChecks) {
  PluginOutput out = Run({{"CNI_COMMAND", "STATUS"}},
                         Config(R"("backend": "iptables-legacy")", "1.1.0"));
  EXPECT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_THAT(fake_.calls, ElementsAre("apply iptables-legacy sidecar",
                                       "capture iptables-legacy"));
  fake_.apply = absl::PermissionDeniedError("CAP_NET_ADMIN");
  out = Run({{"CNI_COMMAND", "STATUS"}}, Config("", "1.1.0"));
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(Json(out)["code"], kErrNotAvailable);
  EXPECT_EQ(Json(out)["details"], "CAP_NET_ADMIN");
}

// --- Logging
// ---------------------------------------------------------------------

TEST(LoggerTest, WritesLinesAtOrAboveTheLevelToTheFile) {
  TempDir dir;
  const std::string file = dir.path() + "/cni.log";
  {
    Logger log(LogLevel::kInfo, file);
    log.SetContext("ADD pods c1/eth0");
    log.Debug("not this");
    log.Info("applied\nsomething");
    log.Error("and this");
  }
  std::ifstream in(file);
  std::string a, b, c;
  std::getline(in, a);
  std::getline(in, b);
  EXPECT_FALSE(std::getline(in, c));
  EXPECT_THAT(a, AllOf(HasSubstr("meshcap-cni["), HasSubstr(" info "),
                       HasSubstr("ADD pods c1/eth0: applied\\nsomething")));
  EXPECT_THAT(b, HasSubstr(" error ADD pods c1/eth0: and this"));
  Logger none(LogLevel::kNone, file);
  EXPECT_FALSE(none.Enabled(LogLevel::kError));
}

}  // namespace
}  // namespace meshcap::cni
