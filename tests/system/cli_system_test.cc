// SPDX-License-Identifier: GPL-2.0-or-later
//
// The meshcap binary against the kernel: apply, verify, clean, --netns. Each
// test runs in a fresh network namespace.

#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/netns.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::Shell;
using ::testing::HasSubstr;

const std::string kMeshcap = MESHCAP_CLI;

class CliSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!::meshcap::testing::HaveProgram("nft")) GTEST_SKIP() << "no nft";
    if (!netns_.ok()) GTEST_SKIP() << netns_.error();
  }
  ::meshcap::testing::ScopedNetns netns_;
};

// explain: the classic questions as the README asks them, the JSON form,
// and impossible packets as one line naming the value, exit status 2.
TEST_F(CliSystemTest, ExplainAnswersTheClassicQuestions) {
  const std::string policy =
      " --istio-service-cidr='*' --istio-inbound-ports='*'"
      " --istio-local-exclude-ports=15090,15021,15020"
      " --istio-service-exclude-cidr=10.10.0.0/16";
  CommandResult r =
      Shell(kMeshcap + " explain" + policy + " --dst=10.10.3.4:443");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("not captured: `ip daddr 10.10.0.0/16 counter "
                        "return` (inet istio-proxy-nat istio-output"));
  r = Shell(kMeshcap + " explain" + policy +
            " --dst=10.96.0.10:80 --uid=1337 --backend=iptables-legacy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("=> return"));
  EXPECT_THAT(r.output, HasSubstr("not captured: `-A ISTIO_OUTPUT -m owner "
                                  "--uid-owner 1337 -j RETURN`"));
  r = Shell(kMeshcap + " explain" + policy +
            " --src=127.0.0.6 --dst=198.51.100.2:8080 --oif=lo --uid=1337");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("`oifname lo ip saddr 127.0.0.6/32 counter "
                                  "return` (inet istio-proxy-nat istio-output, "
                                  "rule 1) lets it pass"));
  r = Shell(kMeshcap + " explain" + policy +
            " --src=203.0.113.9 --dst=198.51.100.2:8080 --iif=eth0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"captured\":true,\"port\":15006,"
                                  "\"mode\":\"REDIRECT\""));
  for (const auto& [flags, want] :
       std::vector<std::pair<std::string, std::string>>{
           {" --dst=10.0.0.1:70000", "'10.0.0.1:70000'"},
           {" --dst=10.0.0.1:80 --src=2001:db8::1", "'2001:db8::1'"},
           {" --dst=10.0.0.1:80 --src=10.0.0.2 --iif=eth0 --uid=1000",
            "--uid: '1000'"},
           {" --dst=10.0.0.1:80 --backend=pf", "'pf'"},
           {" --dst=10.0.0.1:80 --ct-state=open", "'open'"},
       }) {
    r = Shell(kMeshcap + " explain" + policy + flags + " 2>&1");
    EXPECT_EQ(r.exit_code, 2) << flags << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(want)) << flags;
    EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
  }
}

// The README's explain examples are what the command prints: each
// "$ meshcap explain ..." line of it is run, and its output (or its last
// line, for "| tail -1") must be the lines that follow it.
TEST_F(CliSystemTest, TheReadmesExplainExamplesAreTrue) {
  std::ifstream in(std::string(MESHCAP_SOURCE_ROOT) + "/README.md");
  ASSERT_TRUE(in.good());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string vars;
  int checked = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.rfind("$ P=", 0) == 0) vars = l.substr(2) + "; ";
    if (l.rfind("$ meshcap explain ", 0) != 0) continue;
    std::string cmd = l.substr(2);
    cmd = cmd.substr(0, cmd.find("   #"));  // the comment
    const bool tail = cmd.find("| tail -1") != std::string::npos;
    cmd.replace(0, strlen("meshcap"), kMeshcap);
    std::string want;
    size_t j = i + 1;
    for (; j < lines.size() && !lines[j].empty() && lines[j][0] != '$' &&
           lines[j] != "```";
         ++j) {
      want += lines[j] + "\n";
    }
    CommandResult r = Shell(vars + cmd);
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
    if (tail || want.find("   ...\n") == std::string::npos) {
      EXPECT_EQ(r.output, want) << cmd;
    } else {
      // An elided example: every line shown is in the output, in order.
      size_t at = 0;
      for (const std::string& w :
           std::vector<std::string>(absl::StrSplit(want, '\n'))) {
        if (w.empty() || w == "   ...") continue;
        const size_t found = r.output.find(w + "\n", at);
        EXPECT_NE(found, std::string::npos) << cmd << ": " << w;
        if (found != std::string::npos) at = found + w.size();
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

TEST_F(CliSystemTest, ApplyVerifyCleanAndVerifyAgain) {
  const std::string flags = " --backend=nftables -b '*' --ipv6=false";
  CommandResult r = Shell(kMeshcap + " apply" + flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Shell(kMeshcap + " verify" + flags);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("exactly the policy's capture"));

  // A different policy than the one applied: exit 1 and the differences.
  r = Shell(kMeshcap + " verify" + flags + " -d 22");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("missing rule 2 in istio-proxy-nat/istio-inbound: "
                        "meta l4proto tcp tcp dport 22 counter return"));

  r = Shell(kMeshcap + " clean --backend=nftables");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Shell("nft list ruleset").output, "");
  r = Shell(kMeshcap + " verify" + flags);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("missing table istio-proxy-nat"));
}

