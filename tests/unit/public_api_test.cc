// SPDX-License-Identifier: GPL-2.0-or-later
//
// Built as C++17: the installed headers must not force consumers into C++20.

#include "gtest/gtest.h"
#include "meshcap/meshcap.h"

static_assert(__cplusplus < 202002L, "this test must build as C++17");

TEST(PublicApiTest, Cpp17ConsumerCanBuildCompileAndRender) {
  absl::StatusOr<meshcap::CapturePolicy> p =
      meshcap::PolicyBuilder().SetInboundPorts("*").Build();
  ASSERT_TRUE(p.ok());
  meshcap::RuleSet rules = meshcap::Compile(*p);
  EXPECT_NE(meshcap::RenderNftables(rules).find("istio-proxy-nat"),
            std::string::npos);
  EXPECT_EQ(MESHCAP_VERSION_MAJOR, 0);
}
