// SPDX-License-Identifier: GPL-2.0-or-later
//
// The nftables backend against the real kernel. Every test runs in a fresh
// network namespace and reads the result back with `nft list ruleset`.

#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/nftables/backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "meshcap/policy_json.h"
#include "src/netlink/netlink.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::CompileJson;
using ::meshcap::testing::ConformanceCase;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::meshcap::testing::ScopedNetns;
using ::meshcap::testing::ShellIn;
using ::meshcap::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

CommandResult Sh(const std::string& command) {
  return ::meshcap::testing::Shell(command);
}

std::string ListRuleset() { return ::meshcap::testing::NftListRuleset(); }

std::string ListRulesetIn(int fd) {
  CommandResult r = ShellIn(fd, "nft list ruleset");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

void LoadNft(const std::string& text) { ::meshcap::testing::NftLoad(text); }

constexpr char kTproxyAll[] =
    R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
        "EnableIPv6": true})";

std::unique_ptr<Engine> NftEngine(const EngineOptions& base = {}) {
  EngineOptions o = base;
  o.backend = "nftables";
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
  EXPECT_THAT(e, IsOk());
  return e.ok() ? *std::move(e) : nullptr;
}

// A foreign ruleset, as another agent (kube-proxy, a firewall) leaves it.
constexpr char kForeign[] = R"(table inet filter {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 22 counter accept
		ip saddr 203.0.113.0/24 drop
	}
}
table ip nat {
	chain kube-services {
		ip daddr 198.51.100.10 tcp dport 80 dnat to 198.51.100.20:8080
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump kube-services
	}
}
)";

using NftBackendTest = ::meshcap::testing::NftNetnsTest;

// --- Conformance: the kernel's view equals Istio's --------------------------

class NftConformanceTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  static void SetUpTestSuite() {
    groups_ok_ = ::meshcap::testing::EnsureConformanceGroups();
  }
  void SetUp() override {
    if (!::meshcap::testing::HaveProgram("nft")) GTEST_SKIP() << "no nft";
    const ConformanceCase& c = GetParam();
    if (!c.nftables_golden) GTEST_SKIP() << "no nftables golden";
    if ((c.policy_json.find("java") != std::string::npos ||
         c.policy_json.find("ftp") != std::string::npos) &&
        !groups_ok_) {
      GTEST_SKIP() << "groups java/ftp missing and not root";
    }
  }
  static bool groups_ok_;
};
bool NftConformanceTest::groups_ok_ = false;

TEST_P(NftConformanceTest, KernelRulesetEqualsIstioGolden) {
  const ConformanceCase& c = GetParam();
  absl::StatusOr<CapturePolicy> policy = PolicyFromJson(c.policy_json);
  ASSERT_THAT(policy, IsOk());
  const CapturePolicy& rules = *policy;

  std::string istio;  // namespace A: Istio's golden through nft -f
  {
    ScopedNetns a;
    if (!a.ok()) GTEST_SKIP() << a.error();
    CommandResult r = Sh("nft -f " + *c.nftables_golden);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    istio = ListRuleset();
    // Our structural Verify agrees that Istio's own rules are ours.
    auto engine = NftEngine();
    ASSERT_NE(engine, nullptr);
    absl::StatusOr<VerifyReport> report = engine->Verify(rules);
    ASSERT_THAT(report, IsOk());
    // (Only the firewall: `nft -f` adds no policy routing.)
    for (const Difference& d : report->differences) {
      if (d.object == "routing entry" || d.object == "address") continue;
      ADD_FAILURE() << "Verify against Istio's golden: " << d.ToString();
    }
  }
  ScopedNetns b;  // namespace B: meshcap's netlink batch
  if (!b.ok()) GTEST_SKIP() << b.error();
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(rules), IsOk());
  EXPECT_EQ(ListRuleset(), istio);
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->matches());
}

INSTANTIATE_TEST_SUITE_P(
    Istio, NftConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadConformanceCases()),
    ::meshcap::testing::CaseName);

INSTANTIATE_TEST_SUITE_P(
    IstioAmbient, NftConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAmbientConformanceCases()),
    ::meshcap::testing::CaseName);

