// SPDX-License-Identifier: GPL-2.0-or-later
//
// The Engine's own logic over a fake backend (tests/testing/fake_backend.h):
// what it reports, the namespace lock, options. Each test makes a network
// namespace for the Engine's routing and backend probes (root or
// `unshare -rn`).

#include "meshcap/engine.h"

#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/testing/fake_engine.h"
#include "src/backend.h"
#include "src/netns.h"
#include "src/netns_lock.h"
#include "tests/testing/fake_backend.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::FakeBackendFactory;
using ::meshcap::testing::FakeKernel;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::meshcap::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    netns_ = std::make_unique<::meshcap::testing::ScopedNetns>();
    if (!netns_->ok()) GTEST_SKIP() << netns_->error();
    override_ = std::make_unique<internal::ScopedBackendOverride>(&fake_);
  }
  void TearDown() override {
    override_.reset();
    netns_.reset();
  }
  std::unique_ptr<Engine> Make(EngineOptions o = {}) {
    o.backend = "fake";
    auto e = Engine::Create(o);
    EXPECT_THAT(e, IsOk());
    return e.ok() ? *std::move(e) : nullptr;
  }

  FakeKernel kernel_;
  FakeBackendFactory fake_{&kernel_};
  std::unique_ptr<::meshcap::testing::ScopedNetns> netns_;
  std::unique_ptr<internal::ScopedBackendOverride> override_;
};

TEST_F(EngineTest, ApplyReportsWhatChangedAndNothingWhenNothingDid) {
  auto engine = Make();
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson());
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ElementsAre("replaced the fake ruleset"));
  r = engine->Apply(PolicyJson());
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->changed());
  EXPECT_TRUE(engine->Verify(PolicyJson())->matches());
  r = engine->Remove();
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->changes, ElementsAre("removed the fake ruleset"));
  EXPECT_FALSE(engine->Verify(PolicyJson())->matches());
}

TEST_F(EngineTest, AHeldNamespaceLockMakesApplyWaitThenFailChangingNothing) {
  EngineOptions o;
  o.lock_timeout = std::chrono::milliseconds(200);
  auto engine = Make(o);
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<internal::UniqueFd> ns = internal::NetnsLock::OpenNamespace();
  ASSERT_THAT(ns, IsOk());
  absl::StatusOr<internal::NetnsLock> held = internal::NetnsLock::Acquire(
      ns->get(), true, std::chrono::milliseconds(1000));
  ASSERT_THAT(held, IsOk());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(
      engine->Apply(PolicyJson()),
      StatusIs(absl::StatusCode::kDeadlineExceeded,
               AllOf(HasSubstr("the meshcap lock of this network namespace "
                               "(net:["),
                     HasSubstr(std::to_string(getpid())),
                     HasSubstr("nothing was changed"))));
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(200));
  EXPECT_TRUE(kernel_.calls.empty());
  // Verify takes the lock shared: it waits for an applier too.
  EXPECT_THAT(engine->Verify(PolicyJson()),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("lock")));
}

TEST_F(EngineTest, TwoEnginesTakeTurns) {
  auto a = Make();
  auto b = Make();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::thread t([&] {
    for (int i = 0; i < 50; ++i) ASSERT_THAT(a->Apply(PolicyJson()), IsOk());
  });
  for (int i = 0; i < 50; ++i) {
    ASSERT_THAT(b->Apply(PolicyJson(R"({"InboundPortsInclude": "*"})")),
                IsOk());
  }
  t.join();
  // No call ran while another was under way.
  EXPECT_EQ(kernel_.calls.size(), 100u);
  EXPECT_EQ(kernel_.most_inside.load(), 1);
}

TEST_F(EngineTest, WorkInAnotherNamespaceNeverMovesTheCaller) {
  ::meshcap::testing::DetachedNetns target;
  ASSERT_TRUE(target.ok());
  const unsigned long here = ::meshcap::testing::CurrentNetnsInode();
  EngineOptions o;
  o.netns_fd = target.fd();
  auto engine = Make(o);
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson()), IsOk());
  EXPECT_EQ(::meshcap::testing::CurrentNetnsInode(), here);
}

TEST_F(EngineTest, BadOptionsAreInvalidArguments) {
  EngineOptions o;
  o.netns_fd = 0;
  o.netns_path = "/proc/self/ns/net";
  EXPECT_THAT(Engine::Create(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("not both")));
  o = {};
  o.backend = "pf";
  EXPECT_THAT(Engine::Create(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("unknown backend 'pf'")));
}

// --- The public fake behaves as the Engine does
// ----------------------------------

