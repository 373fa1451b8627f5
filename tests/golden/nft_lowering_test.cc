// SPDX-License-Identifier: GPL-2.0-or-later
//
// The nftables lowering without a kernel or root:
//   - every IR kind against the bytecode `nft` itself emits for Istio's text
//     (testdata/nft_kinds.golden, from dev/golden/nft-kinds.sh), its
//     spelling, and its decoding back;
//   - decode round trips over both conformance corpora;
//   - the batches the backend sends, recorded: a fresh namespace's has no
//     delete, a remove of nothing sends nothing, a huge policy spans pages.

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "backends/nftables/backend.h"
#include "backends/nftables/decode.h"
#include "backends/nftables/lower.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/policy_json.h"
#include "src/compile/builder.h"
#include "src/compile/compile.h"
#include "tests/golden/kind_coverage.h"
#include "tests/testing/conformance.h"
#include "tests/testing/fake_netlink.h"
#include "tests/testing/kernel.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using internal::RuleBuilder;
using ::meshcap::testing::IsOk;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

constexpr auto kTcp = ir::L4Proto::kTcp;
constexpr auto kUdp = ir::L4Proto::kUdp;
using internal::ConstCidr;

struct KindCase {
  nft::SpellContext ctx;
  ir::Rule rule;
};

std::map<std::string, KindCase> Cases() {
  const nft::SpellContext sidecar{Profile::kSidecar, ir::TableKind::kNat, "c",
                                  ir::Scope::kBoth};
  auto in = [](nft::SpellContext c, Profile p, ir::TableKind t,
               ir::Scope s = ir::Scope::kBoth) {
    c.profile = p;
    c.table = t;
    c.scope = s;
    return c;
  };
  const auto amb_nat = in(sidecar, Profile::kAmbient, ir::TableKind::kNat);
  const auto amb_mangle =
      in(sidecar, Profile::kAmbient, ir::TableKind::kMangle);
  const auto amb_raw = in(sidecar, Profile::kAmbient, ir::TableKind::kRaw);
  const auto raw = in(sidecar, Profile::kSidecar, ir::TableKind::kRaw);
  const ir::Verdict ret = ir::ReturnVerdict{};
  std::map<std::string, KindCase> m;
  m["iif"] = {sidecar, RuleBuilder().Iif("eth0").Then(ret)};
  m["oif_not"] = {sidecar,
                  RuleBuilder().Oif("lo", true).Then(ir::AcceptVerdict{})};
  m["saddr_host"] = {
      sidecar,
      RuleBuilder(ir::Scope::kIpv4).Src(ConstCidr("127.0.0.6/32")).Then(ret)};
  m["daddr6_not"] = {
      in(sidecar, Profile::kSidecar, ir::TableKind::kNat, ir::Scope::kIpv6),
      RuleBuilder(ir::Scope::kIpv6).Dst(ConstCidr("::1/128"), true).Then(ret)};
  m["daddr_bits"] = {
      sidecar,
      RuleBuilder(ir::Scope::kIpv4).Dst(ConstCidr("10.0.0.0/12")).Then(ret)};
  m["l4proto"] = {sidecar, RuleBuilder().Proto(kTcp).Then(ret)};
  m["dport"] = {sidecar, RuleBuilder().Dport(kTcp, {15008}).Then(ret)};
  m["sport_udp"] = {sidecar, RuleBuilder().Sport(kUdp, {53}).Then(ret)};
  m["dport_set_not"] = {sidecar,
                        RuleBuilder().Dport(kTcp, {53, 15008}, true).Then(ret)};
  m["skuid"] = {sidecar, RuleBuilder().Uid(1337).Then(ret)};
  m["skgid_not"] = {sidecar, RuleBuilder().Gid(42, true).Then(ret)};
  m["meta_skuid_raw"] = {raw,
                         RuleBuilder().Uid(1337).Then(ir::CtZoneVerdict{1})};
  m["mark"] = {sidecar, RuleBuilder().Mark(1337).Then(ret)};
  m["mark_not"] = {sidecar,
                   RuleBuilder().Mark(1338, ir::kAllBits, true).Then(ret)};
  m["mark_masked_nat"] = {amb_nat, RuleBuilder()
                                       .Proto(kTcp)
                                       .Mark(0x539, 0xfff, true)
                                       .Then(ir::RedirectVerdict{15001})};
  m["mark_masked_mangle"] = {amb_mangle,
                             RuleBuilder()
                                 .Mark(0x539, 0xfff)
                                 .Then(ir::SetConnmarkVerdict{0x111, 0xfff})};
  m["ct_mark"] = {
      sidecar, RuleBuilder().Connmark(1337).Then(ir::RestoreConnmarkVerdict{})};
  m["ct_mark_masked"] = {
      amb_mangle,
      RuleBuilder().Connmark(0x111, 0xfff).Then(ir::RestoreConnmarkVerdict{})};
  m["ct_state"] = {sidecar,
                   RuleBuilder()
                       .Ct({ir::CtState::kRelated, ir::CtState::kEstablished})
                       .Then(ir::JumpVerdict{"istio-divert"})};
  m["jump_no_counter"] = {
      amb_nat, RuleBuilder().NoCounter().Then(ir::JumpVerdict{"istio-output"})};
  m["drop"] = {sidecar, RuleBuilder().Then(ir::DropVerdict{})};
  m["redirect"] = {sidecar,
                   RuleBuilder().Proto(kTcp).Then(ir::RedirectVerdict{15006})};
  m["tproxy4"] = {
      in(sidecar, Profile::kSidecar, ir::TableKind::kMangle, ir::Scope::kIpv4),
      RuleBuilder(ir::Scope::kIpv4)
          .Proto(kTcp)
          .Dst(ConstCidr("127.0.0.1/32"), true)
          .Then(ir::TproxyVerdict{15006, 1337, ir::kAllBits})};
  m["tproxy6"] = {
      in(sidecar, Profile::kSidecar, ir::TableKind::kMangle, ir::Scope::kIpv6),
      RuleBuilder(ir::Scope::kIpv6)
          .Proto(kTcp)
          .Dst(ConstCidr("::1/128"), true)
          .Then(ir::TproxyVerdict{15006, 1337, ir::kAllBits})};
  m["set_mark"] = {
      in(sidecar, Profile::kSidecar, ir::TableKind::kMangle, ir::Scope::kIpv4),
      RuleBuilder(ir::Scope::kIpv4)
          .Oif("lo")
          .Proto(kTcp)
          .Dst(ConstCidr("127.0.0.1/32"), true)
          .Uid(1337)
          .Then(ir::SetMarkVerdict{1338})};
  m["save_connmark"] = {sidecar, RuleBuilder().Proto(kTcp).Mark(1337).Then(
                                     ir::SaveConnmarkVerdict{})};
  m["ct_zone"] = {amb_raw, RuleBuilder()
                               .Dport(kUdp, {53})
                               .Mark(0x539, 0xfff)
                               .Then(ir::CtZoneVerdict{1})};
  return m;
}