// --- Idempotence, replacement, removal ---------------------------------------

TEST_F(NftBackendTest, ApplyingAgainChangesNothing) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  absl::StatusOr<ApplyResult> first = engine->Apply(rules);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->changed());
  const std::string once = ListRuleset();
  absl::StatusOr<VerifyReport> before = engine->Verify(rules);
  ASSERT_THAT(before, IsOk());
  // Nothing is sent: the generation does not move, counters keep counting.
  absl::StatusOr<ApplyResult> again = engine->Apply(rules);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->changed()) << again->changes.front();
  EXPECT_EQ(ListRuleset(), once);
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->matches());
  EXPECT_EQ(report->generation, before->generation);
}

// An outbound port exclusion is two rules (TCP and UDP): they are inserted
// where they belong, and every other rule stays (with its counter).
TEST_F(NftBackendTest, AOnePortChangeAddsItsRulesAndKeepsTheRest) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  const std::string mangle =
      ::meshcap::testing::Shell("nft list table inet istio-proxy-mangle")
          .output;
  const std::string changed =
      std::string(kTproxyAll).substr(0, strlen(kTproxyAll) - 1) +
      R"(, "OutboundPortsExclude": "22"})";
  absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson(changed));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ::testing::ElementsAre("edited chain inet istio-proxy-nat "
                                     "istio-output: 2 rule(s) added, 0 "
                                     "deleted"));
  EXPECT_EQ(::meshcap::testing::Shell("nft list table inet istio-proxy-mangle")
                .output,
            mangle);
  EXPECT_TRUE(engine->Verify(PolicyJson(changed))->matches());
}

TEST_F(NftBackendTest, ApplyingAThenBLeavesWhatBAloneLeaves) {
  // A has tables B lacks (mangle for TPROXY), so leftovers would show.
  const CapturePolicy a = PolicyJson(
      R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*", "InboundPortsExclude": "22"})");
  const CapturePolicy b = PolicyJson(
      R"({"InboundPortsInclude": "8080", "OutboundIPRangesExclude": "198.51.100.0/24"})");
  std::string b_alone;
  {
    ScopedNetns fresh;
    ASSERT_TRUE(fresh.ok());
    auto engine = NftEngine();
    ASSERT_NE(engine, nullptr);
    ASSERT_THAT(engine->Apply(b), IsOk());
    b_alone = ListRuleset();
  }
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(a), IsOk());
  ASSERT_THAT(ListRuleset(), HasSubstr("istio-proxy-mangle"));
  ASSERT_THAT(engine->Apply(b), IsOk());
  EXPECT_EQ(ListRuleset(), b_alone);
  EXPECT_THAT(ListRuleset(), Not(HasSubstr("istio-proxy-mangle")));
}

TEST_F(NftBackendTest, AReapplyRepairsWhatSomebodyElseChanged) {
  // The engine remembers the generation at which the kernel held exactly
  // the policy; any commit since (here: `nft` deleting one of our rules)
  // moves it, and the next apply reads and repairs.
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  ASSERT_THAT(engine->Apply(rules), IsOk());
  const std::string once = ListRuleset();
  ASSERT_THAT(engine->Apply(rules), IsOk());  // remembered: nothing read
  ::meshcap::testing::Shell(
      "nft flush chain inet istio-proxy-nat istio-output");
  ASSERT_NE(ListRuleset(), once);
  absl::StatusOr<ApplyResult> r = engine->Apply(rules);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->changed());
  EXPECT_EQ(ListRuleset(), once);
  // A different policy at the same generation is not mistaken for it.
  const CapturePolicy other = PolicyJson(R"({"InboundPortsInclude": "8080"})");
  r = engine->Apply(other);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->changed());
  EXPECT_TRUE(engine->Verify(other)->matches());
}