// One scenario, observed the same way on any CaptureEngine: what each step
// reports. `tamper` removes one rule of ours behind the engine's back.
std::vector<std::string> Scenario(CaptureEngine& e,
                                  const std::function<void()>& tamper) {
  std::vector<std::string> seen;
  auto note = [&](const std::string& step, const absl::Status& s, bool flag) {
    seen.push_back(step + ": " +
                   std::string(absl::StatusCodeToString(s.code())) +
                   (s.ok() ? (flag ? " yes" : " no") : ""));
  };
  const CapturePolicy a = PolicyJson(R"({"OutboundIPRangesInclude": "*"})");
  const CapturePolicy b = PolicyJson(
      R"({"OutboundIPRangesInclude": "*", "OutboundPortsExclude": "22"})");
  auto applied = e.Apply(a);
  note("apply a, changed", applied.status(),
       applied.ok() && applied->changed());
  applied = e.Apply(a);
  note("apply a again, changed", applied.status(),
       applied.ok() && applied->changed());
  auto v = e.Verify(a);
  note("verify a, matches", v.status(), v.ok() && v->matches());
  v = e.Verify(b);
  note("verify b, matches", v.status(), v.ok() && v->matches());
  tamper();
  v = e.Verify(a);
  note("verify a after tampering, matches", v.status(), v.ok() && v->matches());
  ApplyOptions stale;
  stale.expected_generation = v.ok() ? v->generation - 1 : 0;
  applied = e.Apply(a, stale);
  note("apply a at a stale generation", applied.status(), false);
  ApplyOptions fresh;
  fresh.expected_generation = v.ok() ? v->generation : 0;
  applied = e.Apply(a, fresh);
  note("apply a at the generation read, changed", applied.status(),
       applied.ok() && applied->changed());
  v = e.Verify(a);
  note("verify a, matches", v.status(), v.ok() && v->matches());
  auto removed = e.Remove();
  note("remove, changed", removed.status(), removed.ok() && removed->changed());
  removed = e.Remove();
  note("remove again, changed", removed.status(),
       removed.ok() && removed->changed());
  return seen;
}

TEST(FakeEngineTest, BehavesAsTheNftablesEngineDoesWithoutANamespace) {
  ::meshcap::testing::FakeEngine fake;
  const std::vector<std::string> on_fake =
      Scenario(fake, [&] { ASSERT_TRUE(fake.Tamper()); });
  EXPECT_THAT(
      on_fake,
      ElementsAre("apply a, changed: OK yes", "apply a again, changed: OK no",
                  "verify a, matches: OK yes", "verify b, matches: OK no",
                  "verify a after tampering, matches: OK no",
                  "apply a at a stale generation: ABORTED",
                  "apply a at the generation read, changed: OK yes",
                  "verify a, matches: OK yes", "remove, changed: OK yes",
                  "remove again, changed: OK no"));
  // The real Engine, where a namespace can be made: the same answers.
  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << "no namespace for the real Engine";
  EngineOptions o;
  o.backend = "nftables";
  absl::StatusOr<std::unique_ptr<Engine>> real = Engine::Create(o);
  ASSERT_THAT(real, IsOk());
  EXPECT_EQ(Scenario(**real,
                     [] {
                       ::meshcap::testing::Shell(
                           "nft delete rule inet istio-proxy-nat istio-output "
                           "handle $(nft -a list chain inet istio-proxy-nat "
                           "istio-output | grep -o 'handle [0-9]*' | tail -1 "
                           "| cut -d' ' -f2)");
                     }),
            on_fake);
}

TEST(FakeEngineTest, RefusesWhatTheEngineRefuses) {
  EXPECT_THAT(::meshcap::testing::FakeEngine::Create("pf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown backend 'pf'")));
  auto legacy = ::meshcap::testing::FakeEngine::Create("iptables-legacy");
  ASSERT_THAT(legacy, IsOk());
  ApplyOptions o;
  o.expected_generation = 1;
  EXPECT_THAT((*legacy)->Apply(PolicyJson(), o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no ruleset generation")));
  (*legacy)->FailNext(::meshcap::testing::FakeEngine::Op::kVerify,
                      absl::PermissionDeniedError("no CAP_NET_ADMIN"));
  EXPECT_THAT((*legacy)->Verify(PolicyJson()),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CAP")));
  EXPECT_THAT((*legacy)->Verify(PolicyJson()), IsOk());
  EXPECT_EQ((*legacy)->calls(::meshcap::testing::FakeEngine::Op::kVerify), 2);
}

}  // namespace
}  // namespace meshcap
