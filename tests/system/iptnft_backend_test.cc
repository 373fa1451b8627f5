// SPDX-License-Identifier: GPL-2.0-or-later
//
// The iptables-nft backend against the real kernel. Every test runs in a
// fresh network namespace and reads the result back with the standard
// tools: iptables-nft-save, ip6tables-nft-save and nft.

#include <libnftnl/rule.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>

#include "backends/iptables_nft/backend.h"
#include "backends/iptables_nft/read.h"
#include "backends/iptables_nft/xt_rule.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "src/backend.h"
#include "src/netlink/netlink.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::ConformanceCase;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::meshcap::testing::ScopedNetns;
using ::meshcap::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

CommandResult Sh(const std::string& command) {
  return ::meshcap::testing::Shell(command);
}

// A tool's output without its `#` comment lines.
std::string Uncommented(const std::string& command) {
  CommandResult r = Sh(command);
  EXPECT_EQ(r.exit_code, 0) << command << ": " << r.output;
  std::istringstream in(r.output);
  std::string out, line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    out += line + "\n";
  }
  return out;
}

// Every rule of every ip and ip6 table as the kernel dumps it, expression by
// expression with every attribute (xtables data included, which nft does
// not print), with table, chain and rule handles.
std::string Expressions() {
  absl::StatusOr<std::unique_ptr<internal::NetlinkSocket>> nl =
      internal::NetlinkSocket::Open(NETLINK_NETFILTER);
  EXPECT_THAT(nl, IsOk());
  if (!nl.ok()) return "";
  absl::StatusOr<iptnft::KState> state = iptnft::ReadTables(
      **nl, iptnft::ReadRules::kAll, [](const std::string&) { return true; });
  EXPECT_THAT(state, IsOk());
  if (!state.ok()) return "";
  std::string out;
  for (const iptnft::KTable& t : state->tables) {
    out += "table " + t.Where() + "\n";
    for (const iptnft::KChain& c : t.chains) {
      out += " chain " + c.name + " handle " + std::to_string(c.handle);
      if (c.base) {
        out += " hook " + std::to_string(c.hook) + " priority " +
               std::to_string(c.priority) + " type " + c.type + " policy " +
               std::to_string(c.policy);
      }
      out += "\n";
      for (const auto& r : c.rules) {
        out += "  rule handle " +
               std::to_string(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE)) +
               "\n" + iptnft::ExprKey(r.get());
      }
    }
  }
  return out;
}

// The three views the issue names, plus nft's warnings, handles and every
// expression's bytes.
struct Views {
  std::string save4, save6, ruleset, ruleset_stderr, handles, expressions;

  static Views Now() {
    Views v;
    v.save4 = Uncommented("iptables-nft-save");
    v.save6 = Uncommented("ip6tables-nft-save");
    v.ruleset = Sh("nft list ruleset 2>/dev/null").output;
    v.ruleset_stderr = Sh("nft list ruleset 2>&1 >/dev/null").output;
    v.handles = Sh("nft -a list ruleset 2>/dev/null").output;
    v.expressions = Expressions();
    return v;
  }
};

void ExpectSameViews(const Views& got, const Views& want) {
  EXPECT_EQ(got.save4, want.save4) << "iptables-nft-save";
  EXPECT_EQ(got.save6, want.save6) << "ip6tables-nft-save";
  EXPECT_EQ(got.ruleset, want.ruleset) << "nft list ruleset";
  EXPECT_EQ(got.ruleset_stderr, want.ruleset_stderr) << "nft's warnings";
  EXPECT_EQ(got.handles, want.handles) << "nft -a list ruleset";
  EXPECT_EQ(got.expressions, want.expressions) << "the kernel's expressions";
}

// Runs `tool --noflush` on `text`.
void Restore(const char* tool, const std::string& text) {
  if (text.empty()) return;
  char path[] = "/tmp/meshcap-iptnft-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  close(fd);
  CommandResult r = Sh(std::string(tool) + " --noflush " + path);
  unlink(path);
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << text;
}

std::unique_ptr<Engine> NftEngine(EngineOptions o = {}) {
  o.backend = "iptables-nft";
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
  EXPECT_THAT(e, IsOk());
  return e.ok() ? *std::move(e) : nullptr;
}

bool HaveTools() {
  return ::meshcap::testing::HaveProgram("iptables-nft-restore") &&
         ::meshcap::testing::HaveProgram("ip6tables-nft-save") &&
         ::meshcap::testing::HaveProgram("nft");
}