// An intent record of the wrong shape (issue 18: a field of the wrong
// type aborted the tool) reads as an interrupted apply: verify reports it,
// apply and clean finish it.
TEST_F(CliSystemTest, AnIntentRecordOfTheWrongShapeIsAnUnfinishedApply) {
  if (!::meshcap::testing::HaveProgram("iptables-legacy-save")) {
    GTEST_SKIP() << "no iptables-legacy";
  }
  char tmpl[] = "/tmp/meshcap-cli-state-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string state = tmpl;
  const std::string env = "MESHCAP_STATE_DIR=" + state + " ";
  const std::string flags = " --backend=iptables-legacy -b '*' --ipv6=false";
  ASSERT_EQ(Shell(env + kMeshcap + " apply" + flags).exit_code, 0);
  const std::string key =
      Shell("stat -L -c 'netns-%d-%i' /proc/self/ns/net").output;
  const std::string intent =
      state + "/" + key.substr(0, key.size() - 1) + ".intent";
  for (const char* bad : {R"({"netns_cookie":"x"})", R"({"pid":"1"})", "]"}) {
    SCOPED_TRACE(bad);
    ASSERT_EQ(
        Shell("printf '%s' '" + std::string(bad) + "' > " + intent).exit_code,
        0);
    CommandResult r = Shell(env + kMeshcap + " verify" + flags);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("an unreadable intent record"));
    r = Shell(env + kMeshcap + " apply" + flags);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("finished an apply that was interrupted"));
    EXPECT_EQ(Shell(env + kMeshcap + " verify" + flags).exit_code, 0);
  }
  ASSERT_EQ(Shell("printf '%s' '{\"what\":[1]}' > " + intent).exit_code, 0);
  CommandResult r = Shell(env + kMeshcap + " clean");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(Shell("test -e " + intent).exit_code, 0);
  Shell("rm -rf " + state);
}

TEST_F(CliSystemTest, CleanWorksWhateverTheEnvironmentSays) {
  CommandResult r = Shell(kMeshcap + " apply --backend=nftables --ipv6=false");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Bad policy variables and a bad backend choice are not clean's business.
  r = Shell("MESHCAP_BACKEND=pf ISTIO_INBOUND_INTERCEPTION_MODE=foo " +
            kMeshcap + " clean");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Shell("nft list ruleset").output, "");
}

TEST_F(CliSystemTest, NetnsFlagTargetsAnotherNamespace) {
  ::meshcap::testing::DetachedNetns target;
  ASSERT_TRUE(target.ok());
  CommandResult r =
      Shell(kMeshcap + " apply --backend=nftables --netns=" + target.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Shell("nft list ruleset").output, "");
  EXPECT_THAT(
      ::meshcap::testing::ShellIn(target.fd(), "nft list ruleset").output,
      HasSubstr("table inet istio-proxy-nat"));
  r = Shell(kMeshcap + " apply --netns=/var/run/netns/meshcap-nope");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("/var/run/netns/meshcap-nope"));
}

