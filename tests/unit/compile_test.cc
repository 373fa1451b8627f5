// SPDX-License-Identifier: GPL-2.0-or-later
//
// The compiler: the default istio-init policy against reference §3.3 (copied
// into tests/conformance/istio/istio-init-default.rules), and structural
// properties of the rule set that the renderers' byte comparisons do not show
// directly.

#include "src/compile/compile.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/render.h"
#include "src/ir/rule_set.h"
#include "tests/testing/conformance.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using namespace ::meshcap::ir;  // NOLINT: the IR is what this tests
using ::meshcap::internal::Compile;

constexpr Dialect kIpt = Dialect::kIptables;
constexpr Dialect kNft = Dialect::kNftables;

std::string RenderIpt(const CapturePolicy& p) {
  return *Render(p, "iptables-legacy");
}
std::string RenderNft(const CapturePolicy& p) { return *Render(p, "nftables"); }

using ::meshcap::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::SizeIs;

// istio-init: -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*'
//             -d 15090,15021,15020
CapturePolicy IstioInitDefault() {
  absl::StatusOr<CapturePolicy> p =
      PolicyBuilder()
          .SetProxyPort("15001")
          .SetInboundCapturePort("15006")
          .SetProxyUids("1337")
          .SetInterceptMode("REDIRECT")
          .SetOutboundCidrsInclude("*")
          .SetOutboundCidrsExclude("")
          .SetInboundPorts("*")
          .SetInboundPortsExclude("15090,15021,15020")
          .Build();
  EXPECT_THAT(p, IsOk());
  return *p;
}

// The istio-init default rules of the reference notes (section 3.3).
std::string ReferenceSection33() {
  return ::meshcap::testing::ReadFileOrDie(
      std::string(MESHCAP_SOURCE_ROOT) +
      "/tests/conformance/istio/istio-init-default.rules");
}

TEST(CompileTest, IstioInitDefaultIsReferenceSection33) {
  std::string want = ReferenceSection33();
  EXPECT_EQ(RenderIpt(IstioInitDefault()), want);
}

TEST(CompileTest, IstioInitDefaultStructure) {
  RuleSet rules = Compile(IstioInitDefault(), kIpt);
  ASSERT_THAT(rules.tables, SizeIs(1));
  const Table& nat = rules.tables[0];
  EXPECT_EQ(nat.kind, TableKind::kNat);
  std::vector<std::string> chains;
  for (const ChainSpec& c : nat.chains) chains.push_back(c.name);
  EXPECT_THAT(chains, ElementsAre("PREROUTING", "OUTPUT", "ISTIO_INBOUND",
                                  "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT",
                                  "ISTIO_OUTPUT"));
  const ChainSpec* pre = nat.FindChain("PREROUTING");
  ASSERT_NE(pre, nullptr);
  EXPECT_EQ(pre->hook, Hook::kPrerouting);
  EXPECT_EQ(pre->type, ChainType::kNat);
  EXPECT_EQ(pre->priority, -100);

  // The catch-all is the last rule of ISTIO_OUTPUT.
  auto out = ResolveChain(nat, "ISTIO_OUTPUT", IpFamily::kIpv4);
  ASSERT_FALSE(out.empty());
  const auto* jump = std::get_if<JumpVerdict>(&out.back()->verdict);
  ASSERT_NE(jump, nullptr);
  EXPECT_EQ(jump->chain, "ISTIO_REDIRECT");
  EXPECT_TRUE(out.back()->matches.empty());
}

TEST(CompileTest, TproxyInsertsLandAtTheFrontOfMangleInbound) {
  absl::StatusOr<CapturePolicy> p = PolicyBuilder()
                                        .SetInterceptMode("TPROXY")
                                        .SetInboundPorts("*")
                                        .SetIpv6(true)
                                        .Build();
  ASSERT_THAT(p, IsOk());
  RuleSet rules = Compile(*p, kIpt);
  const Table* mangle = rules.FindTable(TableKind::kMangle);
  ASSERT_NE(mangle, nullptr);
  for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    auto chain = ResolveChain(*mangle, "ISTIO_INBOUND", f);
    ASSERT_THAT(chain, SizeIs(5));
    EXPECT_TRUE(std::holds_alternative<MarkMatch>(chain[0]->matches.back()));
    const AddressMatch* src = nullptr;
    for (const Match& m : chain[1]->matches) {
      if (const auto* a = std::get_if<AddressMatch>(&m)) src = a;
    }
    ASSERT_NE(src, nullptr);
    EXPECT_EQ(src->cidr.ToString(),
              f == IpFamily::kIpv4 ? "127.0.0.6/32" : "::6/128");
    const auto* m = std::get_if<MarkMatch>(&chain[2]->matches.back());
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(m->negate);
    EXPECT_EQ(m->value, 1338u);
    EXPECT_TRUE(std::holds_alternative<TproxyVerdict>(
        ResolveChain(*mangle, "ISTIO_TPROXY", f)[0]->verdict));
  }
}

