// SPDX-License-Identifier: GPL-2.0-or-later
//
// CompactLists against the kernel (nftables, each test in a namespace of
// its own): what apply leaves is what `nft -f` of `meshcap render` leaves;
// a one-CIDR change is a set element update and nothing else; verify sees
// a set's elements; clean removes the sets with the tables; the iptables
// backends refuse the knob and change nothing. The verdicts of real
// packets through the named sets are checked by explain_kernel_test.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "meshcap/render.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::meshcap::testing::ScopedNetns;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

CommandResult Sh(const std::string& command) {
  return ::meshcap::testing::Shell(command);
}

std::string ListRuleset() { return ::meshcap::testing::NftListRuleset(); }

void LoadNft(const std::string& text) { ::meshcap::testing::NftLoad(text); }

std::string Describe(const VerifyReport& r) {
  std::string out;
  for (const Difference& d : r.differences) out += d.ToString() + "\n";
  return out;
}

std::unique_ptr<Engine> EngineFor(const char* backend) {
  EngineOptions o;
  o.backend = backend;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
  EXPECT_THAT(e, IsOk());
  return e.ok() ? *std::move(e) : nullptr;
}

// `n` disjoint /30s of 10.0.0.0/8 starting at the `first`-th, then `n6`
// /64s of 2001:db8::/32.
std::string Ranges(int first, int n, int n6 = 0) {
  std::vector<std::string> out;
  for (int i = first; i < first + n; ++i) {
    const int a = i * 4;
    out.push_back(absl::StrCat("10.", (a >> 16) & 255, ".", (a >> 8) & 255, ".",
                               a & 255, "/30"));
  }
  for (int i = 0; i < n6; ++i) {
    out.push_back(absl::StrCat("2001:db8:", i / 256, ":", i % 256, "::/64"));
  }
  return absl::StrJoin(out, ",");
}

std::string Ports(int n, int first) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(first + 3 * i);
  return absl::StrJoin(out, ",");
}

std::string Long(const std::string& exclude) {
  return absl::StrCat(R"({"CompactLists": true, "EnableIPv6": true,
      "InboundPortsInclude": "*", "InboundPortsExclude": ")",
                      Ports(200, 50000), R"(", "OutboundPortsExclude": ")",
                      Ports(1000, 20000), R"(", "OutboundIPRangesExclude": ")",
                      exclude, R"("})");
}

class CompactKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!::meshcap::testing::HaveProgram("nft")) {
      GTEST_SKIP() << "nft is not installed";
    }
    netns_ = std::make_unique<ScopedNetns>();
    if (!netns_->ok()) GTEST_SKIP() << netns_->error();
  }
  void TearDown() override { netns_.reset(); }

  std::unique_ptr<ScopedNetns> netns_;
};

// What meshcap's apply leaves, `nft -f` of its render leaves too (and
// verify finds it exact): for every corpus case with lists, and for long
// lists whose elements take many messages.
TEST_F(CompactKernelTest, NftOfTheRenderEqualsTheApply) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  std::vector<std::pair<std::string, std::string>> policies;
  for (const auto& c : ::meshcap::testing::LoadConformanceCases()) {
    std::string json = c.policy_json;
    json.insert(json.find('{') + 1, "\"CompactLists\":true,");
    policies.emplace_back(c.name, json);
  }
  policies.emplace_back("long", Long(Ranges(0, 3000, 500)));
  size_t with_sets = 0;
  for (const auto& [name, json] : policies) {
    SCOPED_TRACE(name);
    const CapturePolicy p = PolicyJson(json);
    // From an empty ruleset each time: the listing orders tables by birth.
    ASSERT_EQ(Sh("nft flush ruleset").exit_code, 0);
    ASSERT_THAT(engine->Apply(p), IsOk());
    const std::string applied = ListRuleset();
    with_sets += applied.find("\tset ") != std::string::npos;
    ASSERT_EQ(Sh("nft flush ruleset").exit_code, 0);
    absl::StatusOr<std::string> script = Render(p, "nftables");
    ASSERT_THAT(script, IsOk());
    LoadNft(*script);
    EXPECT_EQ(ListRuleset(), applied);
    absl::StatusOr<VerifyReport> v = engine->Verify(p);
    ASSERT_THAT(v, IsOk());
    EXPECT_TRUE(v->matches()) << Describe(*v);
    // And the render again over it (its flush) leaves the same.
    LoadNft(*script);
    EXPECT_EQ(ListRuleset(), applied);
    absl::StatusOr<ApplyResult> again = engine->Apply(p);
    ASSERT_THAT(again, IsOk());
    EXPECT_FALSE(again->changed());
  }
  EXPECT_GE(with_sets, 8u);
}

