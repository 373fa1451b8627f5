// SPDX-License-Identifier: GPL-2.0-or-later
//
// Explain as pure code: the classic questions, the packet's parsing and
// errors, the JSON form, and the probe generator's coverage of every rule
// of every conformance case. Whether Explain agrees with the kernel is
// tests/system/explain_kernel_test.cc.

#include "meshcap/explain.h"

#include <cstdio>
#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/policy_json.h"
#include "nlohmann/json.hpp"
#include "src/backend.h"
#include "src/compile/compile.h"
#include "src/explain_internal.h"
#include "tests/testing/conformance.h"
#include "tests/testing/explain_probes.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::testing::HasSubstr;

CapturePolicy PolicyOf(const std::string& json) {
  absl::StatusOr<CapturePolicy> p = PolicyFromJson(json);
  EXPECT_THAT(p, IsOk()) << json;
  return *p;
}

constexpr char kSidecar[] =
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020",
        "OutboundIPRangesExclude": "10.10.0.0/16", "EnableIPv6": true})";

Packet Flags(Packet::Flags f) {
  absl::StatusOr<Packet> p = Packet::FromFlags(f);
  EXPECT_THAT(p, IsOk());
  return p.ok() ? *p : Packet();
}

std::vector<std::string> Backends() { return AvailableBackends(); }

class ExplainTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExplainTest, AnAppConnectionIsRedirectedToTheProxy) {
  Packet::Flags f;
  f.dst = "10.96.0.10:80";
  f.uid = "1000";
  absl::StatusOr<Explanation> e =
      Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_TRUE(e->captured);
  EXPECT_EQ(e->port, 15001);
  EXPECT_EQ(e->mode, "REDIRECT");
  EXPECT_THAT(e->summary, HasSubstr("REDIRECT to port 15001"));
}

TEST_P(ExplainTest, AnExcludedRangeIsNotCapturedAndTheRuleIsNamed) {
  Packet::Flags f;
  f.dst = "10.10.3.4:443";
  absl::StatusOr<Explanation> e =
      Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_FALSE(e->captured);
  EXPECT_EQ(e->mode, "ACCEPT");
  EXPECT_THAT(e->summary, HasSubstr("10.10.0.0/16"));
  EXPECT_THAT(e->summary, HasSubstr("lets it pass"));
  int decisive = 0;
  for (const ExplainStep& s : e->path) decisive += s.decisive;
  EXPECT_EQ(decisive, 1);
}

TEST_P(ExplainTest, TheProxysOwnTrafficPasses) {
  Packet::Flags f;
  f.dst = "10.96.0.10:80";
  f.uid = "1337";
  absl::StatusOr<Explanation> e =
      Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_FALSE(e->captured);
  EXPECT_THAT(e->summary, HasSubstr("1337"));
}

TEST_P(ExplainTest, InboundPassthroughFrom127_0_0_6Passes) {
  Packet::Flags f;
  f.src = "127.0.0.6";
  f.dst = "198.51.100.2:8080";
  f.oif = "lo";
  f.uid = "1337";
  absl::StatusOr<Explanation> e =
      Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_FALSE(e->captured);
  EXPECT_THAT(e->summary, HasSubstr("127.0.0.6"));
}

TEST_P(ExplainTest, InboundLandsOnTheInboundPortButExcludedPortsDoNot) {
  Packet::Flags f;
  f.src = "203.0.113.9:40000";
  f.dst = "198.51.100.2:8080";
  f.iif = "eth0";
  absl::StatusOr<Explanation> e =
      Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_TRUE(e->captured);
  EXPECT_EQ(e->port, 15006);
  f.dst = "198.51.100.2:15021";
  e = Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_FALSE(e->captured);
}

TEST_P(ExplainTest, TproxyNamesTheMarkAndTheRouteTable) {
  const std::string json =
      R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
          "InboundInterceptionMode": "TPROXY"})";
  Packet::Flags f;
  f.src = "203.0.113.9:40000";
  f.dst = "198.51.100.2:8080";
  f.iif = "eth0";
  absl::StatusOr<Explanation> e = Explain(PolicyOf(json), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_TRUE(e->captured);
  EXPECT_EQ(e->mode, "TPROXY");
  EXPECT_EQ(e->port, 15006);
  EXPECT_EQ(e->tproxy_mark, 1337u);
  EXPECT_EQ(e->route_table, 133u);
}