TEST(CompileTest, Ipv6RulesExistOnlyWhenEnabled) {
  for (bool ipv6 : {false, true}) {
    absl::StatusOr<CapturePolicy> p =
        PolicyBuilder()
            .SetOutboundCidrsInclude("198.51.100.0/24,2001:db8::/32")
            .SetIpv6(ipv6)
            .Build();
    ASSERT_THAT(p, IsOk());
    RuleSet rules = Compile(*p, kIpt);
    int v6_only = 0;
    for (const RuleEntry& e : rules.tables[0].entries)
      if (e.rule.scope == Scope::kIpv6) ++v6_only;
    // ::6 passthrough, 2 owner lo-redirects, ::1 return, the v6 include.
    EXPECT_EQ(v6_only, ipv6 ? 5 : 0);
  }
}

TEST(CompileTest, LoopbackIncludeDropsTheLoReturnRules) {
  auto count_lo_returns = [](const RuleSet& rules) {
    int n = 0;
    for (const RuleEntry& e : rules.tables[0].entries) {
      const Rule& r = e.rule;
      if (r.matches.size() == 2 &&
          std::holds_alternative<InterfaceMatch>(r.matches[0]) &&
          std::holds_alternative<OwnerMatch>(r.matches[1]) &&
          std::get<OwnerMatch>(r.matches[1]).negate)
        ++n;
    }
    return n;
  };
  absl::StatusOr<CapturePolicy> plain =
      PolicyBuilder().SetOutboundCidrsInclude("10.0.0.0/8").Build();
  absl::StatusOr<CapturePolicy> lo =
      PolicyBuilder().SetOutboundCidrsInclude("127.1.2.3/32").Build();
  ASSERT_THAT(plain, IsOk());
  ASSERT_THAT(lo, IsOk());
  EXPECT_EQ(count_lo_returns(Compile(*plain, kIpt)), 2);
  EXPECT_EQ(count_lo_returns(Compile(*lo, kIpt)), 0);
}

TEST(CompileTest, CustomLoopbackCidrReplacesLocalhost) {
  absl::StatusOr<CapturePolicy> p =
      PolicyBuilder().SetIpv4LoopbackCidr("127.0.0.0/8").Build();
  ASSERT_THAT(p, IsOk());
  // Istio writes the prefix as it was given (the kernel masks it).
  std::string text = RenderIpt(*p);
  EXPECT_THAT(text,
              ::testing::HasSubstr("-A ISTIO_OUTPUT -d 127.0.0.0/8 -j RETURN"));
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("127.0.0.1/32")));
  absl::StatusOr<CapturePolicy> spelled =
      PolicyBuilder().SetIpv4LoopbackCidr("127.0.0.1/8").Build();
  ASSERT_THAT(spelled, IsOk());
  EXPECT_THAT(RenderIpt(*spelled),
              ::testing::HasSubstr("-A ISTIO_OUTPUT -d 127.0.0.1/8 -j RETURN"));
  EXPECT_THAT(RenderNft(*spelled),
              ::testing::HasSubstr("ip daddr 127.0.0.1/8 counter return"));
}

