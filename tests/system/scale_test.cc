// SPDX-License-Identifier: GPL-2.0-or-later
//
// Large policies apply at all, on both backends, through the command and a
// policy file (such lists outgrow a command line): 10,000 excluded CIDRs
// and 1,000 excluded ports each way. The kernel then holds every rule,
// verify agrees, and a second apply changes nothing.

#include <stdlib.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::Shell;

const std::string kMeshcap = MESHCAP_CLI;
constexpr int kCidrs = 10000;
constexpr int kPorts = 1000;

class ScaleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ScaleTest, TenThousandCidrsAndAThousandPortsApplyAndVerify) {
  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  char tmpl[] = "/tmp/meshcap-scale-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string policy = std::string(tmpl) + "/policy.json";
  std::string cidrs, ports;
  for (int i = 0; i < kCidrs; ++i) {
    absl::StrAppend(&cidrs, i ? "," : "", "10.", i / 256, ".", i % 256,
                    ".0/24");
  }
  for (int i = 0; i < kPorts; ++i) {
    absl::StrAppend(&ports, i ? "," : "", 20000 + i);
  }
  std::ofstream(policy) << R"({"OutboundIPRangesInclude": "*",
      "InboundPortsInclude": "*", "OutboundIPRangesExclude": ")"
                        << cidrs << R"(", "OutboundPortsExclude": ")" << ports
                        << R"(", "InboundPortsExclude": ")" << ports << R"("})";
  const std::string flags =
      absl::StrCat(" --backend=", GetParam(), " --policy=", policy);

  CommandResult r = Shell(kMeshcap + " apply" + flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Every exclusion is a rule of its own, as in Istio: a CIDR once, an
  // inbound port once (TCP), an outbound port twice (TCP and UDP).
  const std::string count =
      std::string(GetParam()) == "nftables"
          ? "nft list ruleset | grep -c -E '10\\.[0-9]+\\.[0-9]+\\.0/24|dport "
            "2[0-9]{4} '"
      : std::string(GetParam()) == "iptables-nft"
          ? "iptables-nft-save | grep -c -E "
            "'10\\.[0-9]+\\.[0-9]+\\.0/24|dport 2[0-9]{4} '"
          : "iptables-legacy-save | grep -c -E "
            "'10\\.[0-9]+\\.[0-9]+\\.0/24|dport 2[0-9]{4} '";
  EXPECT_EQ(Shell(count).output, absl::StrCat(kCidrs + 3 * kPorts, "\n"));
  r = Shell(kMeshcap + " verify" + flags);
  EXPECT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
  r = Shell(kMeshcap + " apply" + flags);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("unchanged"));
  r = Shell(kMeshcap + " clean");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  Shell(std::string("rm -rf ") + tmpl);
}

INSTANTIATE_TEST_SUITE_P(Backends, ScaleTest,
                         ::testing::Values("nftables", "iptables-legacy",
                                           "iptables-nft"),
                         ::meshcap::testing::BackendName);

}  // namespace
}  // namespace meshcap