TEST_F(NftBackendTest, ChainUpdatesLeaveWhatAFreshApplyLeaves) {
  // Same chains, different rules: port sets (anonymous sets), a CIDR and
  // an owner change, replaced chain by chain.
  const char* kPolicies[] = {
      R"({"InboundPortsInclude": "*", "InboundPortsExclude": "22,23",
          "OutboundIPRangesInclude": "*", "EnableIPv6": true})",
      R"({"InboundPortsInclude": "*", "InboundPortsExclude": "22,24",
          "OutboundIPRangesInclude": "*", "EnableIPv6": true,
          "OutboundIPRangesExclude": "203.0.113.0/24"})",
      R"({"InboundPortsInclude": "*", "InboundPortsExclude": "22,24,25",
          "OutboundIPRangesInclude": "*", "EnableIPv6": true,
          "ProxyUID": "1500", "OutboundPortsExclude": "8080,8081"})",
  };
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  for (const char* json : kPolicies) {
    std::string alone;
    {
      ScopedNetns fresh;
      ASSERT_TRUE(fresh.ok());
      auto e = NftEngine();
      ASSERT_NE(e, nullptr);
      ASSERT_THAT(e->Apply(PolicyJson(json)), IsOk());
      alone = ListRuleset();
    }
    absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson(json));
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(ListRuleset(), alone) << json;
    EXPECT_TRUE(engine->Verify(PolicyJson(json))->matches()) << json;
  }
}

TEST_F(NftBackendTest, RemoveLeavesNoTableOfOurs) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  ASSERT_THAT(engine->Remove(), IsOk());
  EXPECT_EQ(ListRuleset(), "");
  // Removing nothing is fine too.
  EXPECT_THAT(engine->Remove(), IsOk());
}

TEST_F(NftBackendTest, ForeignTablesSurviveApplyReapplyAndRemove) {
  LoadNft(kForeign);
  const std::string foreign = ListRuleset();
  const std::string filter = Sh("nft list table inet filter").output;
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  ASSERT_THAT(engine->Apply(rules), IsOk());
  ASSERT_THAT(engine->Apply(rules), IsOk());
  EXPECT_EQ(Sh("nft list table inet filter").output, filter);
  const std::string applied = ListRuleset();
  EXPECT_THAT(applied, HasSubstr("table inet filter {"));
  EXPECT_THAT(applied, HasSubstr("dnat to 198.51.100.20:8080"));
  ASSERT_THAT(engine->Remove(), IsOk());
  EXPECT_EQ(ListRuleset(), foreign);
}

TEST_F(NftBackendTest, ForeignRulesInsideOurOwnTableNamesAreReplaced) {
  // Our tables are ours whole: what someone else added there goes with the
  // next apply. Verify reports it before that.
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson();
  ASSERT_THAT(engine->Apply(rules), IsOk());
  ASSERT_EQ(Sh("nft add chain inet istio-proxy-nat stray").exit_code, 0);
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->differences.size(), 1u);
  EXPECT_EQ(report->differences[0].kind, Difference::Kind::kExtra);
  EXPECT_EQ(report->differences[0].chain, "stray");
  ASSERT_THAT(engine->Apply(rules), IsOk());
  EXPECT_THAT(ListRuleset(), Not(HasSubstr("stray")));
}

// --- Atomicity ---------------------------------------------------------------

// The backend itself, over a socket in this namespace: for rule sets no
// policy compiles to.
std::unique_ptr<nft::NftablesBackend> BackendHere() {
  auto sock = internal::NetlinkSocket::Open(NETLINK_NETFILTER);
  EXPECT_THAT(sock, IsOk());
  if (!sock.ok()) return nullptr;
  return std::make_unique<nft::NftablesBackend>(*std::move(sock));
}

TEST_F(NftBackendTest, AFailingRuleKeepsThePreviousRulesetAndIsNamed) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  const std::string before = ListRuleset();
  const uint32_t gen_before = engine->Verify(PolicyJson())->generation;

  // A later table's rule jumps to a chain that does not exist: the kernel
  // refuses that one message, after the nat table has gone through.
  ir::RuleSet broken = CompileJson(
      R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*", "InboundPortsExclude": "22"})",
      ir::Dialect::kNftables);
  ir::Table* mangle = nullptr;
  for (ir::Table& t : broken.tables) {
    if (t.kind == ir::TableKind::kMangle) mangle = &t;
  }
  ASSERT_NE(mangle, nullptr);
  ir::RuleEntry bad;
  bad.chain = "istio-divert";
  bad.rule.matches.push_back(ir::ProtocolMatch{ir::L4Proto::kTcp});
  bad.rule.verdict = ir::JumpVerdict{"istio-nowhere"};
  mangle->entries.push_back(bad);

  auto backend = BackendHere();
  ASSERT_NE(backend, nullptr);
  std::vector<std::string> changes;
  absl::Status s = backend->Apply(broken, {}, &changes, {});
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr("istio-proxy-mangle/istio-divert"),
                                HasSubstr("jump istio-nowhere"),
                                HasSubstr("expression"))));
  EXPECT_THAT(changes, IsEmpty());
  EXPECT_EQ(ListRuleset(), before);
  EXPECT_EQ(engine->Verify(PolicyJson())->generation, gen_before);
}

