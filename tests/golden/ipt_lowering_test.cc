// SPDX-License-Identifier: GPL-2.0-or-later
//
// The legacy iptables lowering without a kernel or root:
//   - every IR kind against the entry iptables-legacy-restore makes of
//     Istio's text (testdata/xt_kinds.golden, from dev/golden/xt-kinds.sh),
//     its spelling, and its decoding back;
//   - decode round trips over both conformance corpora.

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backends/iptables_legacy/decode.h"
#include "backends/iptables_legacy/lower.h"
#include "backends/iptables_legacy/table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/compile/builder.h"
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

struct Golden {
  std::string table;
  IpFamily family = IpFamily::kIpv4;
  std::string text;
  std::string key_hex;
};

std::map<std::string, Golden> ReadGoldens() {
  std::ifstream in(std::string(MESHCAP_SOURCE_ROOT) +
                   "/tests/golden/testdata/xt_kinds.golden");
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
      cur->key_hex = line;
    }
  }
  return out;
}

ir::TableKind KindOf(const std::string& t) {
  if (t == "mangle") return ir::TableKind::kMangle;
  if (t == "raw") return ir::TableKind::kRaw;
  return ir::TableKind::kNat;
}

std::string Hex(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

// Our entry's comparison key, without our tag (iptables' entries carry
// none): the entry header, matches and target.
std::string KeyHex(const ir::Rule& rule, IpFamily family) {
  ipt::LoweredEntry e;
  e.chain = "C";
  e.source = &rule;
  e.bytes = ipt::LowerRule(rule, family);
  std::string key = ipt::Table::DesiredKey(family, e);
  const size_t tag_at =
      family == IpFamily::kIpv4 ? sizeof(ipt_ip) : sizeof(ip6t_ip6);
  key.replace(tag_at, 4, 4, '\0');
  return Hex(key);
}

class IptKindTest : public ::testing::TestWithParam<std::string> {};

TEST_P(IptKindTest, SpellsEncodesAndDecodesAsIptablesDoes) {
  static const auto cases = Cases();
  static const auto goldens = ReadGoldens();
  const KindCase& k = cases.at(GetParam());
  const auto g = goldens.find(GetParam());
  ASSERT_NE(g, goldens.end()) << "run dev/golden/xt-kinds.sh";
  const ir::TableKind table = KindOf(g->second.table);
  // Spell: Istio's text.
  EXPECT_EQ(ipt::RuleText("C", 0, k.rule, k.profile, table),
            "-A C " + g->second.text);
  // Encode: the entry iptables makes of it.
  EXPECT_EQ(KeyHex(k.rule, g->second.family), g->second.key_hex);
  // Decode: back to a rule that encodes the same.
  const std::vector<uint8_t> bytes = ipt::LowerRule(k.rule, g->second.family);
  const char* standard = nullptr;
  std::string standard_name;
  if (std::holds_alternative<ir::JumpVerdict>(k.rule.verdict) ||
      std::holds_alternative<ir::ReturnVerdict>(k.rule.verdict) ||
      std::holds_alternative<ir::AcceptVerdict>(k.rule.verdict) ||
      std::holds_alternative<ir::DropVerdict>(k.rule.verdict)) {
    // What libiptc would name it.
    if (const auto* j = std::get_if<ir::JumpVerdict>(&k.rule.verdict)) {
      standard_name = j->chain;
    } else if (std::holds_alternative<ir::ReturnVerdict>(k.rule.verdict)) {
      standard_name = "RETURN";
    } else if (std::holds_alternative<ir::AcceptVerdict>(k.rule.verdict)) {
      standard_name = "ACCEPT";
    } else {
      standard_name = "DROP";
    }
    standard = standard_name.c_str();
  }
  std::optional<ir::Rule> back =
      ipt::DecodeEntry(g->second.family, bytes, standard);
  ASSERT_TRUE(back.has_value()) << g->second.text;
  EXPECT_EQ(KeyHex(*back, g->second.family), g->second.key_hex);
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> out;
  for (const auto& [name, _] : Cases()) out.push_back(name);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Kinds, IptKindTest, ::testing::ValuesIn(CaseNames()),
                         [](const auto& info) { return info.param; });

TEST(IptKindGoldens, EveryIrKindHasACase) {
  std::vector<const ir::Rule*> rules;
  const auto cases = Cases();
  for (const auto& [name, c] : cases) rules.push_back(&c.rule);
  EXPECT_THAT(::meshcap::testing::KindsMissing(rules), ::testing::IsEmpty())
      << "add a case to tests/golden/testdata/xt_kinds.txt and kind_cases.h";
}

TEST(IptKindGoldens, EveryGoldenHasACase) {
  const auto cases = Cases();
  for (const auto& [name, g] : ReadGoldens()) {
    EXPECT_EQ(cases.count(name), 1u) << name;
    EXPECT_FALSE(g.key_hex.empty()) << name;
  }
  EXPECT_EQ(ReadGoldens().size(), cases.size());
}

// --- Decode round trips over the corpora -------------------------------------

class IptRoundTripTest
    : public ::testing::TestWithParam<::meshcap::testing::ConformanceCase> {};

TEST_P(IptRoundTripTest, EveryEntryDecodesToOneThatEncodesTheSame) {
  if (::meshcap::testing::NamesConformanceGroups(GetParam().policy_json) &&
      !::meshcap::testing::EnsureConformanceGroups()) {
    GTEST_SKIP() << "groups java/ftp missing and not root";
  }
  const ir::RuleSet rules =
      internal::Compile(::meshcap::testing::PolicyJson(GetParam().policy_json),
                        ir::Dialect::kIptables);
  int n = 0;
  for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    absl::StatusOr<std::vector<ipt::LoweredTable>> lowered =
        ipt::Lower(rules, f);
    ASSERT_THAT(lowered, IsOk());
    for (const ipt::LoweredTable& t : *lowered) {
      for (const ipt::LoweredEntry& e : t.entries) {
        std::string standard;
        if (const auto* j = std::get_if<ir::JumpVerdict>(&e.source->verdict)) {
          standard = j->chain;
        } else if (std::holds_alternative<ir::ReturnVerdict>(
                       e.source->verdict)) {
          standard = "RETURN";
        } else if (std::holds_alternative<ir::AcceptVerdict>(
                       e.source->verdict)) {
          standard = "ACCEPT";
        } else if (std::holds_alternative<ir::DropVerdict>(e.source->verdict)) {
          standard = "DROP";
        }
        std::optional<ir::Rule> back = ipt::DecodeEntry(
            f, e.bytes, standard.empty() ? nullptr : standard.c_str());
        ASSERT_TRUE(back.has_value())
            << ipt::RuleText(e.chain, 0, *e.source, t.profile, t.kind);
        EXPECT_EQ(KeyHex(*back, f), KeyHex(*e.source, f))
            << ipt::RuleText(e.chain, 0, *e.source, t.profile, t.kind);
        ++n;
      }
    }
  }
  EXPECT_GT(n, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Corpora, IptRoundTripTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAllConformanceCases()),
    ::meshcap::testing::CaseName);

}  // namespace
}  // namespace meshcap
