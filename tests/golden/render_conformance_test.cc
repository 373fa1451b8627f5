// SPDX-License-Identifier: GPL-2.0-or-later
//
// Both dry-run renderers against every case of Istio's conformance corpus:
// the compiled rule set must print byte for byte what Istio's iptables and
// nftables backends run.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/compile.h"
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
  RuleSet CompileCase() {
    absl::StatusOr<CapturePolicy> policy =
        PolicyFromJson(GetParam().policy_json);
    EXPECT_THAT(policy, IsOk());
    return policy.ok() ? Compile(*policy) : RuleSet{};
  }
  static bool groups_ok_;
};
bool RenderConformanceTest::groups_ok_ = false;

TEST_P(RenderConformanceTest, IptablesRestoreMatchesIstioGolden) {
  const ConformanceCase& c = GetParam();
  if (!c.iptables_golden) GTEST_SKIP() << "no iptables golden for " << c.name;
  RuleSet rules = CompileCase();
  std::string want = ::meshcap::testing::IptablesGoldenRestoreInput(
      ::meshcap::testing::ReadFileOrDie(*c.iptables_golden));
  EXPECT_EQ(RenderIptablesRestore(rules), want);
}

TEST_P(RenderConformanceTest, NftablesScriptMatchesIstioGolden) {
  const ConformanceCase& c = GetParam();
  if (!c.nftables_golden) GTEST_SKIP() << "no nftables golden for " << c.name;
  RuleSet rules = CompileCase();
  std::string want = ::meshcap::testing::ReadFileOrDie(*c.nftables_golden);
  EXPECT_EQ(RenderNftables(rules), want);
}

std::vector<ConformanceCase> Cases() {
  std::vector<ConformanceCase> cases =
      ::meshcap::testing::LoadConformanceCases();
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Istio, RenderConformanceTest,
                         ::testing::ValuesIn(Cases()),
                         ::meshcap::testing::CaseName);

// The corpus must be there: a silent zero-case run would pass anything.
TEST(RenderConformanceCorpus, HasAllCases) { EXPECT_EQ(Cases().size(), 22u); }

}  // namespace
}  // namespace meshcap