TEST_F(CompactKernelTest, AOneCidrChangeIsASetElementUpdate) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  const std::string base = Ranges(0, 10000);
  ASSERT_THAT(engine->Apply(PolicyJson(Long(base))), IsOk());
  const std::string chains =
      Sh("nft -a list chain inet istio-proxy-nat istio-output").output;

  // One more range.
  const std::string more = base + ",192.0.2.0/24";
  absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson(Long(more)));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ElementsAre("updated set inet istio-proxy-nat "
                          "outbound-exclude-v4: 1 element(s) added, 0 "
                          "removed"));
  EXPECT_TRUE(engine->Verify(PolicyJson(Long(more)))->matches());
  // The rules are the same rules (same handles).
  EXPECT_EQ(Sh("nft -a list chain inet istio-proxy-nat istio-output").output,
            chains);
  EXPECT_THAT(Sh("nft get element inet istio-proxy-nat outbound-exclude-v4 "
                 "'{ 192.0.2.7 }'")
                  .output,
              HasSubstr("192.0.2.0/24"));

  // A range that holds 64 of the others replaces them.
  const std::string wider = more + ",10.0.0.0/24";
  r = engine->Apply(PolicyJson(Long(wider)));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ElementsAre("updated set inet istio-proxy-nat "
                          "outbound-exclude-v4: 1 element(s) added, 64 "
                          "removed"));
  EXPECT_TRUE(engine->Verify(PolicyJson(Long(wider)))->matches());

  // And back: the 64 return, the wide one goes; a port leaves its set.
  std::string back = Long(base);
  back.replace(back.find("20000,"), 6, "");
  r = engine->Apply(PolicyJson(back));
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ::testing::UnorderedElementsAre(
                              "updated set inet istio-proxy-nat "
                              "outbound-exclude-v4: 64 element(s) added, 2 "
                              "removed",
                              "updated set inet istio-proxy-nat "
                              "outbound-ports-exclude: 0 element(s) added, 1 "
                              "removed"));
  EXPECT_TRUE(engine->Verify(PolicyJson(back))->matches());
  EXPECT_EQ(Sh("nft -a list chain inet istio-proxy-nat istio-output").output,
            chains);

  // The same again sends nothing: the generation stays.
  const uint32_t gen = engine->Verify(PolicyJson(back))->generation;
  r = engine->Apply(PolicyJson(back));
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->changed());
  EXPECT_EQ(engine->Verify(PolicyJson(back))->generation, gen);
}

// Random edits of a list whose ranges nest, touch and repeat (in a small
// space, so that they do): each apply leaves exactly the policy (verify),
// the same elements `nft -f` of the render leaves, and sends element edits
// only.
TEST_F(CompactKernelTest, RandomListEditsAreElementUpdatesThatLandExactly) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  std::mt19937 rng(23);
  auto random_range = [&] {
    const int len = std::uniform_int_distribution<int>(27, 32)(rng);
    const uint32_t addr =
        std::uniform_int_distribution<uint32_t>(0, 0x1fff)(rng);
    return absl::StrCat("10.0.", addr >> 8, ".", addr & 255, "/", len);
  };
  std::vector<std::string> list;
  for (int i = 0; i < 150; ++i) list.push_back(random_range());
  auto policy = [&] {
    return PolicyJson(
        absl::StrCat(R"({"CompactLists": true, "OutboundIPRangesExclude": ")",
                     absl::StrJoin(list, ","), R"("})"));
  };
  ASSERT_THAT(engine->Apply(policy()), IsOk());
  size_t element_updates = 0;
  for (int step = 0; step < 40; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    const int edits = std::uniform_int_distribution<int>(1, 6)(rng);
    for (int e = 0; e < edits; ++e) {
      if (!list.empty() && rng() % 2 == 0) {
        list.erase(list.begin() + static_cast<long>(rng() % list.size()));
      } else {
        list.push_back(random_range());
      }
    }
    const CapturePolicy p = policy();
    absl::StatusOr<ApplyResult> r = engine->Apply(p);
    ASSERT_THAT(r, IsOk());
    for (const std::string& c : r->changes) {
      EXPECT_THAT(c, HasSubstr("updated set inet istio-proxy-nat "
                               "outbound-exclude-v4"));
      ++element_updates;
    }
    absl::StatusOr<VerifyReport> v = engine->Verify(p);
    ASSERT_THAT(v, IsOk());
    ASSERT_TRUE(v->matches()) << Describe(*v);
    if (step % 10 == 9) {
      const std::string set =
          Sh("nft list set inet istio-proxy-nat outbound-exclude-v4").output;
      absl::StatusOr<std::string> script = Render(p, "nftables");
      ASSERT_THAT(script, IsOk());
      ASSERT_EQ(Sh("nft flush ruleset").exit_code, 0);
      LoadNft(*script);
      EXPECT_EQ(
          Sh("nft list set inet istio-proxy-nat outbound-exclude-v4").output,
          set);
    }
  }
  EXPECT_GT(element_updates, 30u);
  std::printf("random list edits: 40 applies, %zu set element updates\n",
              element_updates);
}