TEST_P(ExplainTest, AmbientDnsGoesTo15053AndZtunnelsOwnDnsGetsAZone) {
  const std::string json = R"({"Profile": "ambient", "RedirectDNS": true})";
  Packet::Flags f;
  f.proto = "udp";
  f.dst = "10.96.0.10:53";
  absl::StatusOr<Explanation> e = Explain(PolicyOf(json), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_TRUE(e->captured);
  EXPECT_EQ(e->port, 15053);
  f.mark = "0x539";
  e = Explain(PolicyOf(json), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_FALSE(e->captured);
  EXPECT_EQ(e->ct_zone, 1);
}

TEST_P(ExplainTest, NatChainsSeeOnlyTheFirstPacket) {
  Packet::Flags f;
  f.src = "203.0.113.9:40000";
  f.dst = "198.51.100.2:8080";
  f.iif = "eth0";
  f.ct_state = "established";
  absl::StatusOr<Explanation> e =
      Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  EXPECT_FALSE(e->captured);
  ASSERT_FALSE(e->path.empty());
  EXPECT_THAT(e->path[0].outcome, HasSubstr("first packet"));
}

TEST_P(ExplainTest, TheJsonFormHasTheVerdictAndThePath) {
  Packet::Flags f;
  f.dst = "[2001:db8::9]:80";
  absl::StatusOr<Explanation> e =
      Explain(PolicyOf(kSidecar), Flags(f), GetParam());
  ASSERT_THAT(e, IsOk());
  const nlohmann::json j = nlohmann::json::parse(e->ToJson());
  EXPECT_EQ(j["captured"], true);
  EXPECT_EQ(j["port"], 15001);
  EXPECT_EQ(j["mode"], "REDIRECT");
  ASSERT_TRUE(j["path"].is_array());
  ASSERT_FALSE(j["path"].empty());
  EXPECT_TRUE(j["path"][0].contains("text"));
  EXPECT_EQ(j["backend"], GetParam());
  // The text form carries the same path.
  const std::string text = e->ToText();
  for (const ExplainStep& s : e->path) {
    if (!s.text.empty()) {
      EXPECT_THAT(text, HasSubstr(s.text));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ExplainTest, ::testing::ValuesIn(Backends()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

TEST(ExplainPacket, ImpossiblePacketsAreOneLineNamingTheValue) {
  struct Case {
    Packet::Flags f;
    std::string want;
  };
  std::vector<Case> cases;
  auto add = [&](auto set, const char* want) {
    Packet::Flags f;
    f.dst = "10.0.0.1:80";
    set(f);
    cases.push_back({f, want});
  };
  add([](Packet::Flags& f) { f.dst = "10.0.0.1:70000"; }, "'10.0.0.1:70000'");
  add([](Packet::Flags& f) { f.dst = "10.0.0.1"; }, "has no port");
  add([](Packet::Flags& f) { f.dst = ""; }, "--dst: missing");
  add([](Packet::Flags& f) { f.src = "2001:db8::1"; }, "'2001:db8::1'");
  add(
      [](Packet::Flags& f) {
        f.iif = "eth0";
        f.src = "10.0.0.2";
        f.uid = "1000";
      },
      "--uid: '1000'");
  add([](Packet::Flags& f) { f.iif = "eth0"; }, "--src: missing");
  add([](Packet::Flags& f) { f.proto = "sctp"; }, "'sctp'");
  add([](Packet::Flags& f) { f.mark = "0x1g"; }, "'0x1g'");
  add([](Packet::Flags& f) { f.mark = "4294967296"; }, "'4294967296'");
  add([](Packet::Flags& f) { f.uid = "-1"; }, "'-1'");
  add([](Packet::Flags& f) { f.ct_state = "bogus"; }, "'bogus'");
  add([](Packet::Flags& f) { f.oif = "a/b"; }, "'a/b'");
  add([](Packet::Flags& f) { f.src = "10.0.0.0/8"; }, "not one address");
  add([](Packet::Flags& f) { f.dst = "[::1:80"; }, "closing");
  for (const Case& c : cases) {
    absl::StatusOr<Packet> p = Packet::FromFlags(c.f);
    ASSERT_FALSE(p.ok()) << c.want;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(c.want));
    EXPECT_EQ(std::string(p.status().message()).find('\n'), std::string::npos);
  }
}

TEST(ExplainPacket, JsonPacketsParseAndUnknownKeysAreNamed) {
  absl::StatusOr<Packet> p = Packet::FromJson(
      R"({"proto": "udp", "dst": "10.0.0.1:53", "uid": 1337, "mark": "0x539"})");
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->protocol, Transport::kUdp);
  EXPECT_EQ(p->uid, 1337u);
  EXPECT_EQ(p->mark, 0x539u);
  p = Packet::FromJson(R"({"dst": "10.0.0.1:53", "colour": "red"})");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("'colour'"));
  EXPECT_FALSE(Packet::FromJson("[1]").ok());
}

TEST(ExplainPacket, AnUnknownBackendIsNamed) {
  Packet::Flags f;
  f.dst = "10.0.0.1:80";
  absl::StatusOr<Explanation> e = Explain(PolicyOf(kSidecar), Flags(f), "pf");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("'pf'"));
}

// The generator's packets exercise every rule of every case: each rule in
// a chain some packet enters is reached by a packet, and matched by one
// unless the rules before it leave no packet for it (Istio's sets have
// such rules: `-i fake1s0f0 -p tcp -j RETURN` after the same matches'
// REDIRECT). Rules of chains nothing jumps to are counted apart.
TEST(ExplainProbes, EveryRuleOfEveryCaseIsExercised) {
  ASSERT_TRUE(::meshcap::testing::EnsureConformanceGroups());
  size_t cases = 0, rules = 0, matched = 0, dead = 0, unused = 0, packets = 0,
         tried = 0;
  for (const char* backend : {"nftables", "iptables-nft"}) {
    absl::StatusOr<const internal::BackendFactory*> f =
        internal::FindBackend(backend);
    if (!f.ok()) continue;
    for (const auto& c : ::meshcap::testing::LoadAllConformanceCases()) {
      const CapturePolicy policy = PolicyOf(c.policy_json);
      const ir::RuleSet set = internal::Compile(policy, (*f)->dialect());
      const ::meshcap::testing::ProbeSet probes =
          ::meshcap::testing::GenerateProbes(set, **f);
      const std::set<std::string> unused_rules =
          ::meshcap::testing::RulesInUnusedChains(set);
      for (const std::string& r : probes.rules) {
        if (unused_rules.count(r)) {
          EXPECT_FALSE(probes.matched.count(r) || probes.unmatched.count(r))
              << c.name << " " << backend << ": a packet reached " << r;
          ++unused;
        } else if (probes.matched.count(r)) {
          ++matched;
        } else {
          EXPECT_TRUE(probes.unmatched.count(r))
              << c.name << " " << backend << ": no packet reaches " << r;
          ++dead;
          if (getenv("MESHCAP_PROBES_DEBUG") != nullptr) {
            std::printf("dead: %s %s %s\n", c.name.c_str(), backend, r.c_str());
          }
        }
      }
      ++cases;
      rules += probes.rules.size();
      packets += probes.packets.size();
      tried += probes.tried;
    }
  }
  EXPECT_GT(matched, 0u);
  std::printf(
      "explain probes: %zu case-backend pairs, %zu rules: %zu matched, %zu "
      "reached but matched by no packet the generator could make (the "
      "rules before them take those), %zu in chains nothing jumps to; %zu "
      "packets (%zu explained to find them)\n",
      cases, rules, matched, dead, unused, packets, tried);
}

// The verdict does not depend on the backend, with one exception that is
// Istio's: a policy without IPv6 gets no ip6tables rules from Istio's
// iptables generators, while the inet tables of its nftables generator
// hold rules that apply to IPv6 too. So for every probe of every case,
// both dialects agree on the verdict and the mark, unless the packet is
// IPv6 and the policy's IPv6 is off.
TEST(ExplainProbes, TheVerdictIsTheBackendsExceptIpv6WithoutIpv6) {
  ASSERT_TRUE(::meshcap::testing::EnsureConformanceGroups());
  absl::StatusOr<const internal::BackendFactory*> nft =
      internal::FindBackend("nftables");
  absl::StatusOr<const internal::BackendFactory*> ipt =
      internal::FindBackend("iptables-nft");
  if (!ipt.ok()) ipt = internal::FindBackend("iptables-legacy");
  if (!nft.ok() || !ipt.ok()) GTEST_SKIP() << "needs both dialects";
  size_t packets = 0, differ = 0;
  for (const auto& c : ::meshcap::testing::LoadAllConformanceCases()) {
    const CapturePolicy policy = PolicyOf(c.policy_json);
    const ir::RuleSet n = internal::Compile(policy, ir::Dialect::kNftables);
    const ir::RuleSet i = internal::Compile(policy, ir::Dialect::kIptables);
    std::vector<Packet> all =
        ::meshcap::testing::GenerateProbes(n, **nft).packets;
    for (const Packet& p :
         ::meshcap::testing::GenerateProbes(i, **ipt).packets) {
      all.push_back(p);
    }
    for (const Packet& p : all) {
      absl::StatusOr<Explanation> a = internal::ExplainRules(n, **nft, p);
      absl::StatusOr<Explanation> b = internal::ExplainRules(i, **ipt, p);
      ASSERT_THAT(a, IsOk());
      ASSERT_THAT(b, IsOk());
      ++packets;
      const bool same = a->mode == b->mode && a->port == b->port &&
                        a->mark == b->mark && a->connmark == b->connmark;
      if (same) continue;
      ++differ;
      EXPECT_TRUE(p.dst.family() == IpFamily::kIpv6 && !n.ipv6)
          << c.name << ": " << p.ToString() << "\n  nftables: " << a->summary
          << "\n  iptables: " << b->summary;
    }
  }
  std::printf(
      "explain across dialects: %zu packets, %zu verdicts differ (all IPv6 "
      "packets of policies without IPv6)\n",
      packets, differ);
}

}  // namespace
}  // namespace meshcap
