// SPDX-License-Identifier: GPL-2.0-or-later
//
// The Engine's own logic over a fake backend (tests/testing/fake_backend.h):
// what it reports, the namespace lock, options. Each test makes a network
// namespace for the Engine's routing and backend probes (root or
// `unshare -rn`).

#include "meshcap/engine.h"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

}  // namespace
}  // namespace meshcap