TEST_F(NftBackendTest, AChainTheKernelCannotHoldIsUnavailable) {
  // A route chain exists only on the output hook.
  ir::RuleSet rules = CompileJson("{}", ir::Dialect::kNftables);
  ASSERT_FALSE(rules.tables.empty());
  ASSERT_TRUE(rules.tables[0].chains[0].is_base());
  rules.tables[0].chains[0].type = ir::ChainType::kRoute;
  rules.tables[0].chains[0].hook = ir::Hook::kPrerouting;
  auto backend = BackendHere();
  ASSERT_NE(backend, nullptr);
  std::vector<std::string> changes;
  EXPECT_THAT(backend->Apply(rules, {}, &changes, {}),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("type route hook prerouting"),
                             HasSubstr("istio-proxy-nat"))));
  EXPECT_EQ(ListRuleset(), "");
}

// --- The generation guard ----------------------------------------------------

TEST_F(NftBackendTest, VerifyThenApplyDetectsAConcurrentChange) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy a = PolicyJson();
  const CapturePolicy b = PolicyJson(kTproxyAll);
  ASSERT_THAT(engine->Apply(a), IsOk());
  absl::StatusOr<VerifyReport> seen = engine->Verify(b);
  ASSERT_THAT(seen, IsOk());
  EXPECT_FALSE(seen->matches());

  // Someone else changes the ruleset between our read and our write.
  ASSERT_EQ(Sh("nft add table inet someone-else").exit_code, 0);
  const std::string theirs = ListRuleset();
  ApplyOptions guarded;
  guarded.expected_generation = seen->generation;
  EXPECT_THAT(engine->Apply(b, guarded),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("changed")));
  EXPECT_EQ(ListRuleset(), theirs);

  // Read again, and the guarded apply goes through.
  seen = engine->Verify(b);
  ASSERT_THAT(seen, IsOk());
  guarded.expected_generation = seen->generation;
  EXPECT_THAT(engine->Apply(b, guarded), IsOk());
  EXPECT_TRUE(engine->Verify(b)->matches());
}

// --- Verify ------------------------------------------------------------------

// The handle of the rule of istio-proxy-nat/`chain` whose text has `needle`.
std::string HandleOf(const std::string& chain, const std::string& needle) {
  const std::string listing =
      Sh("nft -a list chain inet istio-proxy-nat " + chain).output;
  const auto line = listing.find(needle);
  if (line == std::string::npos) return "";
  const auto mark = listing.find("# handle ", line);
  if (mark == std::string::npos) return "";
  return listing.substr(mark + 9, listing.find('\n', mark) - mark - 9);
}