TEST_F(CompactKernelTest, VerifySeesEachSetElementAndApplyRepairsIt) {
  auto engine = EngineFor("nftables");
  ASSERT_NE(engine, nullptr);
  const CapturePolicy p = PolicyJson(Long(Ranges(0, 100, 10)));
  ASSERT_THAT(engine->Apply(p), IsOk());
  ASSERT_EQ(Sh("nft add element inet istio-proxy-nat outbound-exclude-v4 "
               "'{ 203.0.113.0/25 }'; nft delete element inet "
               "istio-proxy-nat outbound-exclude-v6 '{ 2001:db8:0:3::/64 }'")
                .exit_code,
            0);
  absl::StatusOr<VerifyReport> v = engine->Verify(p);
  ASSERT_THAT(v, IsOk());
  std::vector<std::string> diffs;
  for (const Difference& d : v->differences) diffs.push_back(d.ToString());
  EXPECT_THAT(diffs, ::testing::UnorderedElementsAre(
                         "extra set element in "
                         "istio-proxy-nat/outbound-exclude-v4: "
                         "203.0.113.0/25",
                         "missing set element in "
                         "istio-proxy-nat/outbound-exclude-v6: "
                         "2001:db8:0:3::/64"));
  absl::StatusOr<ApplyResult> r = engine->Apply(p);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes,
              ::testing::UnorderedElementsAre(
                  "updated set inet istio-proxy-nat outbound-exclude-v4: 0 "
                  "element(s) added, 1 removed",
                  "updated set inet istio-proxy-nat outbound-exclude-v6: 1 "
                  "element(s) added, 0 removed"));
  EXPECT_TRUE(engine->Verify(p)->matches());
  // A set of another type is no element edit: the table is replaced.
  ASSERT_EQ(Sh("nft delete rule inet istio-proxy-nat istio-output handle $(nft "
               "-a list chain inet istio-proxy-nat istio-output | grep "
               "'@outbound-ports-exclude' | head -1 | sed 's/.*handle //') "
               "&& nft delete rule inet istio-proxy-nat istio-output handle "
               "$(nft -a list chain inet istio-proxy-nat istio-output | grep "
               "'@outbound-ports-exclude' | sed 's/.*handle //') && nft "
               "delete set inet istio-proxy-nat outbound-ports-exclude && nft "
               "add set inet istio-proxy-nat outbound-ports-exclude '{ type "
               "ipv4_addr; }'")
                .exit_code,
            0);
  v = engine->Verify(p);
  ASSERT_THAT(v, IsOk());
  EXPECT_FALSE(v->matches());
  EXPECT_THAT(Describe(*v),
              HasSubstr("changed set in "
                        "istio-proxy-nat/outbound-ports-exclude"));
  r = engine->Apply(p);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ElementsAre("replaced table inet istio-proxy-nat"));
  EXPECT_TRUE(engine->Verify(p)->matches());
  // Clean takes the sets with the tables.
  ASSERT_THAT(engine->Remove(), IsOk());
  EXPECT_EQ(ListRuleset(), "");
}

TEST_F(CompactKernelTest, TheIptablesBackendsRefuseItAndChangeNothing) {
  const std::string linear =
      R"({"OutboundIPRangesExclude": "10.0.0.0/8,192.0.2.0/24"})";
  const std::string compact =
      R"({"CompactLists": true, "OutboundIPRangesExclude": "10.0.0.0/8,192.0.2.0/24"})";
  for (const char* backend : {"iptables-legacy", "iptables-nft"}) {
    SCOPED_TRACE(backend);
    absl::StatusOr<std::unique_ptr<Engine>> e = [&] {
      EngineOptions o;
      o.backend = backend;
      return Engine::Create(o);
    }();
    if (!e.ok()) continue;  // not built
    ASSERT_THAT((*e)->Apply(PolicyJson(linear)), IsOk());
    const std::string save =
        Sh(std::string(backend) + "-save | grep -v '^#'").output;
    const std::string nft = ListRuleset();
    absl::StatusOr<ApplyResult> r = (*e)->Apply(PolicyJson(compact));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("CompactLists"));
    EXPECT_THAT(r.status().message(), HasSubstr(backend));
    EXPECT_EQ(Sh(std::string(backend) + "-save | grep -v '^#'").output, save);
    EXPECT_EQ(ListRuleset(), nft);
    EXPECT_EQ((*e)->Verify(PolicyJson(compact)).status().code(),
              absl::StatusCode::kInvalidArgument);
    ASSERT_THAT((*e)->Remove(), IsOk());
  }
}

}  // namespace
}  // namespace meshcap