struct Golden {
  std::string text;
  std::vector<std::string> lines;
};

std::map<std::string, Golden> ReadGoldens() {
  std::ifstream in(std::string(MESHCAP_SOURCE_ROOT) +
                   "/tests/golden/testdata/nft_kinds.golden");
  std::map<std::string, Golden> out;
  std::string line;
  Golden* cur = nullptr;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      const auto colon = line.find(':');
      cur = &out[line.substr(3, colon - 3)];
      cur->text = line.substr(colon + 2);
    } else if (cur != nullptr && line.rfind("[ ", 0) == 0) {
      cur->lines.push_back(line);
    }
  }
  return out;
}

// `nft --debug=netlink`'s lines for a lowered rule, through the same
// libnftnl printer nft uses.
std::vector<std::string> DebugLines(const nftnl_rule* rule) {
  std::vector<char> buf(16384);
  nftnl_rule_snprintf(buf.data(), buf.size(), rule, NFTNL_OUTPUT_DEFAULT, 0);
  std::istringstream in(buf.data());
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find("[ ");
    if (at == std::string::npos) continue;
    line = line.substr(at);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.push_back(line);
  }
  return out;
}

// One rule lowered into a scratch table "t", chain "c".
struct Lowered {
  ir::Table table;
  nft::LoweredTable lt;
  nft::LoweredRule lr;
};

