// SPDX-License-Identifier: GPL-2.0-or-later
//
// The legacy iptables backend against the real kernel. Every test runs in a
// fresh network namespace and reads the result back with
// iptables-legacy-save and ip6tables-legacy-save.

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "backends/iptables_legacy/table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "src/backend.h"
#include "src/crash_point.h"
#include "src/netns.h"
#include "src/netns_lock.h"
#include "tests/testing/conformance.h"
#include "tests/testing/kernel.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::CompileJson;
using ::meshcap::testing::ConformanceCase;
using ::meshcap::testing::IsOk;
using ::meshcap::testing::PolicyJson;
using ::meshcap::testing::ScopedNetns;
using ::meshcap::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

CommandResult Sh(const std::string& command) {
  return ::meshcap::testing::Shell(command);
}

// Both families' save output without the `#` comment lines.
std::string Save() {
  std::string out;
  for (const char* tool : {"iptables-legacy-save", "ip6tables-legacy-save"}) {
    CommandResult r = Sh(tool);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::istringstream in(r.output);
    std::string line;
    out += std::string("## ") + tool + "\n";
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      out += line + "\n";
    }
  }
  return out;
}

// Save() without tables that hold nothing (only built-in chains with the
// ACCEPT policy): a legacy table, once instantiated in a namespace, cannot be
// unregistered, so a rolled-back transaction may leave one behind, empty.
std::string SaveNonEmpty() {
  std::istringstream in(Save());
  std::string out, block, line;
  bool content = false;
  while (std::getline(in, line)) {
    if (line.rfind("*", 0) == 0) {
      block = line + "\n";
      content = false;
      continue;
    }
    if (!block.empty()) {
      block += line + "\n";
      if (line.rfind("-A ", 0) == 0 || line.find(" - [") != std::string::npos)
        content = true;
      if (line == "COMMIT") {
        if (content) out += block;
        block.clear();
      }
      continue;
    }
    out += line + "\n";
  }
  return out;
}

void Restore(const char* tool, const std::string& text) {
  if (text.empty()) return;
  char path[] = "/tmp/meshcap-ipt-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  close(fd);
  CommandResult r = Sh(std::string(tool) + " --noflush " + path);
  unlink(path);
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << text;
}

// Every rule of every chain of every table, as the bytes of its entry
// (header, matches, target; counters and our tag left out): what
// iptables-save's text may hide.
std::string EntryBytes() {
  std::string out;
  for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    for (ir::TableKind k :
         {ir::TableKind::kMangle, ir::TableKind::kNat, ir::TableKind::kRaw}) {
      if (!ipt::TableExists(f, k)) continue;
      absl::StatusOr<ipt::Table> t = ipt::Table::Open(f, k);
      EXPECT_THAT(t, IsOk());
      if (!t.ok()) continue;
      for (const std::string& chain : t->Chains()) {
        out += ipt::Where(f, k) + " " + chain + "\n";
        for (const void* e = t->FirstRule(chain); e != nullptr;
             e = t->NextRule(e)) {
          std::string key = t->EntryKey(e);
          key.replace(f == IpFamily::kIpv4 ? sizeof(ipt_ip) : sizeof(ip6t_ip6),
                      4, 4, '\0');
          for (unsigned char c : key) {
            out += "0123456789abcdef"[c >> 4];
            out += "0123456789abcdef"[c & 0xf];
          }
          out += "\n";
        }
      }
    }
  }
  return out;
}

constexpr char kTproxyAll[] =
    R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
        "EnableIPv6": true, "DNSServersV4": "198.51.100.53",
        "RedirectDNS": true, "DropInvalid": true})";

std::unique_ptr<Engine> LegacyEngine(EngineOptions o = {}) {
  o.backend = "iptables-legacy";
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create(o);
  EXPECT_THAT(e, IsOk());
  return e.ok() ? *std::move(e) : nullptr;
}

bool HaveTools() {
  return ::meshcap::testing::HaveProgram("iptables-legacy-save") &&
         ::meshcap::testing::HaveProgram("ip6tables-legacy-restore");
}

// kube-proxy-like rules, in the same tables we use.
constexpr char kKubeProxy[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-POSTROUTING - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-SERVICES -d 198.51.100.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -p tcp -j DNAT --to-destination 198.51.100.20:8080
-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -i eth0 -j MARK --set-xmark 0x10/0xffffffff
COMMIT
)";

class IptBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTools()) GTEST_SKIP() << "iptables-legacy tools not installed";
    netns_ = std::make_unique<ScopedNetns>();
    if (!netns_->ok()) GTEST_SKIP() << netns_->error();
  }
  void TearDown() override { netns_.reset(); }
  std::unique_ptr<ScopedNetns> netns_;
};

// --- Conformance
// ---------------------------------------------------------------

class IptConformanceTest : public ::testing::TestWithParam<ConformanceCase> {
 protected:
  static void SetUpTestSuite() {
    groups_ok_ = ::meshcap::testing::EnsureConformanceGroups();
  }
  void SetUp() override {
    if (!HaveTools()) GTEST_SKIP() << "no iptables-legacy tools";
    const ConformanceCase& c = GetParam();
    if (!c.iptables_golden) GTEST_SKIP() << "no iptables golden";
    if ((c.policy_json.find("java") != std::string::npos ||
         c.policy_json.find("ftp") != std::string::npos) &&
        !groups_ok_) {
      GTEST_SKIP() << "groups java/ftp missing and not root";
    }
  }
  static bool groups_ok_;
};
bool IptConformanceTest::groups_ok_ = false;

TEST_P(IptConformanceTest, KernelTablesEqualIstioGolden) {
  const ConformanceCase& c = GetParam();
  absl::StatusOr<CapturePolicy> policy = PolicyFromJson(c.policy_json);
  ASSERT_THAT(policy, IsOk());
  const CapturePolicy& rules = *policy;
  const auto parts = ::meshcap::testing::SplitIptablesGolden(
      ::meshcap::testing::ReadFileOrDie(*c.iptables_golden));

  std::string istio, istio_bytes;
  {
    ScopedNetns a;
    if (!a.ok()) GTEST_SKIP() << a.error();
    Restore("iptables-legacy-restore", parts.ipv4);
    Restore("ip6tables-legacy-restore", parts.ipv6);
    istio = Save();
    istio_bytes = EntryBytes();
  }
  ScopedNetns b;
  if (!b.ok()) GTEST_SKIP() << b.error();
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(rules), IsOk());
  EXPECT_EQ(Save(), istio);
  // Byte for byte too: the save text hides some fields (CONNMARK's nfmask).
  EXPECT_EQ(EntryBytes(), istio_bytes);
  absl::StatusOr<VerifyReport> report = engine->Verify(rules);
  ASSERT_THAT(report, IsOk());
  for (const Difference& d : report->differences) {
    ADD_FAILURE() << "Verify after apply: " << d.ToString();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Istio, IptConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadConformanceCases()),
    ::meshcap::testing::CaseName);

INSTANTIATE_TEST_SUITE_P(
    IstioAmbient, IptConformanceTest,
    ::testing::ValuesIn(::meshcap::testing::LoadAmbientConformanceCases()),
    ::meshcap::testing::CaseName);

// --- Idempotence, replacement, removal, foreign rules
// --------------------------

TEST_F(IptBackendTest, ApplyingAgainChangesNothing) {
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  absl::StatusOr<ApplyResult> first = engine->Apply(rules);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->changed());
  // No table is committed (src/crash_point.h counts the commits).
  static int commits;
  commits = 0;
  internal::SetCrashHookForTest([](const char* where) {
    if (std::string_view(where) == "table committed") ++commits;
  });
  const std::string once = Save();
  absl::StatusOr<ApplyResult> again = engine->Apply(rules);
  internal::SetCrashHookForTest(nullptr);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->changed()) << again->changes.front();
  EXPECT_EQ(commits, 0);
  EXPECT_EQ(Save(), once);
  EXPECT_TRUE(engine->Verify(rules)->matches());
}

TEST_F(IptBackendTest, AOnePortChangeCommitsOnlyTheTablesItChanges) {
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  static std::vector<std::string> committed;
  committed.clear();
  internal::SetCrashHookForTest([](const char* where) {
    if (std::string_view(where) == "table committed") {
      committed.push_back(where);
    }
  });
  // An outbound port exclusion lives in nat only (IPv4 and IPv6).
  const std::string changed =
      std::string(kTproxyAll).substr(0, strlen(kTproxyAll) - 1) +
      R"(, "OutboundPortsExclude": "22"})";
  absl::StatusOr<ApplyResult> r = engine->Apply(PolicyJson(changed));
  internal::SetCrashHookForTest(nullptr);
  ASSERT_THAT(r, IsOk());
  // Two tables: one detaches, the other switches, the first attaches (so
  // that the tables in force never mix two policies); mangle and raw are
  // not touched.
  EXPECT_EQ(committed.size(), 3u);
  EXPECT_THAT(r->changes, ::testing::UnorderedElementsAre(
                              "replaced ours in IPv4 table nat",
                              "replaced ours in IPv6 table nat"));
  EXPECT_TRUE(engine->Verify(PolicyJson(changed))->matches());
}