TEST_F(CliSystemTest, IstioIptablesNameAppliesAndCleansUp) {
  const std::string drop_in = "exec -a istio-iptables " + kMeshcap;
  CommandResult r =
      Shell("bash -c '" + drop_in +
            " --native-nftables -p 15001 -z 15006 -u 1337 -m REDIRECT -i \"*\" "
            "-b \"*\" -d 15090,15021,15020 --ipv6=false'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(Shell("nft list ruleset").output,
              HasSubstr("redirect to :15001"));
  r = Shell("bash -c '" + drop_in + " --native-nftables --cleanup-only'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Shell("nft list ruleset").output, "");
}

TEST_F(CliSystemTest, LegacyBackendAppliesVerifiesAndCleans) {
  if (!::meshcap::testing::HaveProgram("iptables-legacy-save")) {
    GTEST_SKIP() << "no iptables-legacy-save";
  }
  const std::string flags = " --backend=iptables-legacy -b '*' --ipv6=true";
  CommandResult r = Shell(kMeshcap + " apply" + flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(
      Shell("iptables-legacy-save").output,
      HasSubstr("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001"));
  EXPECT_THAT(Shell("ip6tables-legacy-save").output,
              HasSubstr("-A ISTIO_OUTPUT -d ::1/128 -j RETURN"));
  r = Shell(kMeshcap + " verify" + flags);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = Shell(kMeshcap + " verify" + flags + " -z 15007");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("changed rule 1 in nat (IPv4)/ISTIO_IN_REDIRECT"));
  // auto keeps using legacy now that its nat table holds rules.
  r = Shell(kMeshcap + " verify -b '*' --ipv6=true");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(iptables-legacy)"));
  r = Shell(kMeshcap + " clean --backend=iptables-legacy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(Shell("iptables-legacy-save").output,
              ::testing::Not(HasSubstr("ISTIO")));
}

TEST_F(CliSystemTest, IstioIptablesForcedLegacyAppliesAndCleansUp) {
  if (!::meshcap::testing::HaveProgram("iptables-legacy-save")) {
    GTEST_SKIP() << "no iptables-legacy-save";
  }
  const std::string drop_in = "exec -a istio-iptables " + kMeshcap;
  CommandResult r = Shell(
      "bash -c '" + drop_in +
      " --force-iptables-binary=legacy -p 15001 -z 15006 -u 1337 -m REDIRECT "
      "-i \"*\" -b \"*\" -d 15090,15021,15020 --ipv6=false'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(
      Shell("iptables-legacy-save").output,
      HasSubstr("-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN"));
  EXPECT_EQ(Shell("nft list ruleset").output, "");
  r = Shell("bash -c '" + drop_in +
            " --force-iptables-binary=legacy --cleanup-only'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(Shell("iptables-legacy-save").output,
              ::testing::Not(HasSubstr("ISTIO")));
  r = Shell("bash -c '" + drop_in + " --force-iptables-binary=nft'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(iptables-nft)"));
  EXPECT_THAT(Shell("iptables-nft-save").output, HasSubstr("-A ISTIO_OUTPUT"));
}

TEST_F(CliSystemTest, IstioIptablesPicksItsBackendAsIstioDoes) {
  if (!::meshcap::testing::HaveProgram("iptables-legacy")) {
    GTEST_SKIP() << "no iptables-legacy";
  }
  const std::string drop_in = "bash -c 'exec -a istio-iptables " + kMeshcap;
  const std::string flags = " -p 15001 -z 15006 -u 1337 -m REDIRECT -i \"*\"";
  // A fresh pod: iptables-nft, as istio-iptables picks it there.
  CommandResult r = Shell(drop_in + flags + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(iptables-nft)"));
  EXPECT_THAT(Shell("iptables-nft-save -t nat").output,
              HasSubstr("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"));
  // --native-nftables: nftables, and iptables-nft's capture goes.
  r = Shell(drop_in + flags + " --native-nftables'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(nftables)"));
  EXPECT_THAT(r.output, HasSubstr("iptables-nft: deleted table ip nat"));
  EXPECT_THAT(Shell("nft list tables").output,
              ::testing::Not(HasSubstr("table ip nat")));
  // Legacy rules in the pod: iptables-legacy.
  ASSERT_EQ(Shell("iptables-legacy -t nat -A POSTROUTING -j RETURN").exit_code,
            0);
  r = Shell(drop_in + flags + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(iptables-legacy)"));
  EXPECT_THAT(Shell("nft list ruleset").output,
              ::testing::Not(HasSubstr("istio")));
  // --cleanup-only: nothing of Istio's or ours anywhere; the foreign rule
  // stays.
  r = Shell(drop_in + " --cleanup-only'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string legacy = Shell("iptables-legacy-save").output;
  EXPECT_THAT(legacy, ::testing::Not(HasSubstr("ISTIO")));
  EXPECT_THAT(legacy, HasSubstr("-A POSTROUTING -j RETURN"));
  EXPECT_EQ(Shell("nft list ruleset").output, "");
  // --dry-run prints Istio's restore input, whichever binary.
  r = Shell(drop_in + flags + " --dry-run'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"));
}

TEST_F(CliSystemTest, ValidateExits126WithoutRulesAndPassesAfterApply) {
  CommandResult r = Shell(kMeshcap + " validate --probe-timeout=300ms");
  EXPECT_EQ(r.exit_code, 126) << r.output;
  EXPECT_THAT(r.output, HasSubstr("was not captured"));
  ::meshcap::testing::DetachedNetns pod;
  ASSERT_TRUE(pod.ok());
  r = Shell(kMeshcap + " apply --backend=nftables --netns=" + pod.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Shell(kMeshcap + " validate --netns=" + pod.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("validation passed"));
  r = Shell(kMeshcap + " validate --probe-timeout=5 --netns=" + pod.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("duration '5'"));
}

}  // namespace
}  // namespace meshcap