// --- Conformance: the kernel holds what iptables-nft-restore makes -----------

class IptNftConformanceTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  static void SetUpTestSuite() {
    groups_ok_ = ::meshcap::testing::EnsureConformanceGroups();
  }
  void SetUp() override {
    if (!HaveTools()) GTEST_SKIP() << "no iptables-nft tools";
    const ConformanceCase& c = GetParam();
    if (!c.iptables_golden) GTEST_SKIP() << "no iptables golden";
    if (::meshcap::testing::NamesConformanceGroups(c.policy_json) &&
        !groups_ok_) {
      GTEST_SKIP() << "groups java/ftp missing and not root";
    }
  }
  static bool groups_ok_;
};
bool IptNftConformanceTest::groups_ok_ = false;

TEST_P(IptNftConformanceTest, KernelEqualsIptablesNftRestore) {
  const ConformanceCase& c = GetParam();
  const CapturePolicy rules = PolicyJson(c.policy_json);
  const auto parts = ::meshcap::testing::SplitIptablesGolden(
      ::meshcap::testing::ReadFileOrDie(*c.iptables_golden));
  Views istio;
  {
    ScopedNetns a;
    if (!a.ok()) GTEST_SKIP() << a.error();
    Restore("iptables-nft-restore", parts.ipv4);
    Restore("ip6tables-nft-restore", parts.ipv6);
    istio = Views::Now();
  }
  ScopedNetns b;
  if (!b.ok()) GTEST_SKIP() << b.error();
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(rules), IsOk());
  ExpectSameViews(Views::Now(), istio);
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  for (const Difference& d : report->differences) {
    ADD_FAILURE() << "Verify after apply: " << d.ToString();
  }
  // Again: nothing is sent, the generation does not move.
  absl::StatusOr<ApplyResult> again = engine->Apply(rules);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->changed());
  absl::StatusOr<VerifyReport> after = engine->Verify(rules);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->generation, report->generation);
}

INSTANTIATE_TEST_SUITE_P(
    Istio, IptNftConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadConformanceCases()),
    ::meshcap::testing::CaseName);

INSTANTIATE_TEST_SUITE_P(
    IstioAmbient, IptNftConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAmbientConformanceCases()),
    ::meshcap::testing::CaseName);

// --- Behaviour
// ------------------------------------------------------------------

class IptNftBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTools()) GTEST_SKIP() << "no iptables-nft tools";
    netns_ = std::make_unique<ScopedNetns>();
    if (!netns_->ok()) GTEST_SKIP() << netns_->error();
  }
  void TearDown() override { netns_.reset(); }
  std::unique_ptr<ScopedNetns> netns_;
};

constexpr char kTproxyAll[] =
    R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
        "EnableIPv6": true, "DNSServersV4": "198.51.100.53",
        "RedirectDNS": true, "DropInvalid": true})";

// kube-proxy-like rules written by iptables-nft, in the tables we use.
constexpr char kKubeProxy[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-POSTROUTING - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-SERVICES -d 198.51.100.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -p tcp -j DNAT --to-destination 198.51.100.20:8080
-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -i eth0 -j MARK --set-xmark 0x10/0xffffffff
COMMIT
)";

std::string Save() {
  return Uncommented("iptables-nft-save") + Uncommented("ip6tables-nft-save");
}

// The nf_tables generation, as Verify reports it.
uint32_t Generation(Engine& e, const CapturePolicy& p) {
  absl::StatusOr<VerifyReport> r = e.Verify(p);
  EXPECT_THAT(r, IsOk());
  return r.ok() ? r->generation : 0;
}

// The backend itself, in this namespace.
std::unique_ptr<internal::Backend> BackendHere() {
  absl::StatusOr<const internal::BackendFactory*> f =
      internal::FindBackend("iptables-nft");
  EXPECT_THAT(f, IsOk());
  absl::StatusOr<std::unique_ptr<internal::Backend>> b =
      (*f)->Create(internal::BackendOptions());
  EXPECT_THAT(b, IsOk());
  return b.ok() ? *std::move(b) : nullptr;
}