TEST_F(IptBackendTest, ApplyingAThenBLeavesWhatBAloneLeaves) {
  const CapturePolicy a = PolicyJson(kTproxyAll);
  const CapturePolicy b = PolicyJson(
      R"({"InboundPortsInclude": "8080", "ExcludeInterfaces": "eth9",
          "OutboundIPRangesExclude": "198.51.100.0/24"})");
  std::string b_alone;
  {
    ScopedNetns fresh;
    ASSERT_TRUE(fresh.ok());
    auto engine = LegacyEngine();
    ASSERT_NE(engine, nullptr);
    // The same tables exist on both sides, so that only rules can differ.
    ASSERT_THAT(engine->Apply(a), IsOk());
    ASSERT_THAT(engine->Remove(), IsOk());
    ASSERT_THAT(engine->Apply(b), IsOk());
    b_alone = Save();
  }
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(a), IsOk());
  ASSERT_THAT(Save(), HasSubstr("-j TPROXY"));
  ASSERT_THAT(engine->Apply(b), IsOk());
  EXPECT_EQ(Save(), b_alone);
  EXPECT_TRUE(engine->Verify(b)->matches());
}

TEST_F(IptBackendTest, RemoveLeavesNothingOfOurs) {
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  ASSERT_THAT(engine->Remove(), IsOk());
  const std::string after = Save();
  EXPECT_THAT(after, Not(HasSubstr("ISTIO")));
  EXPECT_THAT(after, Not(HasSubstr("-A ")));
  EXPECT_THAT(engine->Remove(), IsOk());
}

TEST_F(IptBackendTest, ForeignRulesSurviveApplyReapplyAndRemove) {
  Restore("iptables-legacy-restore", kKubeProxy);
  const std::string foreign = Save();
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  ASSERT_THAT(engine->Apply(rules), IsOk());
  ASSERT_THAT(engine->Apply(rules), IsOk());
  const std::string applied = Save();
  EXPECT_THAT(applied, HasSubstr("-A KUBE-SVC-WEB -p tcp -j DNAT"));
  EXPECT_THAT(applied, HasSubstr("-A PREROUTING -i eth0 -j MARK"));
  EXPECT_TRUE(engine->Verify(rules)->matches());
  ASSERT_THAT(engine->Remove(), IsOk());
  // Tables we created for ourselves stay, empty; compare the foreign ones.
  std::string after = Save();
  for (const char* t : {"*nat", "*mangle"}) {
    const auto cut = [&](const std::string& s) {
      const auto b = s.find(t);
      return b == std::string::npos ? std::string()
                                    : s.substr(b, s.find("COMMIT", b) - b);
    };
    EXPECT_EQ(cut(after), cut(foreign)) << t;
  }
}

// --- All or nothing
// --------------------------------------------------------------

// The backend itself, in this namespace: for rule sets no policy compiles
// to.
std::unique_ptr<internal::Backend> BackendHere() {
  absl::StatusOr<const internal::BackendFactory*> f =
      internal::FindBackend("iptables-legacy");
  EXPECT_THAT(f, IsOk());
  internal::BackendOptions o;
  o.state_dir = internal::DefaultStateDir();
  o.netns_key = *internal::NetnsKey(-1);
  absl::StatusOr<std::unique_ptr<internal::Backend>> b = (*f)->Create(o);
  EXPECT_THAT(b, IsOk());
  return b.ok() ? *std::move(b) : nullptr;
}

// The rules of `json` with a rule the kernel refuses (a TPROXY target
// outside mangle) appended to `family`'s `kind` table.
ir::RuleSet WithBadRule(const std::string& json, ir::TableKind kind,
                        ir::Scope family) {
  ir::RuleSet rules = CompileJson(json, ir::Dialect::kIptables);
  ir::Table* table = nullptr;
  for (ir::Table& t : rules.tables) {
    if (t.kind == kind) table = &t;
  }
  EXPECT_NE(table, nullptr);
  if (table == nullptr) return rules;
  ir::RuleEntry bad;
  bad.chain = "OUTPUT";
  bad.rule.scope = family;
  bad.rule.matches.push_back(ir::ProtocolMatch{ir::L4Proto::kTcp});
  bad.rule.verdict = ir::TproxyVerdict{15006, 1, ir::kAllBits};
  table->entries.push_back(bad);
  return rules;
}

