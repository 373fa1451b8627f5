// SPDX-License-Identifier: GPL-2.0-or-later
//
// The iptables-nft lowering without a kernel or root:
//   - every IR kind against the expressions iptables-nft-restore makes of
//     Istio's text (testdata/xt_nft_kinds.golden, from
//     dev/golden/xt-nft-kinds.sh), and its decoding back;
//   - decode round trips over both conformance corpora;
//   - the batch order that gives iptables-nft-restore's handles.

#include <libnftnl/rule.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backends/iptables/dialect.h"
#include "backends/iptables_nft/batch.h"
#include "backends/iptables_nft/lower.h"
#include "backends/iptables_nft/xt_rule.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/compile/compile.h"
#include "tests/golden/kind_cases.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::Cases;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::KindCase;

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
  const ir::Rule rule = internal::R().Then(ir::ReturnVerdict{});
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

}  // namespace
}  // namespace meshcap