TEST(CompileTest, PrefixesKeepTheirHostBitsAndDnsServersTheirSpelling) {
  // netip.Prefix.String() for -i/-x; the server as configured plus "/32".
  absl::StatusOr<CapturePolicy> p =
      PolicyBuilder()
          .SetOutboundCidrsInclude("10.1.2.3/8,FD00:0:0::1/64")
          .SetOutboundCidrsExclude("198.51.100.7/24")
          .SetRedirectDns(true)
          .SetDnsServersV4("203.0.113.53")
          .SetIpv6(true)
          .Build();
  ASSERT_THAT(p, IsOk());
  const std::string ipt = RenderIpt(*p);
  EXPECT_THAT(ipt, ::testing::HasSubstr("-d 10.1.2.3/8 -j ISTIO_REDIRECT"));
  EXPECT_THAT(ipt, ::testing::HasSubstr("-d fd00::1/64 -j ISTIO_REDIRECT"));
  EXPECT_THAT(ipt, ::testing::HasSubstr("-d 198.51.100.7/24 -j RETURN"));
  EXPECT_THAT(ipt, ::testing::HasSubstr("-d 203.0.113.53/32 -j REDIRECT"));
}

TEST(CompileTest, DialectsDifferOnlyWhereIstiosGeneratorsDo) {
  // Drop-invalid: TCP-only in Istio's nftables generator.
  absl::StatusOr<CapturePolicy> p =
      PolicyBuilder().SetDropInvalid(true).Build();
  ASSERT_THAT(p, IsOk());
  const Table* nft = Compile(*p, kNft).FindTable(TableKind::kMangle);
  const RuleSet ipt_rules = Compile(*p, kIpt);
  const Table* ipt = ipt_rules.FindTable(TableKind::kMangle);
  ASSERT_NE(ipt, nullptr);
  EXPECT_THAT(ipt->entries[0].rule.matches, SizeIs(1));
  const RuleSet nft_rules = Compile(*p, kNft);
  nft = nft_rules.FindTable(TableKind::kMangle);
  ASSERT_NE(nft, nullptr);
  EXPECT_THAT(nft->entries[0].rule.matches, SizeIs(2));
  EXPECT_EQ(nft->name, "istio-proxy-mangle");
  EXPECT_EQ(nft->entries[0].chain, "prerouting");
  EXPECT_EQ(ipt->entries[0].chain, "PREROUTING");
}

TEST(CompileTest, CaptureAllDnsCapturesEveryServer) {
  absl::StatusOr<CapturePolicy> p = PolicyBuilder()
                                        .SetRedirectDns(true)
                                        .SetCaptureAllDns(true)
                                        .SetIpv6(true)
                                        .Build();
  ASSERT_THAT(p, IsOk());
  std::string nft = RenderNft(*p);
  EXPECT_THAT(nft,
              ::testing::HasSubstr(
                  "add rule inet istio-proxy-nat istio-output-dns meta "
                  "l4proto tcp tcp dport 53 counter redirect to :15053\n"));
  EXPECT_THAT(nft, ::testing::HasSubstr(
                       "add rule inet istio-proxy-raw istio-inbound udp sport "
                       "53 counter ct zone set 1\n"));
  std::string ipt = RenderIpt(*p);
  ipt = ipt.substr(ipt.rfind("* nat"));  // the IPv6 part
  EXPECT_THAT(ipt, ::testing::HasSubstr(
                       "-A ISTIO_OUTPUT_DNS -p udp --dport 53 -j REDIRECT "
                       "--to-port 15053\n"));
  EXPECT_THAT(ipt, ::testing::HasSubstr("-A PREROUTING -j ISTIO_INBOUND\n"));
}

TEST(CompileTest, OutboundPortExcludesComeFirst) {
  absl::StatusOr<CapturePolicy> p = PolicyBuilder()
                                        .SetOutboundPortsExclude("22,443")
                                        .SetOutboundCidrsInclude("*")
                                        .Build();
  ASSERT_THAT(p, IsOk());
  RuleSet rules = Compile(*p, kIpt);
  auto chain = ResolveChain(*rules.FindTable(TableKind::kNat), "ISTIO_OUTPUT",
                            IpFamily::kIpv4);
  ASSERT_GE(chain.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const auto* port = std::get_if<PortMatch>(&chain[i]->matches[0]);
    ASSERT_NE(port, nullptr);
    EXPECT_EQ(port->proto, i % 2 == 0 ? L4Proto::kTcp : L4Proto::kUdp);
    EXPECT_EQ(port->ports[0], i < 2 ? 22 : 443);
    EXPECT_TRUE(std::holds_alternative<ReturnVerdict>(chain[i]->verdict));
  }
}

}  // namespace
}  // namespace meshcap
