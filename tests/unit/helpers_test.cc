// SPDX-License-Identifier: GPL-2.0-or-later
//
// The small helpers everything stands on: addresses, text, the sequence
// alignment verify uses, the final order of a chain.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/net.h"
#include "src/compile/builder.h"
#include "src/ir/rule_set.h"
#include "src/seq_diff.h"
#include "src/text.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::meshcap::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CidrTest, ParsesBothFamiliesAndClearsHostBits) {
  absl::StatusOr<Cidr> c = Cidr::Parse("10.1.2.3/8");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->family(), IpFamily::kIpv4);
  EXPECT_EQ(c->ToString(), "10.0.0.0/8");
  EXPECT_EQ(c->PrefixString(), "10.1.2.3/8");  // netip.Prefix.String()
  EXPECT_EQ(c->Text(), "10.1.2.3/8");
  absl::StatusOr<Cidr> v6 = Cidr::Parse("FD00:0:0::1/64");
  ASSERT_THAT(v6, IsOk());
  EXPECT_EQ(v6->ToString(), "fd00::/64");
  EXPECT_EQ(v6->PrefixString(), "fd00::1/64");
  absl::StatusOr<Cidr> host = Cidr::Parse("198.51.100.7");
  ASSERT_THAT(host, IsOk());
  EXPECT_EQ(host->prefix_len(), 32);
  EXPECT_EQ(host->HostAddressString(), "198.51.100.7");
  EXPECT_EQ(host->WithText("198.51.100.7/32").Text(), "198.51.100.7/32");
  EXPECT_EQ(host->WithText("x"), *host);  // the spelling is not the value
}

TEST(CidrTest, RejectsWhatIsNoPrefix) {
  for (const char* bad :
       {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "/8", "10.0.0.0/-1",
        "10.0.0.256", "foo", "10.0.0.0/8/8", "fe80::1%eth0/64"}) {
    EXPECT_THAT(Cidr::Parse(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("is not a valid CIDR")))
        << bad;
  }
}

TEST(CidrTest, LoopbackAndContainment) {
  EXPECT_TRUE(Cidr::Parse("127.0.0.6")->IsLoopback());
  EXPECT_TRUE(Cidr::Parse("::1")->IsLoopback());
  EXPECT_FALSE(Cidr::Parse("::6")->IsLoopback());
  EXPECT_FALSE(Cidr::Parse("10.0.0.1")->IsLoopback());
  const Cidr eight = *Cidr::Parse("10.0.0.0/8");
  EXPECT_TRUE(eight.Contains(*Cidr::Parse("10.1.0.0/16")));
  EXPECT_FALSE(eight.Contains(*Cidr::Parse("11.0.0.0/16")));
  EXPECT_FALSE(eight.Contains(*Cidr::Parse("0.0.0.0/0")));
  EXPECT_FALSE(eight.Contains(*Cidr::Parse("::/0")));
}

