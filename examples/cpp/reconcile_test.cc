// SPDX-License-Identifier: GPL-2.0-or-later
// Testing an agent's code with meshcap's fake engine: no namespace, no
// root, no kernel. Build against an install with
//   c++ reconcile_test.cc $(pkg-config --cflags --libs meshcap-testing
//   gtest_main)

#include "examples/cpp/reconcile.h"

#include <gtest/gtest.h>

#include "meshcap/testing/fake_engine.h"

namespace {

meshcap::CapturePolicy IstioInit() {
  absl::StatusOr<meshcap::CapturePolicy> p =
      meshcap::PolicyBuilder()
          .SetOutboundCidrsInclude("*")
          .SetInboundPorts("*")
          .SetInboundPortsExclude("15090,15021,15020")
          .Build();
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

TEST(ReconcileTest, InstallsThenLeavesAloneThenHealsDrift) {
  meshcap::testing::FakeEngine engine;
  const meshcap::CapturePolicy policy = IstioInit();
  absl::StatusOr<example::ReconcileResult> r =
      example::Reconcile(engine, policy);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->drifted && r->healed);  // nothing was there
  r = example::Reconcile(engine, policy);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->drifted);
  ASSERT_TRUE(engine.Tamper());  // somebody deleted a rule
  r = example::Reconcile(engine, policy);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->healed);
  EXPECT_TRUE(engine.Verify(policy)->matches());
}

TEST(ReconcileTest, AKernelErrorIsReportedAndChangesNothing) {
  meshcap::testing::FakeEngine engine;
  engine.FailNext(meshcap::testing::FakeEngine::Op::kApply,
                  absl::UnavailableError("the kernel has no nf_tables"));
  absl::StatusOr<example::ReconcileResult> r =
      example::Reconcile(engine, IstioInit());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(engine.installed().empty());
}

}  // namespace