TEST_F(IptBackendTest, AFailingSwitchPutsTheDetachedTablesBack) {
  // A holds ours in mangle and nat; B changes both, and its IPv4 nat (the
  // biggest table, kube-proxy lives there) is refused. mangle had been
  // detached first: it goes back, and the kernel holds A exactly.
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  Restore("iptables-legacy-restore", kKubeProxy);
  std::string more = "*nat\n:KUBE-MORE - [0:0]\n";
  for (int i = 0; i < 100; ++i) {
    more +=
        "-A KUBE-MORE -d 203.0.113." + std::to_string(i) + "/32 -j RETURN\n";
  }
  Restore("iptables-legacy-restore", more + "COMMIT\n");
  ASSERT_THAT(engine->Apply(PolicyJson(
                  R"({"InboundInterceptionMode": "TPROXY",
                      "InboundPortsInclude": "*", "InboundPortsExclude": "22",
                      "OutboundIPRangesInclude": "*"})")),
              IsOk());
  const std::string before = SaveNonEmpty();
  auto backend = BackendHere();
  ASSERT_NE(backend, nullptr);
  std::vector<std::string> changes;
  absl::Status s = backend->Apply(
      WithBadRule(kTproxyAll, ir::TableKind::kNat, ir::Scope::kIpv4), {},
      &changes, {});
  EXPECT_THAT(
      s, AllOf(Not(IsOk()),
               StatusIs(s.code(), AllOf(HasSubstr("IPv4 table nat"),
                                        HasSubstr("restored to their previous "
                                                  "contents: IPv4 table "
                                                  "mangle")))));
  EXPECT_EQ(SaveNonEmpty(), before);
  absl::StatusOr<std::string> pending = backend->PendingRecovery();
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(*pending, "");
}

TEST_F(IptBackendTest, AFailureAfterTheSwitchLeavesTheNewPolicyAndSaysSo) {
  auto engine = LegacyEngine();
  ASSERT_NE(engine, nullptr);
  Restore("iptables-legacy-restore", kKubeProxy);
  ASSERT_THAT(engine->Apply(PolicyJson()), IsOk());
  auto backend = BackendHere();
  ASSERT_NE(backend, nullptr);
  // IPv6 raw is small: it attaches after IPv4 nat has switched.
  std::vector<std::string> changes;
  absl::Status s = backend->Apply(
      WithBadRule(kTproxyAll, ir::TableKind::kRaw, ir::Scope::kIpv6), {},
      &changes, {});
  EXPECT_THAT(
      s, StatusIs(s.code(), AllOf(HasSubstr("IPv6 table raw"),
                                  HasSubstr("in force except in IPv6 table "
                                            "raw"))));
  EXPECT_FALSE(s.ok());
  // It says it failed past its commit point: the Engine keeps the routing
  // the new firewall needs.
  EXPECT_TRUE(internal::IsPastCommit(s));
  // Nothing of A is in force any more, and verify does not pass anything.
  absl::StatusOr<VerifyReport> report = engine->Verify(PolicyJson(kTproxyAll));
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->matches());
  bool interrupted = false;
  for (const Difference& d : report->differences) {
    if (d.object == "transaction") interrupted = true;
  }
  EXPECT_TRUE(interrupted);
  // The next apply finishes the job.
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  EXPECT_TRUE(engine->Verify(PolicyJson(kTproxyAll))->matches());
}

// --- The xtables lock
// ---------------------------------------------------------------

TEST_F(IptBackendTest, AHeldLockMakesApplyWaitThenFailChangingNothing) {
  char path[] = "/tmp/meshcap-xtables-lock-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const pid_t holder = fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {  // another process holds the lock for a while
    flock(fd, LOCK_EX);
    sleep(30);
    _exit(0);
  }
  close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::string before = Save();
  EngineOptions o;
  o.xtables_lock_path = path;
  o.lock_timeout = std::chrono::milliseconds(300);
  auto engine = LegacyEngine(o);
  ASSERT_NE(engine, nullptr);
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = engine->Apply(PolicyJson()).status();
  const auto waited = std::chrono::steady_clock::now() - start;
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  unlink(path);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded,
                          AllOf(HasSubstr(path), HasSubstr("300 ms"),
                                HasSubstr("nothing was changed"))));
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_EQ(Save(), before);
}