std::unique_ptr<Lowered> LowerOne(const KindCase& k, const ir::Rule& rule) {
  auto l = std::make_unique<Lowered>();
  l->table.name = "t";
  l->table.kind = k.ctx.table;
  l->lt.source = &l->table;
  l->lr.chain = "c";
  l->lr.position = 1;
  l->lr.source = &rule;
  l->lr.context = k.ctx;
  uint32_t next_set_id = 1;
  nft::LowerRule(l->lt, l->lr, &next_set_id);
  return l;
}

nft::ExprCursor::SetResolver ResolverFor(const nft::LoweredTable& t) {
  return [&t](const nftnl_expr*) -> const std::vector<std::string>* {
    return t.sets.empty() ? nullptr : &t.sets.front().keys;
  };
}

class NftKindTest : public ::testing::TestWithParam<std::string> {};

TEST_P(NftKindTest, SpellsEncodesAndDecodesAsNftDoes) {
  static const auto cases = Cases();
  static const auto goldens = ReadGoldens();
  const KindCase& k = cases.at(GetParam());
  const auto g = goldens.find(GetParam());
  ASSERT_NE(g, goldens.end()) << "run dev/golden/nft-kinds.sh";
  // Spell: Istio's text.
  EXPECT_EQ(nft::RuleText(k.rule, k.ctx), g->second.text);
  // Encode: nft's own bytecode for that text.
  auto l = LowerOne(k, k.rule);
  EXPECT_EQ(DebugLines(l->lr.rule.get()), g->second.lines);
  // Decode: back to a rule that lowers the same.
  std::optional<ir::Rule> back =
      nft::DecodeRule(l->lr.rule.get(), ResolverFor(l->lt));
  ASSERT_TRUE(back.has_value()) << g->second.text;
  auto again = LowerOne(k, *back);
  EXPECT_EQ(DebugLines(again->lr.rule.get()), g->second.lines);
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> out;
  for (const auto& [name, _] : Cases()) out.push_back(name);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Kinds, NftKindTest, ::testing::ValuesIn(CaseNames()),
                         [](const auto& info) { return info.param; });

TEST(NftKindGoldens, EveryIrKindHasACase) {
  std::vector<const ir::Rule*> rules;
  const auto cases = Cases();
  for (const auto& [name, c] : cases) rules.push_back(&c.rule);
  EXPECT_THAT(::meshcap::testing::KindsMissing(rules), ::testing::IsEmpty())
      << "add a case to tests/golden/testdata/nft_kinds.txt and Cases()";
}

TEST(NftKindGoldens, EveryGoldenHasACase) {
  const auto cases = Cases();
  for (const auto& [name, g] : ReadGoldens()) {
    EXPECT_EQ(cases.count(name), 1u) << name;
  }
  EXPECT_EQ(ReadGoldens().size(), cases.size());
}

// --- Decode round trips over the corpora -------------------------------------

class NftRoundTripTest
    : public ::testing::TestWithParam<::meshcap::testing::ConformanceCase> {};

TEST_P(NftRoundTripTest, EveryRuleDecodesToOneThatLowersTheSame) {
  if (::meshcap::testing::NamesConformanceGroups(GetParam().policy_json) &&
      !::meshcap::testing::EnsureConformanceGroups()) {
    GTEST_SKIP() << "groups java/ftp missing and not root";
  }
  const ir::RuleSet rules =
      internal::Compile(::meshcap::testing::PolicyJson(GetParam().policy_json),
                        ir::Dialect::kNftables);
  absl::StatusOr<nft::LoweredRuleSet> lowered = nft::Lower(rules);
  ASSERT_THAT(lowered, IsOk());
  int n = 0;
  for (const nft::LoweredTable& t : lowered->tables) {
    for (const nft::LoweredRule& r : t.rules) {
      auto resolve =
          [&](const nftnl_expr* lookup) -> const std::vector<std::string>* {
        const uint32_t id =
            nftnl_expr_get_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID);
        for (const nft::LoweredSet& s : t.sets) {
          if (s.id == id) return &s.keys;
        }
        return nullptr;
      };
      std::optional<ir::Rule> back = nft::DecodeRule(r.rule.get(), resolve);
      ASSERT_TRUE(back.has_value()) << nft::RuleText(*r.source, r.context);
      KindCase k{r.context, *back};
      auto again = LowerOne(k, *back);
      EXPECT_EQ(DebugLines(again->lr.rule.get()), DebugLines(r.rule.get()))
          << nft::RuleText(*r.source, r.context);
      ++n;
    }
  }
  EXPECT_GT(n, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Corpora, NftRoundTripTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAllConformanceCases()),
    ::meshcap::testing::CaseName);

