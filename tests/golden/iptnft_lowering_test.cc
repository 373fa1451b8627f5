// SPDX-License-Identifier: GPL-2.0-or-later
//
// The iptables-nft lowering without a kernel or root:
//   - every IR kind against the expressions iptables-nft-restore makes of
//     Istio's text (testdata/xt_nft_kinds.golden, from
//     dev/golden/xt-nft-kinds.sh), and its decoding back;
//   - decode round trips over both conformance corpora;
//   - the batch order that gives iptables-nft-restore's handles.

#include <errno.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nfnetlink.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backends/iptables/dialect.h"
#include "backends/iptables_nft/backend.h"
#include "backends/iptables_nft/batch.h"
#include "backends/iptables_nft/lower.h"
#include "backends/iptables_nft/xt_rule.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/compile/compile.h"
#include "tests/golden/kind_cases.h"
#include "tests/golden/kind_coverage.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::Cases;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::KindCase;
using ::meshcap::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

struct Golden {
  std::string table;
  IpFamily family = IpFamily::kIpv4;
  std::string text;
  std::string key;  // ExprKey lines
};

std::map<std::string, Golden> ReadGoldens() {
  std::ifstream in(std::string(MESHCAP_SOURCE_ROOT) +
                   "/tests/golden/testdata/xt_nft_kinds.golden");
  std::map<std::string, Golden> out;
  std::string line;
  Golden* cur = nullptr;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      std::vector<std::string> f;
      size_t start = 3;
      for (int i = 0; i < 3; ++i) {
        const size_t bar = line.find('|', start);
        f.push_back(line.substr(start, bar - start));
        start = bar + 1;
      }
      cur = &out[f[0]];
      cur->table = f[1];
      cur->family = f[2] == "6" ? IpFamily::kIpv6 : IpFamily::kIpv4;
      cur->text = line.substr(start);
    } else if (cur != nullptr && !line.empty() && line[0] != '#') {
      cur->key += line + "\n";
    }
  }
  return out;
}

ir::TableKind KindOf(const std::string& t) {
  if (t == "mangle") return ir::TableKind::kMangle;
  if (t == "raw") return ir::TableKind::kRaw;
  return ir::TableKind::kNat;
}

std::string KeyOf(const ir::Rule& rule, IpFamily family,
                  const std::string& table) {
  nftnl::Ptr<nftnl_rule> r =
      iptnft::LowerRule(rule, family, table, "C", /*tag=*/false);
  return iptnft::ExprKey(r.get());
}

class IptNftKindTest : public ::testing::TestWithParam<std::string> {};

TEST_P(IptNftKindTest, EncodesAndDecodesAsIptablesNftDoes) {
  static const auto cases = Cases();
  static const auto goldens = ReadGoldens();
  const KindCase& k = cases.at(GetParam());
  const auto g = goldens.find(GetParam());
  ASSERT_NE(g, goldens.end()) << "run dev/golden/xt-nft-kinds.sh";
  const Golden& gold = g->second;
  EXPECT_EQ(ipt::RuleText("C", 0, k.rule, k.profile, KindOf(gold.table)),
            "-A C " + gold.text);
  // Encode: the expressions iptables-nft makes of the same text.
  EXPECT_EQ(KeyOf(k.rule, gold.family, gold.table), gold.key) << gold.text;
  // Decode: back to a rule that encodes the same.
  nftnl::Ptr<nftnl_rule> r =
      iptnft::LowerRule(k.rule, gold.family, gold.table, "C", false);
  iptnft::NftRuleReader reader(gold.family, r.get());
  std::optional<ir::Rule> back = ipt::DecodeRule(reader);
  ASSERT_TRUE(back.has_value()) << iptnft::ExprListText(r.get());
  EXPECT_EQ(KeyOf(*back, gold.family, gold.table), gold.key);
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> out;
  for (const auto& [name, _] : Cases()) out.push_back(name);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Kinds, IptNftKindTest,
                         ::testing::ValuesIn(CaseNames()),
                         [](const auto& info) { return info.param; });

TEST(IptNftKindGoldens, EveryIrKindHasACase) {
  std::vector<const ir::Rule*> rules;
  const auto cases = Cases();
  for (const auto& [name, c] : cases) rules.push_back(&c.rule);
  EXPECT_THAT(::meshcap::testing::KindsMissing(rules), ::testing::IsEmpty())
      << "add a case to tests/golden/testdata/xt_kinds.txt (and regenerate "
         "both xtables goldens) and kind_cases.h";
}