TEST_F(IptBackendTest, AHeldLockLeavesTheOtherBackendsCaptureInPlace) {
  // Ours in nftables, and a legacy apply that cannot get the xtables lock:
  // the migration waits for the lock, so the nftables capture stays.
  EngineOptions nft;
  nft.backend = "nftables";
  auto first = Engine::Create(nft);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT((*first)->Apply(PolicyJson()), IsOk());
  const std::string nft_before =
      ::meshcap::testing::Shell("nft list ruleset").output;
  char path[] = "/tmp/meshcap-xtables-lock-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);  // held by this open file, not ours
  EngineOptions o;
  o.xtables_lock_path = path;
  o.lock_timeout = std::chrono::milliseconds(100);
  auto engine = LegacyEngine(o);
  ASSERT_NE(engine, nullptr);
  absl::Status s = engine->Apply(PolicyJson(kTproxyAll)).status();
  close(fd);
  unlink(path);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded,
                          HasSubstr("nothing was changed")));
  EXPECT_EQ(::meshcap::testing::Shell("nft list ruleset").output, nft_before);
  EXPECT_THAT(Save(), Not(HasSubstr("ISTIO")));
  EXPECT_TRUE((*first)->Verify(PolicyJson())->matches());
  // With the lock free, the same apply migrates.
  ASSERT_THAT(engine->Apply(PolicyJson(kTproxyAll)), IsOk());
  EXPECT_THAT(::meshcap::testing::Shell("nft list ruleset").output,
              Not(HasSubstr("istio")));
  EXPECT_TRUE(engine->Verify(PolicyJson(kTproxyAll))->matches());
}

TEST_F(IptBackendTest, AConcurrentRestoreWriterLosesNothing) {
  // A writer loop of iptables-legacy-restore --noflush (which takes the same
  // lock) adds its own chain's rules while we apply over and over.
  char path[] = "/tmp/meshcap-writer-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string lockfile = std::string(path) + ".lock";
  close(fd);
  const pid_t writer = fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    for (int i = 0; i < 40; ++i) {
      const std::string rules = "*nat\n:WRITER-" + std::to_string(i) +
                                " - [0:0]\n-A WRITER-" + std::to_string(i) +
                                " -d 203.0.113." + std::to_string(i) +
                                "/32 -j RETURN\nCOMMIT\n";
      std::ofstream(path) << rules;
      const std::string cmd = "XTABLES_LOCKFILE=" + lockfile +
                              " iptables-legacy-restore -w --noflush " + path;
      if (std::system(cmd.c_str()) != 0) _exit(1);
    }
    _exit(0);
  }
  EngineOptions o;
  o.xtables_lock_path = lockfile;
  auto engine = LegacyEngine(o);
  ASSERT_NE(engine, nullptr);
  const CapturePolicy rules = PolicyJson(kTproxyAll);
  for (int i = 0; i < 40; ++i) ASSERT_THAT(engine->Apply(rules), IsOk());
  int status = 0;
  waitpid(writer, &status, 0);
  unlink(path);
  unlink(lockfile.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string after = Save();
  for (int i = 0; i < 40; ++i) {
    EXPECT_THAT(after, HasSubstr("-A WRITER-" + std::to_string(i) +
                                 " -d 203.0.113." + std::to_string(i)));
  }
  EXPECT_TRUE(engine->Verify(rules)->matches());
}

// --- Namespaces, detection
// ---------------------------------------------------------

TEST_F(IptBackendTest, TargetsANamespaceByPath) {
  ::meshcap::testing::DetachedNetns target;
  ASSERT_TRUE(target.ok());
  EngineOptions o;
  o.netns_path = target.path();
  auto engine = LegacyEngine(o);
  ASSERT_NE(engine, nullptr);
  ASSERT_THAT(engine->Apply(PolicyJson()), IsOk());
  EXPECT_THAT(Save(), Not(HasSubstr("ISTIO")));
  EXPECT_THAT(
      ::meshcap::testing::ShellIn(target.fd(), "iptables-legacy-save").output,
      HasSubstr("-A ISTIO_OUTPUT"));
  ASSERT_THAT(engine->Remove(), IsOk());
  EXPECT_THAT(
      ::meshcap::testing::ShellIn(target.fd(), "iptables-legacy-save").output,
      Not(HasSubstr("ISTIO")));
}

TEST_F(IptBackendTest, AutoPicksLegacyOnlyWhenItsNatTableHoldsRules) {
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Create({});
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "nftables");
  Restore("iptables-legacy-restore", kKubeProxy);
  e = Engine::Create({});
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "iptables-legacy");
  EngineOptions explicit_choice;
  explicit_choice.backend = "nftables";
  e = Engine::Create(explicit_choice);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((*e)->backend_name(), "nftables");
}

}  // namespace
}  // namespace meshcap