TEST_F(NftBackendTest, VerifyReportsMissingExtraAndChangedRules) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(R"({"InboundPortsInclude": "*"})");
  ASSERT_THAT(engine->Apply(rules), IsOk());
  // Change the redirect port, drop the tunnel-port return, add a stray rule.
  const std::string redirect = HandleOf("istio-redirect", "redirect to :15001");
  ASSERT_FALSE(redirect.empty());
  ASSERT_EQ(Sh("nft replace rule inet istio-proxy-nat istio-redirect handle " +
               redirect + " meta l4proto tcp counter redirect to :15099")
                .exit_code,
            0);
  const std::string tunnel = HandleOf("istio-inbound", "tcp dport 15008");
  ASSERT_FALSE(tunnel.empty());
  ASSERT_EQ(
      Sh("nft delete rule inet istio-proxy-nat istio-inbound handle " + tunnel)
          .exit_code,
      0);
  ASSERT_EQ(Sh("nft add rule inet istio-proxy-nat istio-output udp dport 99 "
               "counter accept")
                .exit_code,
            0);

  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  std::vector<std::string> seen;
  for (const Difference& d : report->differences) seen.push_back(d.ToString());
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre(
                        AllOf(HasSubstr("changed rule 1 in "
                                        "istio-proxy-nat/istio-redirect"),
                              HasSubstr("want: meta l4proto tcp counter "
                                        "redirect to :15001"),
                              HasSubstr("have: meta l4proto tcp counter "
                                        "redirect to :15099")),
                        AllOf(HasSubstr("missing rule 1 in "
                                        "istio-proxy-nat/istio-inbound"),
                              HasSubstr("tcp dport 15008")),
                        AllOf(HasSubstr("extra rule"),
                              HasSubstr("istio-proxy-nat/istio-output"),
                              HasSubstr("udp dport 99 counter accept"))));
  ASSERT_THAT(engine->Apply(rules), IsOk());
  EXPECT_TRUE(engine->Verify(rules)->matches());
}

TEST_F(NftBackendTest, VerifyOnAnEmptyKernelReportsMissingTables) {
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<VerifyReport> report = engine->Verify(PolicyJson());
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->differences.size(), 1u);
  EXPECT_EQ(report->differences[0].ToString(),
            "missing table istio-proxy-nat: table inet istio-proxy-nat");
}

// --- Namespaces
// ----------------------------------------------------------------

TEST_F(NftBackendTest, TargetsANamespaceByPathAndByFd) {
  ::meshcap::testing::DetachedNetns target;
  ASSERT_TRUE(target.ok());
  const unsigned long here = ::meshcap::testing::CurrentNetnsInode();
  const CapturePolicy rules = PolicyJson();
  {
    EngineOptions o;
    o.netns_path = target.path();
    auto engine = NftEngine(o);
    ASSERT_NE(engine, nullptr);
    ASSERT_THAT(engine->Apply(rules), IsOk());
    EXPECT_EQ(::meshcap::testing::CurrentNetnsInode(), here);
  }
  EXPECT_EQ(ListRuleset(), "");  // nothing landed here
  EXPECT_THAT(ListRulesetIn(target.fd()), HasSubstr("istio-proxy-nat"));
  {
    EngineOptions o;
    o.netns_fd = target.fd();
    auto engine = NftEngine(o);
    ASSERT_NE(engine, nullptr);
    EXPECT_TRUE(engine->Verify(rules)->matches());
    ASSERT_THAT(engine->Remove(), IsOk());
  }
  EXPECT_EQ(ListRulesetIn(target.fd()), "");
  EXPECT_EQ(::meshcap::testing::CurrentNetnsInode(), here);
}

TEST(NftEngineOptionsTest, BadNamespacePathsAndBackendNames) {
  EngineOptions o;
  o.backend = "nftables";
  o.netns_path = "/var/run/netns/meshcap-does-not-exist";
  EXPECT_THAT(Engine::Create(o),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/var/run/netns/meshcap-does-not-exist")));
  o.netns_path = "/etc/hostname";
  EXPECT_THAT(
      Engine::Create(o),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'/etc/hostname' is not a network namespace")));
  o.netns_path.clear();
  o.backend = "pf";
  EXPECT_THAT(Engine::Create(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("unknown backend 'pf'")));
}

// --- Permissions
// ----------------------------------------------------------------

TEST_F(NftBackendTest, WithoutCapNetAdminApplyIsPermissionDenied) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to nobody";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // nobody, with no capabilities left.
    if (setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(10);
    }
    absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create({});
    absl::Status s = e.ok() ? (*e)->Apply(PolicyJson()).status() : e.status();
    if (s.code() != absl::StatusCode::kPermissionDenied) _exit(11);
    if (s.message().find("CAP_NET_ADMIN") == absl::string_view::npos) {
      _exit(12);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: could not drop privileges; 11: not PermissionDenied; "
         "12: message does not name CAP_NET_ADMIN";
  EXPECT_EQ(ListRuleset(), "");
}

}  // namespace
}  // namespace meshcap