TEST(IptNftKindGoldens, EveryGoldenHasACase) {
  const auto cases = Cases();
  const auto goldens = ReadGoldens();
  for (const auto& [name, g] : goldens) {
    EXPECT_EQ(cases.count(name), 1u) << name;
    EXPECT_FALSE(g.key.empty()) << name;
  }
  EXPECT_EQ(goldens.size(), cases.size());
}

TEST(IptNftTag, MarksRulesOfBuiltInChainsOnly) {
  const ir::Rule rule = internal::RuleBuilder().Then(ir::ReturnVerdict{});
  nftnl::Ptr<nftnl_rule> tagged =
      iptnft::LowerRule(rule, IpFamily::kIpv4, "nat", "OUTPUT", true);
  nftnl::Ptr<nftnl_rule> plain =
      iptnft::LowerRule(rule, IpFamily::kIpv4, "nat", "OUTPUT", false);
  EXPECT_TRUE(iptnft::HasTag(tagged.get()));
  EXPECT_FALSE(iptnft::HasTag(plain.get()));
  // The tag is no expression: the rule is iptables-nft's all the same.
  EXPECT_TRUE(iptnft::SameExpressions(tagged.get(), plain.get()));
}

// --- Round trips over the corpora
// ----------------------------------------------

class IptNftRoundTripTest
    : public ::testing::TestWithParam<::meshcap::testing::ConformanceCase> {};

TEST_P(IptNftRoundTripTest, EveryRuleDecodesToOneThatEncodesTheSame) {
  if (::meshcap::testing::NamesConformanceGroups(GetParam().policy_json) &&
      !::meshcap::testing::EnsureConformanceGroups()) {
    GTEST_SKIP() << "groups java/ftp missing and not root";
  }
  const ir::RuleSet rules =
      internal::Compile(::meshcap::testing::PolicyJson(GetParam().policy_json),
                        ir::Dialect::kIptables);
  absl::StatusOr<iptnft::XtRuleSet> lowered = iptnft::Lower(rules);
  ASSERT_THAT(lowered, IsOk());
  int n = 0;
  for (const iptnft::XtTable& t : lowered->tables) {
    for (const iptnft::XtRule& r : t.rules) {
      iptnft::NftRuleReader reader(t.family, r.rule.get());
      std::optional<ir::Rule> back = ipt::DecodeRule(reader);
      ASSERT_TRUE(back.has_value()) << iptnft::ExprListText(r.rule.get());
      EXPECT_EQ(KeyOf(*back, t.family, t.name()),
                iptnft::ExprKey(r.rule.get()));
      // In a table holding Istio's chains, its built-in rules are ours.
      if (r.builtin &&
          !std::holds_alternative<ir::JumpVerdict>(r.source->verdict)) {
        EXPECT_TRUE(ipt::IsIstioBuiltinRule(*back, t.kind, r.chain))
            << ipt::RuleText(r.chain, 0, *back, t.profile, t.kind);
      }
      ++n;
    }
  }
  if (!rules.tables.empty()) {
    EXPECT_GT(n, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Istio, IptNftRoundTripTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAllConformanceCases()),
    ::meshcap::testing::CaseName);

// --- The batch
// --------------------------------------------------------------------

TEST(IptNftBatch, FollowsTheRestoreOrderWithInsertsBeforeTheirRule) {
  // TPROXY inserts three rules at the head of mangle ISTIO_INBOUND after
  // the rest: each goes in before the rule then at its position.
  const ir::RuleSet rules = internal::Compile(
      ::meshcap::testing::PolicyJson(
          R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*"})"),
      ir::Dialect::kIptables);
  absl::StatusOr<iptnft::XtRuleSet> lowered = iptnft::Lower(rules);
  ASSERT_THAT(lowered, IsOk());
  const iptnft::XtTable* mangle =
      lowered->Find(IpFamily::kIpv4, ir::TableKind::kMangle);
  ASSERT_NE(mangle, nullptr);
  EXPECT_THAT(
      mangle->user_chains,
      ::testing::ElementsAre("ISTIO_DIVERT", "ISTIO_TPROXY", "ISTIO_INBOUND"));
  EXPECT_THAT(mangle->base_chains,
              ::testing::ElementsAre("PREROUTING", "OUTPUT"));
  std::vector<int> inserted;
  for (const iptnft::XtRule& r : mangle->rules) {
    if (r.before.has_value()) inserted.push_back(*r.before);
  }
  ASSERT_EQ(inserted.size(), 3u);
  EXPECT_EQ(inserted[0], -1);  // -I ISTIO_INBOUND 1: at the head
  // -I 2 and -I 3: before the rules then second and third.
  EXPECT_GE(inserted[1], 0);
  EXPECT_GE(inserted[2], 0);
  const std::vector<size_t> order = mangle->ChainOrder("ISTIO_INBOUND");
  ASSERT_GE(order.size(), 3u);
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(mangle->rules[order[i]].position, static_cast<int>(i) + 1);
  }
  // One batch: BEGIN, a table, 3 user chains, 2 base chains, the rules, END
  // for mangle; the same shape for nat.
  const std::vector<iptnft::TablePlan> plans = iptnft::CreateAll(*lowered);
  uint32_t expected = 2;
  for (const iptnft::XtTable& t : lowered->tables) {
    expected +=
        1 + t.user_chains.size() + t.base_chains.size() + t.rules.size();
  }
  EXPECT_EQ(iptnft::CountMessages(plans), expected);
  EXPECT_EQ(iptnft::BuildBatch(plans, 7, 100).messages.size(), expected);
}

