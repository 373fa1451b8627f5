// SPDX-License-Identifier: GPL-2.0-or-later
//
// Built as C++17: the installed headers must not force consumers into C++20.

#include "gtest/gtest.h"
#include "meshcap/meshcap.h"

static_assert(__cplusplus < 202002L, "this test must build as C++17");

TEST(PublicApiTest, Cpp17ConsumerCanBuildAndRender) {
  absl::StatusOr<meshcap::CapturePolicy> p =
      meshcap::PolicyBuilder().SetInboundPorts("*").Build();
  ASSERT_TRUE(p.ok());
  absl::StatusOr<std::string> text = meshcap::Render(*p, "nftables");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("istio-proxy-nat"), std::string::npos);
  EXPECT_FALSE(meshcap::AvailableBackends().empty());
  EXPECT_FALSE(meshcap::PolicyKnobs().empty());
  EXPECT_EQ(MESHCAP_VERSION_MAJOR, 0);
}
