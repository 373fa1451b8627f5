// SPDX-License-Identifier: GPL-2.0-or-later
//
// TPROXY policy routing and the ::6 address, applied with the firewall
// rules, in fresh network namespaces; read back with `ip`.

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/compile.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CompileJson;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::ScopedNetns;
using ::meshcap::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Ip(const std::string& args) {
  auto r = ::meshcap::testing::Shell("ip " + args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

constexpr char kTproxy[] =
    R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
        "EnableIPv6": true})";

class RoutingTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!::meshcap::testing::HaveProgram("ip")) GTEST_SKIP() << "no ip";
    netns_ = std::make_unique<ScopedNetns>();
    if (!netns_->ok()) GTEST_SKIP() << netns_->error();
    EngineOptions o;
    o.backend = GetParam();
    absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
    ASSERT_THAT(e, IsOk());
    engine_ = *std::move(e);
  }
  void TearDown() override {
    engine_.reset();
    netns_.reset();
  }
  std::unique_ptr<ScopedNetns> netns_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(RoutingTest, TproxyAddsRulesRoutesAndTheIpv6Address) {
  ASSERT_THAT(engine_->Apply(CompileJson(kTproxy)), IsOk());
  EXPECT_THAT(Ip("-4 rule show"),
              HasSubstr("fwmark 0x539 lookup 133 proto 109"));
  EXPECT_THAT(Ip("-6 rule show"),
              HasSubstr("fwmark 0x539 lookup 133 proto 109"));
  EXPECT_THAT(Ip("-4 route show table 133"),
              HasSubstr("local default dev lo proto 109 scope host"));
  EXPECT_THAT(Ip("-6 route show table 133"),
              HasSubstr("local default dev lo proto 109"));
  EXPECT_THAT(Ip("-6 addr show dev lo"), HasSubstr("inet6 ::6/128"));
}

TEST_P(RoutingTest, ApplyingAgainNeitherFailsNorDuplicates) {
  const RuleSet rules = CompileJson(kTproxy);
  ASSERT_THAT(engine_->Apply(rules), IsOk());
  ASSERT_THAT(engine_->Apply(rules), IsOk());
  // A second engine knows nothing of the first one's work.
  EngineOptions o;
  o.backend = GetParam();
  auto other = Engine::Create(o);
  ASSERT_THAT(other, IsOk());
  ASSERT_THAT((*other)->Apply(rules), IsOk());
  EXPECT_EQ(Count(Ip("-4 rule show"), "fwmark 0x539"), 1);
  EXPECT_EQ(Count(Ip("-6 rule show"), "fwmark 0x539"), 1);
  EXPECT_EQ(Count(Ip("-4 route show table 133"), "local default"), 1);
  EXPECT_EQ(Count(Ip("-6 addr show dev lo"), "::6/128"), 1);
}

TEST_P(RoutingTest, RemoveTakesAllOfItAway) {
  ASSERT_THAT(engine_->Apply(CompileJson(kTproxy)), IsOk());
  ASSERT_THAT(engine_->Remove(), IsOk());
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_THAT(Ip("-6 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_EQ(Ip("-4 route show table 133"), "");
  EXPECT_EQ(Ip("-6 route show table 133"), "");
  EXPECT_THAT(Ip("-6 addr show dev lo"), Not(HasSubstr("::6/128")));
}

TEST_P(RoutingTest, ARedirectPolicyAfterTproxyLeavesNoRouting) {
  ASSERT_THAT(engine_->Apply(CompileJson(kTproxy)), IsOk());
  ASSERT_THAT(engine_->Apply(CompileJson(R"({"InboundPortsInclude": "*"})")),
              IsOk());
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_EQ(Ip("-4 route show table 133"), "");
  EXPECT_THAT(Ip("-6 addr show dev lo"), Not(HasSubstr("::6/128")));
}

TEST_P(RoutingTest, AFailedFirewallTakesBackOnlyWhatThisApplyAdded) {
  // Already there before: the IPv4 route. It must survive.
  Ip("-4 route add local default dev lo table 133 proto 109");
  RuleSet broken = CompileJson(kTproxy);
  // Mangle is in both backends; a jump to nowhere fails in both.
  for (Table& t : broken.tables) {
    if (t.kind != TableKind::kMangle) continue;
    RuleEntry bad;
    bad.chain = "ISTIO_DIVERT";
    bad.rule.verdict = JumpVerdict{"ISTIO_NOWHERE"};
    t.entries.push_back(bad);
  }
  EXPECT_THAT(engine_->Apply(broken), Not(IsOk()));
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_THAT(Ip("-6 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_EQ(Ip("-6 route show table 133"), "");
  EXPECT_THAT(Ip("-6 addr show dev lo"), Not(HasSubstr("::6/128")));
  EXPECT_THAT(Ip("-4 route show table 133"), HasSubstr("local default dev lo"));
}

INSTANTIATE_TEST_SUITE_P(Backends, RoutingTest,
                         ::testing::Values("nftables", "iptables-legacy"),
                         ::meshcap::testing::BackendName);

}  // namespace
}  // namespace meshcap