// --- What the kernel's refusals mean
// ----------------------------------------------

// Answers the nft_compat question (NFNL_MSG_COMPAT_GET) with `compat`.
class CompatAnswer : public internal::NetlinkTransport {
 public:
  absl::Status compat = absl::OkStatus();
  int questions = 0;

  uint32_t ReserveSeq(uint32_t) override { return 1; }
  absl::StatusOr<std::vector<internal::NetlinkError>> SendBatch(
      const internal::NetlinkBatch&) override {
    return std::vector<internal::NetlinkError>();
  }
  absl::Status Request(nlmsghdr* request, const std::string&,
                       const internal::MessageCallback&) override {
    if (request->nlmsg_type >> 8 != NFNL_SUBSYS_NFT_COMPAT) {
      return absl::InternalError("unexpected request");
    }
    ++questions;
    return compat;
  }
};

TEST(IptNftErrors, AMissingExtensionOrNftCompatIsUnavailableNamingIt) {
  const ir::RuleSet rules = internal::Compile(::meshcap::testing::PolicyJson(),
                                              ir::Dialect::kIptables);
  absl::StatusOr<iptnft::XtRuleSet> lowered = iptnft::Lower(rules);
  ASSERT_THAT(lowered, IsOk());
  const iptnft::Batch batch =
      iptnft::BuildBatch(iptnft::CreateAll(*lowered), 1, 1);
  // The first rule with an owner match, and that expression's offset.
  internal::NetlinkError e;
  for (const iptnft::MessageInfo& m : batch.messages) {
    if (m.rule == nullptr || e.seq != 0) continue;
    const auto exprs = iptnft::Expressions(m.rule->rule.get());
    for (size_t i = 0; i < exprs.size(); ++i) {
      if (nftnl::ExprName(exprs[i]) == "match") {
        e.seq = m.seq;
        e.attr_offset = m.expr_spans[i].first + 4;
        break;
      }
    }
  }
  ASSERT_NE(e.seq, 0u);
  e.error = ENOENT;
  CompatAnswer nl;
  // nfnetlink answers EINVAL for a subsystem nobody registered.
  nl.compat = absl::InvalidArgumentError("Invalid argument (EINVAL)");
  EXPECT_THAT(iptnft::ExplainError(nl, batch, e, "iptables-nft apply"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("the kernel has no nft_compat (module "
                                       "nft_compat, CONFIG_NFT_COMPAT)"),
                             HasSubstr("ip nat chain ISTIO_OUTPUT"),
                             HasSubstr("(xtables match owner revision 1)"))));
  EXPECT_EQ(nl.questions, 1);
  nl.compat = absl::NotFoundError("No such file or directory (ENOENT)");
  EXPECT_THAT(iptnft::ExplainError(nl, batch, e, "iptables-nft apply"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("the kernel has no xtables match owner "
                                       "revision 1 (ip) (module xt_owner)"),
                             HasSubstr("-m owner --uid-owner 1337"))));
  // Anything else about a rule is the rule's fault, named.
  e.error = EINVAL;
  EXPECT_THAT(iptnft::ExplainError(nl, batch, e, "iptables-nft apply"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("the kernel refused rule"),
                             HasSubstr("Invalid argument"))));
  // A generation that moved: retried by the caller.
  internal::NetlinkError restart;
  restart.seq = batch.messages.front().seq;
  restart.error = ERESTART;
  EXPECT_THAT(iptnft::ExplainError(nl, batch, restart, "iptables-nft apply"),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("generation")));
}

}  // namespace
}  // namespace meshcap