TEST_F(IptNftBackendTest, ApplyingAgainSendsNothingEvenAfterOthersCommit) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  absl::StatusOr<ApplyResult> first = engine->Apply(rules);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(first->changes,
              ::testing::IsSupersetOf(
                  {"created table ip mangle", "created table ip nat",
                   "created table ip raw", "created table ip6 mangle"}));
  const uint32_t gen = Generation(*engine, rules);
  absl::StatusOr<ApplyResult> again = engine->Apply(rules);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->changed());
  EXPECT_EQ(Generation(*engine, rules), gen);
  // Somebody else commits: the backend reads again, finds ours intact and
  // still sends nothing.
  ASSERT_EQ(Sh("nft add table inet other").exit_code, 0);
  const uint32_t moved = Generation(*engine, rules);
  EXPECT_GT(moved, gen);
  again = engine->Apply(rules);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->changed());
  EXPECT_EQ(Generation(*engine, rules), moved);
}

// The handle of every rule, in order (`nft -a`).
std::string Handles() {
  return Sh("nft -a list ruleset 2>/dev/null | grep -o '# handle [0-9]*'")
      .output;
}

TEST_F(IptNftBackendTest, AOnePortChangeAddsTwoRulesAndKeepsTheRest) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  const std::string before = Handles();
  const std::string changed =
      std::string(kTproxyAll).substr(0, strlen(kTproxyAll) - 1) +
      R"(, "OutboundPortsExclude": "22"})";
  absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson(changed));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ::testing::UnorderedElementsAre(
                              "edited table ip nat: 2 rules added",
                              "edited table ip6 nat: 2 rules added"));
  EXPECT_TRUE(engine->Verify(PolicyJson(changed))->matches());
  // The rules that stay are the same rules (their handles, and so their
  // counters); the kernel's view is what a fresh apply gives.
  const std::string after = Handles();
  EXPECT_EQ(std::count(after.begin(), after.end(), '\n'),
            std::count(before.begin(), before.end(), '\n') + 4);
  const std::string edited = Save();
  ScopedNetns fresh;
  ASSERT_TRUE(fresh.ok());
  auto other = NftEngine();
  ASSERT_NE(other, nullptr);
  ASSERT_THAT(other->Apply(PolicyJson(changed)), IsOk());
  EXPECT_EQ(Save(), edited);
}

TEST_F(IptNftBackendTest, ChangesInPlaceKeepCountersOfRulesThatStay) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson()), IsOk());
  // A UDP datagram to 127.0.0.1 counts on the built-in chain's jump.
  ASSERT_EQ(Sh("bash -c 'echo x > /dev/udp/127.0.0.1/9'").exit_code, 0);
  ASSERT_THAT(Uncommented("iptables-nft-save -c -t nat"),
              HasSubstr("] -A OUTPUT -j ISTIO_OUTPUT"));
  const std::string counted = Uncommented("iptables-nft-save -c -t nat");
  ASSERT_THAT(counted, HasSubstr("[1:"));
  ASSERT_THAT(engine->Apply(PolicyJson(R"({"OutboundPortsExclude": "22"})")),
              IsOk());
  EXPECT_THAT(Uncommented("iptables-nft-save -c -t nat"),
              HasSubstr("[1:30] -A OUTPUT -j ISTIO_OUTPUT"));
}

TEST_F(IptNftBackendTest, RemoveDeletesTheTablesItMadeAndIsIdempotent) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  absl::StatusOr<ApplyResult> r = engine->Remove();
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ::testing::Contains("deleted table ip nat"));
  EXPECT_EQ(Sh("nft list ruleset").output, "");
  r = engine->Remove();
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->changed());
}

TEST_F(IptNftBackendTest, ForeignRulesSurviveApplyReapplyAndRemove) {
  Restore("iptables-nft-restore", kKubeProxy);
  const std::string foreign = Save();
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  absl::StatusOr<ApplyResult> r = engine->Apply(rules);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ::testing::Contains(HasSubstr(
                  "edited table ip nat: 5 chains added, 15 rules added")));
  const std::string applied = Save();
  EXPECT_THAT(applied, HasSubstr("-A KUBE-SVC-WEB -p tcp -j DNAT"));
  EXPECT_THAT(applied, HasSubstr("-A PREROUTING -i eth0 -j MARK"));
  EXPECT_THAT(applied, HasSubstr("-A ISTIO_OUTPUT"));
  EXPECT_TRUE(engine->Verify(rules)->matches());
  r = engine->Apply(rules);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->changed());
  ASSERT_THAT(engine->Remove(), IsOk());
  EXPECT_EQ(Save(), foreign);
}

