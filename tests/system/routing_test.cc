// SPDX-License-Identifier: GPL-2.0-or-later
//
// TPROXY policy routing and the ::6 address, applied with the firewall
// rules, in fresh network namespaces; read back with `ip`.

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "src/backend.h"
#include "tests/testing/fake_backend.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
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

// The report's differences, as verify prints them.
std::vector<std::string> Seen(const VerifyReport& report) {
  std::vector<std::string> seen;
  for (const Difference& d : report.differences) seen.push_back(d.ToString());
  return seen;
}

// How many of the report's leftovers are routing entries (and, with
// `addresses`, addresses).
int RoutingLeftovers(const VerifyReport& report, bool addresses) {
  int n = 0;
  for (const Difference& d : report.differences) {
    if (d.kind == Difference::Kind::kExtra &&
        (d.object == "routing entry" || (addresses && d.object == "address"))) {
      ++n;
    }
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
  ASSERT_THAT(engine_->Apply(PolicyJson(kTproxy)), IsOk());
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
  const CapturePolicy rules = PolicyJson(kTproxy);
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
  ASSERT_THAT(engine_->Apply(PolicyJson(kTproxy)), IsOk());
  ASSERT_THAT(engine_->Remove(), IsOk());
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_THAT(Ip("-6 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_EQ(Ip("-4 route show table 133"), "");
  EXPECT_EQ(Ip("-6 route show table 133"), "");
  EXPECT_THAT(Ip("-6 addr show dev lo"), Not(HasSubstr("::6/128")));
}

TEST_P(RoutingTest, ARedirectPolicyAfterTproxyLeavesNoRouting) {
  ASSERT_THAT(engine_->Apply(PolicyJson(kTproxy)), IsOk());
  ASSERT_THAT(engine_->Apply(PolicyJson(R"({"InboundPortsInclude": "*"})")),
              IsOk());
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_EQ(Ip("-4 route show table 133"), "");
  EXPECT_THAT(Ip("-6 addr show dev lo"), Not(HasSubstr("::6/128")));
}

TEST_P(RoutingTest, VerifySeesMissingAndLeftoverRouting) {
  const CapturePolicy tproxy = PolicyJson(kTproxy);
  ASSERT_THAT(engine_->Apply(tproxy), IsOk());
  EXPECT_TRUE(engine_->Verify(tproxy)->matches());
  // Somebody deletes the IPv4 rule and ::6.
  Ip("-4 rule del fwmark 0x539 lookup 133");
  Ip("-6 addr del ::6/128 dev lo");
  absl::StatusOr<VerifyReport> report = engine_->Verify(tproxy);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(Seen(*report),
              ::testing::UnorderedElementsAre(
                  "missing routing entry: ip rule fwmark 0x539 lookup "
                  "133 (IPv4)",
                  "missing address: ip address ::6/128 dev lo"));
  // The next apply puts them back, and verify agrees.
  absl::StatusOr<ApplyResult> r = engine_->Apply(tproxy);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->changes.size(), 2u);
  EXPECT_TRUE(engine_->Verify(tproxy)->matches());
  // A policy without TPROXY sees ours as leftovers.
  const CapturePolicy redirect = PolicyJson(R"({"InboundPortsInclude": "*"})");
  report = engine_->Verify(redirect);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(RoutingLeftovers(*report, /*addresses=*/true),
            5);  // 2 rules, 2 routes, ::6
}

TEST_P(RoutingTest, AmbientRoutingIsOwnedToo) {
  const CapturePolicy ambient =
      PolicyJson(R"({"Profile": "ambient", "EnableIPv6": true})");
  ASSERT_THAT(engine_->Apply(ambient), IsOk());
  EXPECT_THAT(Ip("-4 rule show"),
              HasSubstr("32764:\tfrom all fwmark 0x111/0xfff lookup 100 "
                        "proto 109"));
  EXPECT_THAT(Ip("-6 rule show"),
              HasSubstr("32764:\tfrom all fwmark 0x111/0xfff lookup 100 "
                        "proto 109"));
  EXPECT_THAT(Ip("-4 route show table 100"),
              HasSubstr("local default dev lo proto 109 scope host"));
  EXPECT_THAT(Ip("-6 route show table 100"),
              HasSubstr("local default dev lo proto 109"));
  EXPECT_THAT(Ip("-6 addr show dev lo"), Not(HasSubstr("::6/128")));
  EXPECT_TRUE(engine_->Verify(ambient)->matches());
  // Switching to the sidecar profile is one apply, routing included.
  const CapturePolicy tproxy = PolicyJson(kTproxy);
  ASSERT_THAT(engine_->Apply(tproxy), IsOk());
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("0x111")));
  EXPECT_THAT(Ip("-6 rule show"), Not(HasSubstr("0x111")));
  EXPECT_EQ(Ip("-4 route show table 100"), "");
  EXPECT_EQ(Ip("-6 route show table 100"), "");
  EXPECT_TRUE(engine_->Verify(tproxy)->matches());
  ASSERT_THAT(engine_->Remove(), IsOk());
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("fwmark")));
}