// --- What the backend sends, recorded
// -----------------------------------------

using ::meshcap::testing::MessageTypes;
using ::meshcap::testing::RecordingTransport;

TEST(NftBatchTest, AFreshNamespaceGetsOneBatchWithoutADelete) {
  RecordingTransport::State state;
  nft::NftablesBackend backend(std::make_unique<RecordingTransport>(&state));
  const ir::RuleSet rules = ::meshcap::testing::CompileJson(
      R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*"})",
      ir::Dialect::kNftables);
  std::vector<std::string> changes;
  ASSERT_THAT(backend.Apply(rules, {}, &changes, {}), IsOk());
  ASSERT_EQ(state.batches.size(), 1u);
  const auto types = MessageTypes(state.batches[0]);
  EXPECT_THAT(types, Not(Contains("DELTABLE")));
  EXPECT_EQ(types.front(), "BEGIN");
  EXPECT_EQ(types.back(), "END");
  EXPECT_THAT(changes, ElementsAre("created table inet istio-proxy-nat"));
}

TEST(NftBatchTest, OursPresentIsDeletedExactlyOnceAndOthersNever) {
  RecordingTransport::State state;
  state.tables = {"istio-ambient-nat"};  // another profile's, left behind
  nft::NftablesBackend backend(std::make_unique<RecordingTransport>(&state));
  const ir::RuleSet rules =
      ::meshcap::testing::CompileJson("{}", ir::Dialect::kNftables);
  std::vector<std::string> changes;
  ASSERT_THAT(backend.Apply(rules, {}, &changes, {}), IsOk());
  ASSERT_EQ(state.batches.size(), 1u);
  const auto types = MessageTypes(state.batches[0]);
  EXPECT_EQ(std::count(types.begin(), types.end(), "DELTABLE"), 1);
  EXPECT_THAT(changes, Contains("deleted table inet istio-ambient-nat"));
}

TEST(NftBatchTest, RemovingNothingSendsNothing) {
  RecordingTransport::State state;
  nft::NftablesBackend backend(std::make_unique<RecordingTransport>(&state));
  std::vector<std::string> changes;
  ASSERT_THAT(backend.Remove(&changes), IsOk());
  EXPECT_TRUE(state.batches.empty());
  EXPECT_TRUE(changes.empty());
}

TEST(NftBatchTest, AnyPolicySizeIsOneBatchOverSeveralPages) {
  std::string cidrs;
  for (int i = 0; i < 10000; ++i) {
    cidrs += (i ? "," : "") + std::string("10.") + std::to_string(i / 256) +
             "." + std::to_string(i % 256) + ".0/24";
  }
  std::string ports;
  for (int i = 0; i < 1000; ++i) {
    ports += (i ? "," : "") + std::to_string(20000 + i);
  }
  const ir::RuleSet rules = ::meshcap::testing::CompileJson(
      R"({"OutboundIPRangesInclude": "*", "OutboundIPRangesExclude": ")" +
          cidrs + R"(", "OutboundPortsExclude": ")" + ports + R"("})",
      ir::Dialect::kNftables);
  RecordingTransport::State state;
  nft::NftablesBackend backend(std::make_unique<RecordingTransport>(&state));
  std::vector<std::string> changes;
  ASSERT_THAT(backend.Apply(rules, {}, &changes, {}), IsOk());
  ASSERT_EQ(state.batches.size(), 1u);
  const auto types = MessageTypes(state.batches[0]);
  // Every exclusion is a rule of its own, as in Istio.
  size_t base = 0;
  for (const ir::Table& t :
       ::meshcap::testing::CompileJson(R"({"OutboundIPRangesInclude": "*"})",
                                       ir::Dialect::kNftables)
           .tables) {
    base += t.entries.size();
  }
  EXPECT_EQ(
      static_cast<size_t>(std::count(types.begin(), types.end(), "NEWRULE")),
      base + 10000 + 2 * 1000);
  EXPECT_GT(state.batches[0].size(), 2u * 1024 * 1024);
}

}  // namespace
}  // namespace meshcap