TEST_F(IptNftBackendTest, VerifyNamesEachDifferenceInIptablesWords) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson();
  ASSERT_THAT(engine->Apply(rules), IsOk());
  ASSERT_EQ(Sh("iptables-nft -t nat -D ISTIO_OUTPUT 1").exit_code, 0);
  ASSERT_EQ(
      Sh("iptables-nft -t nat -A ISTIO_REDIRECT -p udp -j RETURN").exit_code,
      0);
  ASSERT_EQ(Sh("iptables-nft -t nat -N ISTIO_DROP").exit_code, 0);
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  std::vector<std::string> text;
  for (const Difference& d : report->differences) text.push_back(d.ToString());
  EXPECT_THAT(
      text,
      ::testing::UnorderedElementsAre(
          "missing rule 1 in ip nat/ISTIO_OUTPUT: -A ISTIO_OUTPUT -o lo -s "
          "127.0.0.6/32 -j RETURN",
          "extra rule 2 in ip nat/ISTIO_REDIRECT: -A ISTIO_REDIRECT -p udp -j "
          "RETURN",
          "extra chain in ip nat/ISTIO_DROP: -N ISTIO_DROP"));
  // Apply puts it right in one transaction.
  absl::StatusOr<ApplyResult> r = engine->Apply(rules);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ::testing::ElementsAre(
                  "edited table ip nat: 1 rule removed, 1 chain removed, 1 "
                  "rule added"));
  EXPECT_TRUE(engine->Verify(rules)->matches());
}

TEST_F(IptNftBackendTest,
       AForeignJumpIntoOurChainFailsTheApplyChangingNothing) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(R"({"DropInvalid": true})")), IsOk());
  ASSERT_EQ(Sh("iptables-nft -t mangle -N KUBE-X && "
               "iptables-nft -t mangle -A KUBE-X -j ISTIO_DROP")
                .exit_code,
            0);
  const std::string before = Sh("nft list ruleset").output;
  // Without DropInvalid ISTIO_DROP goes, but somebody still jumps there.
  absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson());
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition,
                          AllOf(HasSubstr("cannot delete chain ISTIO_DROP of "
                                          "ip mangle"),
                                HasSubstr("still jumps to it"))));
  EXPECT_EQ(Sh("nft list ruleset").output, before);
}

TEST_F(IptNftBackendTest, ABuiltInChainOfAnotherShapeIsRefusedChangingNothing) {
  ASSERT_EQ(Sh("nft 'add table ip nat; add chain ip nat PREROUTING { type nat "
               "hook prerouting priority 0; }; add rule ip nat PREROUTING "
               "counter'")
                .exit_code,
            0);
  const std::string before = Sh("nft list ruleset").output;
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  // Inbound capture needs nat PREROUTING (a policy without it would leave
  // that chain alone and apply).
  absl::StatusOr<ApplyResult> r =
      engine->Apply(PolicyJson(R"({"InboundPortsInclude": "*"})"));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition,
                          AllOf(HasSubstr("chain PREROUTING of table ip nat"),
                                HasSubstr("priority -100"))));
  EXPECT_EQ(Sh("nft list ruleset").output, before);
}

TEST_F(IptNftBackendTest, ACommitBetweenReadAndBatchIsReadAgain) {
  std::unique_ptr<internal::Backend> b = BackendHere();
  ASSERT_NE(b, nullptr);
  const ir::RuleSet rules =
      ::meshcap::testing::CompileJson(kTproxyAll, ir::Dialect::kIptables);
  int ran = 0;
  std::vector<std::string> changes;
  // Another writer commits after our read, right before our batch: the
  // kernel refuses the batch (its generation moved), we read again and
  // the other writer's rule stays.
  ASSERT_THAT(b->Apply(rules, {}, &changes,
                       [&] {
                         ++ran;
                         return Sh("iptables-nft -t nat -A POSTROUTING -j "
                                   "RETURN")
                                            .exit_code == 0
                                    ? absl::OkStatus()
                                    : absl::InternalError("iptables-nft");
                       }),
              IsOk());
  EXPECT_EQ(ran, 1);
  EXPECT_THAT(Save(), HasSubstr("-A POSTROUTING -j RETURN"));
  EXPECT_THAT(Save(), HasSubstr("-A ISTIO_OUTPUT"));
  VerifyReport report;
  ASSERT_THAT(b->Verify(rules, &report), IsOk());
  EXPECT_TRUE(report.matches());
}