TEST(TextTest, EscapeMakesOnePrintableLine) {
  EXPECT_EQ(internal::Escape("a\nb\tc\x1b[0m\\"), "a\\nb\\tc\\x1b[0m\\\\");
  EXPECT_EQ(internal::Escape(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(internal::Quote("é"), "'\\xc3\\xa9'");
}

TEST(TextTest, SplitListIsIstiosSplit) {
  EXPECT_THAT(internal::SplitList("a,,b, c ,"), ElementsAre("a", "b", "c"));
  EXPECT_TRUE(internal::SplitList("").empty());
  EXPECT_TRUE(internal::SplitList(",,").empty());
}

TEST(TextTest, ParseDecimalIsStrict) {
  EXPECT_EQ(internal::ParseDecimal("65535", 1, 65535), 65535u);
  EXPECT_FALSE(internal::ParseDecimal("65536", 1, 65535).has_value());
  EXPECT_FALSE(internal::ParseDecimal("0", 1, 65535).has_value());
  EXPECT_FALSE(internal::ParseDecimal("+1", 0, 9).has_value());
  EXPECT_FALSE(internal::ParseDecimal(" 1", 0, 9).has_value());
  EXPECT_FALSE(internal::ParseDecimal("99999999999999999999999", 0, UINT64_MAX)
                   .has_value());
}

// Each run as "desired|actual" index lists.
std::vector<std::string> Runs(const std::string& want,
                              const std::string& have) {
  std::vector<std::string> out;
  for (const internal::DiffRun& r : internal::AlignSequences(
           want.size(), have.size(),
           [&](size_t i, size_t j) { return want[i] == have[j]; })) {
    std::string s;
    for (size_t i : r.desired) s += std::to_string(i);
    s += "|";
    for (size_t j : r.actual) s += std::to_string(j);
    out.push_back(s);
  }
  return out;
}

TEST(AlignSequencesTest, OneMissingIsOneMissingNotEverythingChanged) {
  EXPECT_TRUE(Runs("abcd", "abcd").empty());
  EXPECT_THAT(Runs("abcd", "acd"), ElementsAre("1|"));
  EXPECT_THAT(Runs("abc", "abxc"), ElementsAre("|2"));
  EXPECT_THAT(Runs("abc", "axc"), ElementsAre("1|1"));  // paired: changed
  EXPECT_THAT(Runs("", "ab"), ElementsAre("|01"));
  EXPECT_THAT(Runs("ab", ""), ElementsAre("01|"));
  EXPECT_THAT(Runs("xabcx", "xacx"), ElementsAre("2|"));  // inside the ends
}

TEST(AlignSequencesTest, LongChainsWithFewChangesCostLinearTime) {
  // 20,000 items with one changed in the middle: the prefix and suffix are
  // matched directly, so `equal` runs about 2n times, not n*m.
  const size_t n = 20000;
  size_t calls = 0;
  auto runs = internal::AlignSequences(n, n, [&](size_t i, size_t j) {
    ++calls;
    return i == j && i != n / 2;
  });
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_THAT(runs[0].desired, ElementsAre(n / 2));
  EXPECT_THAT(runs[0].actual, ElementsAre(n / 2));
  EXPECT_LT(calls, 3 * n);
}

// Applies the edit script of want/have to have; must give want.
std::string Edit(const std::string& want, const std::string& have) {
  auto script = internal::EditScript(
      want.size(), have.size(),
      [&](size_t i, size_t j) { return want[i] == have[j]; });
  std::string out;
  size_t j = 0;
  for (const internal::EditRun& r : script) {
    const size_t upto = r.after.has_value() ? *r.after + 1 : 0;
    for (; j < upto; ++j) out += have[j];
    for (size_t i : r.insert) out += want[i];
    j += r.remove.size();
  }
  for (; j < have.size(); ++j) out += have[j];
  return out;
}

TEST(EditScriptTest, TurnsWhatIsThereIntoWhatIsWanted) {
  for (const auto& [want, have] :
       std::vector<std::pair<std::string, std::string>>{{"abcd", "abcd"},
                                                        {"abcd", "acd"},
                                                        {"abc", "abxc"},
                                                        {"abc", "axc"},
                                                        {"", "ab"},
                                                        {"ab", ""},
                                                        {"xab", "ab"},
                                                        {"abx", "ab"},
                                                        {"abcdef", "fedcba"},
                                                        {"aXbYc", "aZbWc"}}) {
    EXPECT_EQ(Edit(want, have), want) << want << " from " << have;
  }
  // One insertion is one insert after the item before it.
  auto script = internal::EditScript(
      4, 3, [](size_t i, size_t j) { return "abxc"[i] == "abc"[j]; });
  ASSERT_EQ(script.size(), 1u);
  EXPECT_EQ(script[0].after, 1u);
  EXPECT_TRUE(script[0].remove.empty());
  EXPECT_THAT(script[0].insert, ElementsAre(2u));
}

TEST(AlignSequencesTest, PastTheTableBoundTheRestPairsByPosition) {
  // Nothing in common and a bound of 16 cells: one run of everything.
  auto runs = internal::AlignSequences(
      10, 8, [](size_t, size_t) { return false; }, 16);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].desired.size(), 10u);
  EXPECT_EQ(runs[0].actual.size(), 8u);
}

TEST(ResolveChainTest, InsertsLandWhereBothOfIstiosBackendsPutThem) {
  ir::Table t;
  auto rule = [](const char* chain) {
    return internal::RuleBuilder().Then(ir::JumpVerdict{chain});
  };
  t.entries.push_back({"C", 0, rule("a")});
  t.entries.push_back({"C", 1, rule("b")});  // front
  t.entries.push_back({"C", 9, rule("c")});  // past the end: append
  t.entries.push_back({"C", 2, rule("d")});  // second
  std::vector<std::string> order;
  for (const ir::Rule* r : ir::ResolveChain(t, "C", std::nullopt)) {
    order.push_back(std::get<ir::JumpVerdict>(r->verdict).chain);
  }
  EXPECT_THAT(order, ElementsAre("b", "d", "a", "c"));
}

}  // namespace
}  // namespace meshcap