TEST_P(RoutingTest, VerifySeesMissingAndLeftoverAmbientRouting) {
  const CapturePolicy ambient =
      PolicyJson(R"({"Profile": "ambient", "EnableIPv6": true})");
  ASSERT_THAT(engine_->Apply(ambient), IsOk());
  EXPECT_TRUE(engine_->Verify(ambient)->matches());
  // Somebody deletes the IPv4 rule and the IPv6 route.
  Ip("-4 rule del fwmark 0x111/0xfff lookup 100");
  Ip("-6 route del local default dev lo table 100");
  absl::StatusOr<VerifyReport> report = engine_->Verify(ambient);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(Seen(*report),
              ::testing::UnorderedElementsAre(
                  "missing routing entry: ip rule fwmark 0x111/0xfff pref "
                  "32764 lookup 100 (IPv4)",
                  "missing routing entry: ip route local default dev lo table "
                  "100 (IPv6)"));
  // The next apply puts them back, and verify agrees.
  absl::StatusOr<ApplyResult> r = engine_->Apply(ambient);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->changes.size(), 2u);
  EXPECT_TRUE(engine_->Verify(ambient)->matches());
  // A sidecar policy sees ours as leftovers.
  const CapturePolicy redirect = PolicyJson(R"({"InboundPortsInclude": "*"})");
  report = engine_->Verify(redirect);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(RoutingLeftovers(*report, /*addresses=*/false),
            4);  // 2 rules, 2 routes
}

INSTANTIATE_TEST_SUITE_P(Backends, RoutingTest,
                         ::testing::Values("nftables", "iptables-legacy",
                                           "iptables-nft"),
                         ::meshcap::testing::BackendName);

// The Engine's own order, with a firewall that fails on demand.
TEST(EngineRoutingTest, AFailedFirewallTakesBackOnlyWhatThisApplyAdded) {
  if (!::meshcap::testing::HaveProgram("ip")) GTEST_SKIP() << "no ip";
  ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  ::meshcap::testing::FakeKernel kernel;
  ::meshcap::testing::FakeBackendFactory fake(&kernel);
  internal::ScopedBackendOverride use(&fake);
  EngineOptions o;
  o.backend = "fake";
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(o);
  ASSERT_THAT(engine, IsOk());
  // Already there before: the IPv4 route. It must survive.
  Ip("-4 route add local default dev lo table 133 proto 109");
  kernel.fail_next_apply = absl::InternalError("the firewall said no");
  EXPECT_THAT(
      (*engine)->Apply(PolicyJson(kTproxy)),
      StatusIs(absl::StatusCode::kInternal, HasSubstr("the firewall said no")));
  EXPECT_THAT(Ip("-4 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_THAT(Ip("-6 rule show"), Not(HasSubstr("fwmark")));
  EXPECT_EQ(Ip("-6 route show table 133"), "");
  EXPECT_THAT(Ip("-6 addr show dev lo"), Not(HasSubstr("::6/128")));
  EXPECT_THAT(Ip("-4 route show table 133"), HasSubstr("local default dev lo"));
  // Then it works, and an unchanged apply changes nothing at all.
  absl::StatusOr<ApplyResult> r = (*engine)->Apply(PolicyJson(kTproxy));
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->changed());
  r = (*engine)->Apply(PolicyJson(kTproxy));
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->changed()) << r->changes.front();
}

// A firewall that failed past its commit point is (partly) in force: it
// keeps the routing it needs.
TEST(EngineRoutingTest, AFailurePastTheCommitKeepsTheNewRouting) {
  if (!::meshcap::testing::HaveProgram("ip")) GTEST_SKIP() << "no ip";
  ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  ::meshcap::testing::FakeKernel kernel;
  ::meshcap::testing::FakeBackendFactory fake(&kernel);
  internal::ScopedBackendOverride use(&fake);
  EngineOptions o;
  o.backend = "fake";
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(o);
  ASSERT_THAT(engine, IsOk());
  kernel.fail_next_apply = internal::PastCommit(
      absl::InternalError("the new rules are in force except in raw"));
  EXPECT_THAT((*engine)->Apply(PolicyJson(kTproxy)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("except in")));
  EXPECT_THAT(Ip("-4 rule show"), HasSubstr("fwmark 0x539"));
  EXPECT_THAT(Ip("-6 rule show"), HasSubstr("fwmark 0x539"));
  EXPECT_THAT(Ip("-4 route show table 133"), HasSubstr("local default dev lo"));
  EXPECT_THAT(Ip("-6 addr show dev lo"), HasSubstr("::6/128"));
}

}  // namespace
}  // namespace meshcap
