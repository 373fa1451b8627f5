// SPDX-License-Identifier: GPL-2.0-or-later
//
// Both dry-run renderers against every case of Istio's conformance corpora,
// sidecar and ambient: the policy must print byte for byte what Istio's
// iptables and nftables generators run.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/policy_json.h"
#include "meshcap/render.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::ConformanceCase;
using ::meshcap::testing::IsOk;

class RenderConformanceTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  static void SetUpTestSuite() {
    groups_ok_ = ::meshcap::testing::EnsureConformanceGroups();
  }
  void SetUp() override {
    const ConformanceCase& c = GetParam();
    if ((c.policy_json.find("java") != std::string::npos ||
         c.policy_json.find("ftp") != std::string::npos) &&
        !groups_ok_) {
      GTEST_SKIP() << "groups java/ftp missing and not root";
    }
  }
  std::string RenderCase(const char* backend) {
    absl::StatusOr<CapturePolicy> policy =
        PolicyFromJson(GetParam().policy_json);
    EXPECT_THAT(policy, IsOk());
    if (!policy.ok()) return "";
    absl::StatusOr<std::string> text = Render(*policy, backend);
    EXPECT_THAT(text, IsOk());
    return text.value_or("");
  }
  static bool groups_ok_;
};
bool RenderConformanceTest::groups_ok_ = false;

TEST_P(RenderConformanceTest, IptablesRestoreMatchesIstioGolden) {
  const ConformanceCase& c = GetParam();
  if (!c.iptables_golden) GTEST_SKIP() << "no iptables golden for " << c.name;
  std::string want = ::meshcap::testing::IptablesGoldenRestoreInput(
      ::meshcap::testing::ReadFileOrDie(*c.iptables_golden));
  EXPECT_EQ(RenderCase("iptables-legacy"), want);
}

TEST_P(RenderConformanceTest, NftablesScriptMatchesIstioGolden) {
  const ConformanceCase& c = GetParam();
  if (!c.nftables_golden) GTEST_SKIP() << "no nftables golden for " << c.name;
  std::string want = ::meshcap::testing::ReadFileOrDie(*c.nftables_golden);
  EXPECT_EQ(RenderCase("nftables"), want);
}

INSTANTIATE_TEST_SUITE_P(
    Istio, RenderConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadConformanceCases()),
    ::meshcap::testing::CaseName);

INSTANTIATE_TEST_SUITE_P(
    IstioAmbient, RenderConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAmbientConformanceCases()),
    ::meshcap::testing::CaseName);

// The corpora must be there: a silent zero-case run would pass anything.
TEST(RenderConformanceCorpus, HasAllCases) {
  EXPECT_EQ(::meshcap::testing::LoadConformanceCases().size(), 22u);
  EXPECT_EQ(::meshcap::testing::LoadAmbientConformanceCases().size(), 9u);
}

}  // namespace
}  // namespace meshcap