TEST_F(IptNftBackendTest, AStaleExpectedGenerationChangesNothing) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson();
  const uint32_t gen = Generation(*engine, rules);
  ASSERT_EQ(Sh("nft add table inet other").exit_code, 0);
  ApplyOptions o;
  o.expected_generation = gen;
  EXPECT_THAT(engine->Apply(rules, o),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("generation")));
  EXPECT_THAT(Save(), Not(HasSubstr("ISTIO")));
}

TEST_F(IptNftBackendTest, IstiosUntaggedBuiltInRulesAreTakenOver) {
  // Istio's TPROXY rules in mangle OUTPUT carry no tag of ours; in a table
  // with Istio's chains they are Istio's, and meshcap replaces them.
  const auto c = ::meshcap::testing::LoadConformanceCases();
  const auto it =
      std::find_if(c.begin(), c.end(),
                   [](const ConformanceCase& x) { return x.name == "tproxy"; });
  ASSERT_NE(it, c.end());
  const auto parts = ::meshcap::testing::SplitIptablesGolden(
      ::meshcap::testing::ReadFileOrDie(*it->iptables_golden));
  Restore("iptables-nft-restore", parts.ipv4);
  Restore("ip6tables-nft-restore", parts.ipv6);
  const std::string istio = Save();
  ASSERT_THAT(istio, HasSubstr("-j MARK --set-xmark 0x53a/0xffffffff"));
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(it->policy_json);
  // Istio's rules verify as the policy's (only the firewall: a restore adds
  // no policy routing).
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  for (const Difference& d : report->differences) {
    if (d.object == "routing entry" || d.object == "address") continue;
    ADD_FAILURE() << "Verify against Istio's rules: " << d.ToString();
  }
  // Apply takes them over (tags them), changing no rule.
  absl::StatusOr<ApplyResult> r = engine->Apply(rules);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(Save(), istio);
  ASSERT_THAT(engine->Remove(), IsOk());
  EXPECT_EQ(Sh("nft list ruleset").output, "");
}

TEST_F(IptNftBackendTest, KernelExtensionsAreProbedByName) {
  absl::StatusOr<std::unique_ptr<internal::NetlinkSocket>> nl =
      internal::NetlinkSocket::Open(NETLINK_NETFILTER);
  ASSERT_THAT(nl, IsOk());
  EXPECT_THAT(iptnft::ProbeExtension(**nl, IpFamily::kIpv4, "owner", 1, false),
              IsOk());
  EXPECT_THAT(iptnft::ProbeExtension(**nl, IpFamily::kIpv6, "TPROXY", 1, true),
              IsOk());
  EXPECT_THAT(
      iptnft::ProbeExtension(**nl, IpFamily::kIpv4, "nosuchmatch", 0, false),
      StatusIs(absl::StatusCode::kUnavailable,
               AllOf(HasSubstr("xtables match nosuchmatch revision 0"),
                     HasSubstr("module xt_nosuchmatch"))));
  EXPECT_THAT(iptnft::ProbeExtension(**nl, IpFamily::kIpv4, "CT", 9, true),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("xtables target CT revision 9")));
}

TEST_F(IptNftBackendTest, AutoTakesOverIstiosCaptureWhereItIs) {
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create({});
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "nftables");
  EngineOptions iptables;
  iptables.backend = "iptables";
  e = Engine::Create(iptables);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "iptables-nft");
  // Istio's iptables-nft capture: auto stays with it.
  Restore("iptables-nft-restore",
          "*nat\n:ISTIO_OUTPUT - [0:0]\n"
          "-A OUTPUT -j ISTIO_OUTPUT\nCOMMIT\n");
  e = Engine::Create({});
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "iptables-nft");
}

TEST_F(IptNftBackendTest, IptablesPicksLegacyOnlyWhenItsNatTableHoldsRules) {
  if (!::meshcap::testing::HaveProgram("iptables-legacy")) {
    GTEST_SKIP() << "no iptables-legacy";
  }
  EngineOptions iptables;
  iptables.backend = "iptables";
  // An empty legacy nat table does not count (Istio's probe leaves one).
  ASSERT_EQ(Sh("iptables-legacy -t nat -L -n").exit_code, 0);
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(iptables);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "iptables-nft");
  ASSERT_EQ(Sh("iptables-legacy -t nat -A POSTROUTING -j RETURN").exit_code, 0);
  e = Engine::Create(iptables);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "iptables-legacy");
}

}  // namespace
}  // namespace meshcap
