// SPDX-License-Identifier: GPL-2.0-or-later
//
// One capture per namespace, whichever tool put the first one there: for
// every sidecar and ambient case, a namespace captured by each of Istio's
// three tools (iptables-legacy-restore, iptables-nft-restore, nft -f) and
// then applied by meshcap through each of its three backends ends with
// exactly the capture meshcap makes in an empty namespace, in that backend
// alone; verify confirms it; clean leaves no capture in any of the three
// places. Each case runs in fresh network namespaces.

#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::ConformanceCase;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::meshcap::testing::ScopedNetns;
using ::testing::HasSubstr;
using ::testing::Not;

CommandResult Sh(const std::string& command) {
  return ::meshcap::testing::Shell(command);
}

// The legacy tables that hold anything (a legacy table, once there, stays
// in the namespace, empty), without comments and counters.
std::string LegacyPlace() {
  std::string out;
  for (const char* tool : {"iptables-legacy-save", "ip6tables-legacy-save"}) {
    CommandResult r = Sh(tool);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::istringstream in(r.output);
    std::string line, block;
    bool content = false;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line[0] == '*') {
        block = line + "\n";
        content = false;
        continue;
      }
      block += line + "\n";
      if (line.rfind("-A ", 0) == 0 || line.find(" - [") != std::string::npos) {
        content = true;
      }
      if (line == "COMMIT") {
        if (content) out += std::string(tool) + "\n" + block;
        block.clear();
      }
    }
  }
  return out;
}

// Every nf_tables table: iptables-nft's ip/ip6 tables and nftables' inet
// istio-* ones.
std::string NfTablesPlace() { return Sh("nft list ruleset 2>&1").output; }

std::string Places() {
  return "## legacy xtables\n" + LegacyPlace() + "## nf_tables\n" +
         NfTablesPlace();
}

void RunTool(const std::string& tool, const std::string& golden,
             const std::string& text4, const std::string& text6) {
  if (tool == "nft") {
    CommandResult r = Sh("nft -f " + golden);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    return;
  }
  const std::string v6 = tool == "iptables-legacy-restore"
                             ? "ip6tables-legacy-restore"
                             : "ip6tables-nft-restore";
  for (const auto& [prog, text] : {std::pair{tool, text4}, {v6, text6}}) {
    if (text.empty()) continue;
    char path[] = "/tmp/meshcap-migrate-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
    close(fd);
    CommandResult r = Sh(prog + " --noflush " + path);
    unlink(path);
    ASSERT_EQ(r.exit_code, 0) << prog << ": " << r.output;
  }
}

std::unique_ptr<Engine> MakeEngine(const std::string& backend) {
  EngineOptions o;
  o.backend = backend;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
  EXPECT_THAT(e, IsOk()) << backend;
  return e.ok() ? *std::move(e) : nullptr;
}

using Param = std::tuple<ConformanceCase, const char*, const char*>;

class MigrationTest : public ::testing::TestWithParam<Param> {
 protected:
  static void SetUpTestSuite() {
    groups_ok_ = ::meshcap::testing::EnsureConformanceGroups();
  }
  void SetUp() override {
    for (const char* p :
         {"nft", "iptables-legacy-restore", "iptables-nft-restore"}) {
      if (!::meshcap::testing::HaveProgram(p)) GTEST_SKIP() << "no " << p;
    }
    const auto& [c, tool, backend] = GetParam();
    if (std::string(tool) == "nft" ? !c.nftables_golden : !c.iptables_golden) {
      GTEST_SKIP() << "Istio has no golden for this case and tool";
    }
    if (::meshcap::testing::NamesConformanceGroups(c.policy_json) &&
        !groups_ok_) {
      GTEST_SKIP() << "groups java/ftp missing and not root";
    }
  }
  static bool groups_ok_;
};
bool MigrationTest::groups_ok_ = false;

TEST_P(MigrationTest, EndsWithExactlyOneCaptureAndCleanLeavesNone) {
  const auto& [c, tool, backend] = GetParam();
  const CapturePolicy policy = PolicyJson(c.policy_json);
  std::string alone;  // meshcap's capture in an empty namespace
  {
    ScopedNetns fresh;
    if (!fresh.ok()) GTEST_SKIP() << fresh.error();
    auto engine = MakeEngine(backend);
    ASSERT_NE(engine, nullptr);
    ASSERT_THAT(engine->Apply(policy), IsOk());
    alone = Places();
  }
  ScopedNetns pod;
  if (!pod.ok()) GTEST_SKIP() << pod.error();
  std::string text4, text6;
  if (c.iptables_golden) {
    const auto parts = ::meshcap::testing::SplitIptablesGolden(
        ::meshcap::testing::ReadFileOrDie(*c.iptables_golden));
    text4 = parts.ipv4;
    text6 = parts.ipv6;
  }
  RunTool(tool, c.nftables_golden.value_or(""), text4, text6);
  ASSERT_THAT(Places(),
              ::testing::AnyOf(HasSubstr("ISTIO_"), HasSubstr("istio-")));
  auto engine = MakeEngine(backend);
  ASSERT_NE(engine, nullptr);
  // Before: verify sees Istio's capture where it is.
  absl::StatusOr<VerifyReport> before = engine->Verify(policy);
  ASSERT_THAT(before, IsOk());
  absl::StatusOr<ApplyResult> applied = engine->Apply(policy);
  ASSERT_THAT(applied, IsOk());
  EXPECT_EQ(Places(), alone);
  absl::StatusOr<VerifyReport> after = engine->Verify(policy);
  ASSERT_THAT(after, IsOk());
  for (const Difference& d : after->differences) {
    ADD_FAILURE() << "verify after the migration: " << d.ToString();
  }
  ASSERT_THAT(engine->Remove(), IsOk());
  const std::string cleaned = Places();
  EXPECT_EQ(cleaned, "## legacy xtables\n## nf_tables\n");
}

std::vector<ConformanceCase> AllCases() {
  return ::meshcap::testing::LoadAllConformanceCases();
}

INSTANTIATE_TEST_SUITE_P(
    Istio, MigrationTest,
    ::testing::Combine(::testing::ValuesIn(AllCases()),
                       ::testing::Values("iptables-legacy-restore",
                                         "iptables-nft-restore", "nft"),
                       ::testing::Values("nftables", "iptables-legacy",
                                         "iptables-nft")),
    [](const ::testing::TestParamInfo<Param>& info) {
      return ::meshcap::testing::TestName(std::get<0>(info.param).name + "_" +
                                          std::get<1>(info.param) + "_to_" +
                                          std::get<2>(info.param));
    });

}  // namespace
}  // namespace meshcap
