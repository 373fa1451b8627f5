// SPDX-License-Identifier: GPL-2.0-or-later
//
// The iptables-nft backend against the real kernel. Every test runs in a
// fresh network namespace and reads the result back with the standard
// tools: iptables-nft-save, ip6tables-nft-save and nft.

#include <libnftnl/rule.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>

#include "backends/iptables_nft/read.h"
#include "backends/iptables_nft/xt_rule.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "src/backend.h"
#include "src/netlink/netlink.h"
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
using ::meshcap::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

CommandResult Sh(const std::string& command) {
  return ::meshcap::testing::Shell(command);
}

// A tool's output without its `#` comment lines.
std::string Uncommented(const std::string& command) {
  CommandResult r = Sh(command);
  EXPECT_EQ(r.exit_code, 0) << command << ": " << r.output;
  std::istringstream in(r.output);
  std::string out, line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    out += line + "\n";
  }
  return out;
}

// Every rule of every ip and ip6 table as the kernel dumps it, expression by
// expression with every attribute (xtables data included, which nft does
// not print), with table, chain and rule handles.
std::string Expressions() {
  absl::StatusOr<std::unique_ptr<internal::NetlinkSocket>> nl =
      internal::NetlinkSocket::Open(NETLINK_NETFILTER);
  EXPECT_THAT(nl, IsOk());
  if (!nl.ok()) return "";
  absl::StatusOr<iptnft::KState> state =
      iptnft::ReadTables(**nl, true, [](const std::string&) { return true; });
  EXPECT_THAT(state, IsOk());
  if (!state.ok()) return "";
  std::string out;
  for (const iptnft::KTable& t : state->tables) {
    out += "table " + t.Where() + "\n";
    for (const iptnft::KChain& c : t.chains) {
      out += " chain " + c.name + " handle " + std::to_string(c.handle);
      if (c.base) {
        out += " hook " + std::to_string(c.hook) + " priority " +
               std::to_string(c.priority) + " type " + c.type + " policy " +
               std::to_string(c.policy);
      }
      out += "\n";
      for (const auto& r : c.rules) {
        out += "  rule handle " +
               std::to_string(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE)) +
               "\n" + iptnft::ExprKey(r.get());
      }
    }
  }
  return out;
}

// The three views the issue names, plus nft's warnings, handles and every
// expression's bytes.
struct Views {
  std::string save4, save6, ruleset, ruleset_stderr, handles, expressions;

  static Views Now() {
    Views v;
    v.save4 = Uncommented("iptables-nft-save");
    v.save6 = Uncommented("ip6tables-nft-save");
    v.ruleset = Sh("nft list ruleset 2>/dev/null").output;
    v.ruleset_stderr = Sh("nft list ruleset 2>&1 >/dev/null").output;
    v.handles = Sh("nft -a list ruleset 2>/dev/null").output;
    v.expressions = Expressions();
    return v;
  }
};

void ExpectSameViews(const Views& got, const Views& want) {
  EXPECT_EQ(got.save4, want.save4) << "iptables-nft-save";
  EXPECT_EQ(got.save6, want.save6) << "ip6tables-nft-save";
  EXPECT_EQ(got.ruleset, want.ruleset) << "nft list ruleset";
  EXPECT_EQ(got.ruleset_stderr, want.ruleset_stderr) << "nft's warnings";
  EXPECT_EQ(got.handles, want.handles) << "nft -a list ruleset";
  EXPECT_EQ(got.expressions, want.expressions) << "the kernel's expressions";
}

// Runs `tool --noflush` on `text`.
void Restore(const char* tool, const std::string& text) {
  if (text.empty()) return;
  char path[] = "/tmp/meshcap-iptnft-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  close(fd);
  CommandResult r = Sh(std::string(tool) + " --noflush " + path);
  unlink(path);
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << text;
}

std::unique_ptr<Engine> NftEngine(EngineOptions o = {}) {
  o.backend = "iptables-nft";
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
  EXPECT_THAT(e, IsOk());
  return e.ok() ? *std::move(e) : nullptr;
}

bool HaveTools() {
  return ::meshcap::testing::HaveProgram("iptables-nft-restore") &&
         ::meshcap::testing::HaveProgram("ip6tables-nft-save") &&
         ::meshcap::testing::HaveProgram("nft");
}

// --- Conformance: the kernel holds what iptables-nft-restore makes -----------

class IptNftConformanceTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  static void SetUpTestSuite() {
    groups_ok_ = ::meshcap::testing::EnsureConformanceGroups();
  }
  void SetUp() override {
    if (!HaveTools()) GTEST_SKIP() << "no iptables-nft tools";
    const ConformanceCase& c = GetParam();
    if (!c.iptables_golden) GTEST_SKIP() << "no iptables golden";
    if (::meshcap::testing::NamesConformanceGroups(c.policy_json) &&
        !groups_ok_) {
      GTEST_SKIP() << "groups java/ftp missing and not root";
    }
  }
  static bool groups_ok_;
};
bool IptNftConformanceTest::groups_ok_ = false;

TEST_P(IptNftConformanceTest, KernelEqualsIptablesNftRestore) {
  const ConformanceCase& c = GetParam();
  const CapturePolicy rules = PolicyJson(c.policy_json);
  const auto parts = ::meshcap::testing::SplitIptablesGolden(
      ::meshcap::testing::ReadFileOrDie(*c.iptables_golden));
  Views istio;
  {
    ScopedNetns a;
    if (!a.ok()) GTEST_SKIP() << a.error();
    Restore("iptables-nft-restore", parts.ipv4);
    Restore("ip6tables-nft-restore", parts.ipv6);
    istio = Views::Now();
  }
  ScopedNetns b;
  if (!b.ok()) GTEST_SKIP() << b.error();
  auto engine = NftEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(rules), IsOk());
  ExpectSameViews(Views::Now(), istio);
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  for (const Difference& d : report->differences) {
    ADD_FAILURE() << "Verify after apply: " << d.ToString();
  }
  // Again: nothing is sent, the generation does not move.
  absl::StatusOr<ApplyResult> again = engine->Apply(rules);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->changed());
  absl::StatusOr<VerifyReport> after = engine->Verify(rules);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->generation, report->generation);
}

INSTANTIATE_TEST_SUITE_P(
    Istio, IptNftConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadConformanceCases()),
    ::meshcap::testing::CaseName);

INSTANTIATE_TEST_SUITE_P(
    IstioAmbient, IptNftConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAmbientConformanceCases()),
    ::meshcap::testing::CaseName);

}  // namespace
}  // namespace meshcap
