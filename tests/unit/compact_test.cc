// SPDX-License-Identifier: GPL-2.0-or-later
//
// CompactLists: what the knob changes in the rules, and the proof that it
// changes nothing in what they do. For every case of the conformance
// corpora and for generated long lists (overlapping, nested, adjacent and
// repeated ranges, IPv4 and IPv6, ports and runs of ports), every packet
// drawn at each list's boundaries and inside and outside each range gets
// the same verdict from the linear form (Istio's rules) as from the
// compact one (named sets). tests/system/explain_kernel_test.cc sends the
// corpus packets through the compact form in the kernel.

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "meshcap/explain.h"
#include "meshcap/policy_json.h"
#include "meshcap/render.h"
#include "src/backend.h"
#include "src/compile/compile.h"
#include "src/explain_internal.h"
#include "tests/testing/conformance.h"
#include "tests/testing/explain_probes.h"
#include "tests/testing/kernel.h"
#include "tests/testing/status_matchers.h"

namespace meshcap {
namespace {

using ::meshcap::testing::IsOk;
using ::testing::HasSubstr;

using ::meshcap::testing::PolicyJson;

// The same JSON object with CompactLists on.
std::string Compacted(const std::string& json) {
  std::string out = json;
  out.insert(out.find('{') + 1, "\"CompactLists\":true,");
  return out;
}

Cidr C(const char* text) { return *Cidr::Parse(text); }

std::vector<std::string> Texts(const std::vector<Cidr>& cidrs) {
  std::vector<std::string> out;
  for (const Cidr& c : cidrs) out.push_back(c.ToString());
  return out;
}

TEST(MergePrefixes, DropsWhatAnotherHoldsAndKeepsAdjacentApart) {
  EXPECT_THAT(
      Texts(ir::MergePrefixes({C("10.1.0.0/16"), C("10.0.0.0/8"),
                               C("10.2.3.0/24"), C("10.1.0.0/16"),
                               C("192.168.0.0/24"), C("192.168.1.0/24")})),
      ::testing::ElementsAre("10.0.0.0/8", "192.168.0.0/24", "192.168.1.0/24"));
  EXPECT_THAT(
      Texts(ir::MergePrefixes({C("2001:db8:1::/48"), C("2001:db8::/32"),
                               C("2001:db8::1/128"), C("2001:db9::/32")})),
      ::testing::ElementsAre("2001:db8::/32", "2001:db9::/32"));
  EXPECT_THAT(Texts(ir::MergePrefixes({C("0.0.0.0/0"), C("10.0.0.0/8")})),
              ::testing::ElementsAre("0.0.0.0/0"));
  EXPECT_TRUE(ir::MergePrefixes({}).empty());
}

// The chain's rules as the nftables backend spells them.
std::vector<std::string> Chain(const ir::RuleSet& rules, ir::TableKind kind,
                               const std::string& chain) {
  const internal::BackendFactory* nft = *internal::FindBackend("nftables");
  const ir::Table* t = rules.FindTable(kind);
  std::vector<std::string> out;
  if (t == nullptr) return out;
  for (const ir::Rule* r : ir::ResolveChain(*t, chain, std::nullopt)) {
    out.push_back(nft->SpellRule(rules, *t, chain, *r));
  }
  return out;
}

TEST(CompactLists, EachListIsOneLookupWhereItsFirstRuleStood) {
  const std::string json = R"({"EnableIPv6": true,
      "OutboundIPRangesExclude": "10.0.0.0/8,10.1.0.0/16,192.168.0.0/24,2001:db8::/32",
      "OutboundPortsExclude": "80,443", "OutboundPortsInclude": "8080",
      "OutboundIPRangesInclude": "10.96.0.0/12,172.16.0.0/12",
      "RerouteVirtualInterfaces": "kv0",
      "InboundPortsInclude": "9000,9001"})";
  const ir::RuleSet linear =
      internal::Compile(PolicyJson(json), ir::Dialect::kNftables);
  const ir::RuleSet compact =
      internal::Compile(PolicyJson(Compacted(json)), ir::Dialect::kNftables);
  const std::vector<std::string> out =
      Chain(compact, ir::TableKind::kNat, "istio-output");
  EXPECT_THAT(out, ::testing::Contains("tcp dport @outbound-ports-exclude "
                                       "counter return"));
  EXPECT_THAT(out, ::testing::Contains("udp dport @outbound-ports-exclude "
                                       "counter return"));
  EXPECT_THAT(
      out, ::testing::Contains("ip daddr @outbound-exclude-v4 counter return"));
  EXPECT_THAT(out, ::testing::Contains(
                       "ip6 daddr @outbound-exclude-v6 counter return"));
  EXPECT_THAT(out, ::testing::Contains("tcp dport @outbound-ports-include "
                                       "counter jump istio-redirect"));
  EXPECT_THAT(out, ::testing::Contains("ip daddr @outbound-include-v4 counter "
                                       "jump istio-redirect"));
  EXPECT_THAT(Chain(compact, ir::TableKind::kNat, "prerouting"),
              ::testing::Contains("iifname kv0 ip daddr @outbound-include-v4 "
                                  "counter jump istio-redirect"));
  EXPECT_THAT(Chain(compact, ir::TableKind::kNat, "istio-inbound"),
              ::testing::Contains("meta l4proto tcp tcp dport "
                                  "@inbound-ports-include counter jump "
                                  "istio-in-redirect"));
  // Where the first rule of each list stood: the rules before and after
  // the lists are the linear form's, in its order.
  const std::vector<std::string> lin =
      Chain(linear, ir::TableKind::kNat, "istio-output");
  auto index_of = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) - v.begin();
  };
  EXPECT_EQ(index_of(out, "tcp dport @outbound-ports-exclude counter return"),
            index_of(lin, "tcp dport 80 counter return"));
  EXPECT_EQ(index_of(out, "ip daddr @outbound-exclude-v4 counter return"),
            index_of(lin, "ip daddr 10.0.0.0/8 counter return") - 2);
  // Saved: two of four exclude rules (3 IPv4 + 1 IPv6 ranges), two of four
  // port rules, one of two includes.
  EXPECT_EQ(out.size() + 2 + 2 + 1, lin.size());
  // The sets, merged: 10.1.0.0/16 lies in 10.0.0.0/8.
  const ir::Table* nat = compact.FindTable(ir::TableKind::kNat);
  ASSERT_NE(nat, nullptr);
  const ir::NamedSet* ex4 = nat->FindSet("outbound-exclude-v4");
  ASSERT_NE(ex4, nullptr);
  EXPECT_THAT(Texts(ex4->cidrs),
              ::testing::ElementsAre("10.0.0.0/8", "192.168.0.0/24"));
  const ir::NamedSet* ports = nat->FindSet("outbound-ports-exclude");
  ASSERT_NE(ports, nullptr);
  EXPECT_THAT(ports->ports, ::testing::ElementsAre(80, 443));
}

TEST(CompactLists, OffChangesNothingAndAmbientHasNoLists) {
  for (const auto& c : ::meshcap::testing::LoadAllConformanceCases()) {
    const CapturePolicy policy = PolicyJson(c.policy_json);
    const CapturePolicy compact = PolicyJson(Compacted(c.policy_json));
    EXPECT_FALSE(policy.compact_lists());
    EXPECT_TRUE(compact.compact_lists());
    if (policy.profile() != Profile::kAmbient) continue;
    absl::StatusOr<std::string> a = Render(policy, "nftables");
    absl::StatusOr<std::string> b = Render(compact, "nftables");
    ASSERT_THAT(a, IsOk());
    ASSERT_THAT(b, IsOk());
    EXPECT_EQ(*a, *b) << c.name;
  }
}

TEST(CompactLists, TheIptablesBackendsRefuseItNamingTheKnob) {
  const CapturePolicy p = PolicyJson(
      R"({"CompactLists": true, "OutboundIPRangesExclude": "10.0.0.0/8"})");
  for (const char* backend : {"iptables", "iptables-legacy", "iptables-nft"}) {
    if (!internal::FindSpellingBackend(backend).ok()) continue;
    absl::StatusOr<std::string> r = Render(p, backend);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << backend;
    EXPECT_THAT(r.status().message(), HasSubstr("CompactLists"));
    EXPECT_THAT(r.status().message(), HasSubstr("nftables backend"));
    Packet pk;
    pk.dst = C("10.0.0.1");
    pk.dst_port = 80;
    EXPECT_EQ(Explain(p, pk, backend).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(Render(p, "nftables"), IsOk());
}

// What decides a packet's fate, whatever rule decided it.
std::string Verdict(const Explanation& e) {
  return absl::StrCat(e.mode, " port ", e.port.value_or(0), " tproxy ",
                      e.tproxy_mark.value_or(0), "/", e.route_table.value_or(0),
                      " zone ", e.ct_zone.has_value() ? *e.ct_zone + 1 : 0,
                      " mark ", e.mark, " connmark ", e.connmark);
}

struct Totals {
  size_t cases = 0, packets = 0, rules_linear = 0, rules_compact = 0,
         set_elements = 0;
};

size_t RuleCount(const ir::RuleSet& r) {
  size_t n = 0;
  for (const ir::Table& t : r.tables) n += t.entries.size();
  return n;
}

size_t ElementCount(const ir::RuleSet& r) {
  size_t n = 0;
  for (const ir::Table& t : r.tables) {
    for (const ir::NamedSet& s : t.sets) n += s.cidrs.size() + s.ports.size();
  }
  return n;
}

// Both forms of `json` explain every packet of `packets` alike.
void ExpectSameVerdicts(const std::string& name, const std::string& json,
                        const std::vector<Packet>& packets, Totals& totals) {
  const internal::BackendFactory* nft = *internal::FindBackend("nftables");
  const ir::RuleSet linear =
      internal::Compile(PolicyJson(json), ir::Dialect::kNftables);
  const ir::RuleSet compact =
      internal::Compile(PolicyJson(Compacted(json)), ir::Dialect::kNftables);
  size_t differ = 0;
  for (const Packet& p : packets) {
    absl::StatusOr<Explanation> a = internal::ExplainRules(linear, *nft, p);
    absl::StatusOr<Explanation> b = internal::ExplainRules(compact, *nft, p);
    ASSERT_THAT(a, IsOk()) << p.ToString();
    ASSERT_THAT(b, IsOk()) << p.ToString();
    if (Verdict(*a) != Verdict(*b) && ++differ <= 5) {
      ADD_FAILURE() << name << ": " << p.ToString()
                    << "\n  linear:  " << a->summary
                    << "\n  compact: " << b->summary;
    }
  }
  EXPECT_EQ(differ, 0u) << name;
  ++totals.cases;
  totals.packets += packets.size();
  totals.rules_linear += RuleCount(linear);
  totals.rules_compact += RuleCount(compact);
  totals.set_elements += ElementCount(compact);
}

Totals& CorpusTotals() {
  static Totals t;
  return t;
}
Totals& GeneratedTotals() {
  static Totals t;
  return t;
}

TEST(CompactLists, EveryCorpusCaseGivesEveryProbeTheSameVerdict) {
  ASSERT_TRUE(::meshcap::testing::EnsureConformanceGroups());
  const internal::BackendFactory* nft = *internal::FindBackend("nftables");
  size_t differing_forms = 0;
  // Sanitized (dev/sanitize.sh sets the stride), every third case with the
  // linear form's probes only: that run is for memory safety.
  const bool sanitized = getenv("MESHCAP_EXPLAIN_STRIDE") != nullptr;
  const auto cases = ::meshcap::testing::LoadAllConformanceCases();
  for (size_t ci = 0; ci < cases.size(); ci += sanitized ? 3 : 1) {
    const auto& c = cases[ci];
    const ir::RuleSet linear =
        internal::Compile(PolicyJson(c.policy_json), ir::Dialect::kNftables);
    const ir::RuleSet compact = internal::Compile(
        PolicyJson(Compacted(c.policy_json)), ir::Dialect::kNftables);
    differing_forms += nft->Render(linear) != nft->Render(compact);
    // The linear form's probes: the boundaries of every list entry.
    std::vector<Packet> packets =
        ::meshcap::testing::GenerateProbes(linear, *nft).packets;
    if (!sanitized) {
      for (const Packet& p :
           ::meshcap::testing::GenerateProbes(compact, *nft).packets) {
        packets.push_back(p);
      }
    }
    ExpectSameVerdicts(c.name, c.policy_json, packets, CorpusTotals());
  }
  // The corpus has lists: the test compares two different rule sets.
  EXPECT_GE(differing_forms, sanitized ? 3u : 8u);
}

// --- Generated long lists ----------------------------------------------------

using Bytes = std::array<uint8_t, 16>;

Cidr Host(const Bytes& b, IpFamily f) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(f == IpFamily::kIpv4 ? AF_INET : AF_INET6, b.data(), text,
            sizeof(text));
  return *Cidr::Parse(text);
}

// The last address of `c`.
Bytes Last(const Cidr& c) {
  Bytes b = c.bytes();
  const int bits = c.family() == IpFamily::kIpv4 ? 32 : 128;
  for (int i = c.prefix_len(); i < bits; ++i) b[i / 8] |= 0x80 >> (i % 8);
  return b;
}

// b + delta (+1 or -1), within the family's width; false past either end.
bool Step(Bytes& b, IpFamily f, int delta) {
  const int len = f == IpFamily::kIpv4 ? 4 : 16;
  for (int i = len - 1; i >= 0; --i) {
    const int v = b[i] + delta;
    b[i] = static_cast<uint8_t>(v & 0xff);
    if (v >= 0 && v <= 0xff) return true;
  }
  return false;
}

class ListMaker {
 public:
  explicit ListMaker(uint64_t seed) : rng_(seed) {}

  // `n` prefixes of `family` under `base`, a third of them nested in,
  // adjacent to or repeating one made before.
  std::vector<Cidr> Cidrs(IpFamily family, int n) {
    const bool v4 = family == IpFamily::kIpv4;
    const int bits = v4 ? 32 : 128;
    const int min_len = v4 ? 12 : 36;
    std::vector<Cidr> out;
    while (static_cast<int>(out.size()) < n) {
      const int kind = Uniform(0, 5);
      if (!out.empty() && kind >= 3) {
        const Cidr& from = out[Uniform(0, static_cast<int>(out.size()) - 1)];
        if (kind == 3 && from.prefix_len() < bits) {  // nested
          Bytes b = from.bytes();
          const int len = Uniform(from.prefix_len() + 1, bits);
          for (int i = from.prefix_len(); i < len; ++i) {
            if (Uniform(0, 1)) b[i / 8] |= 0x80 >> (i % 8);
          }
          out.push_back(Prefix(b, family, len));
        } else if (kind == 4) {  // adjacent: the next prefix of its size
          Bytes b = Last(from);
          if (Step(b, family, 1))
            out.push_back(Prefix(b, family, from.prefix_len()));
        } else {  // repeated
          out.push_back(from);
        }
        continue;
      }
      Bytes b{};
      if (v4) {
        b[0] = 10;
      } else {
        b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8;
      }
      for (int i = v4 ? 8 : 32; i < bits; ++i) {
        if (Uniform(0, 1)) b[i / 8] |= 0x80 >> (i % 8);
      }
      out.push_back(Prefix(b, family, Uniform(min_len, bits)));
    }
    return out;
  }

  // `n` ports, some in runs of adjacent ones, some repeated.
  std::vector<uint16_t> Ports(int n) {
    std::vector<uint16_t> out;
    while (static_cast<int>(out.size()) < n) {
      const auto p = static_cast<uint16_t>(Uniform(2, 65000));
      out.push_back(p);
      if (Uniform(0, 3) == 0) out.push_back(static_cast<uint16_t>(p + 1));
      if (Uniform(0, 7) == 0) out.push_back(p);
    }
    return out;
  }

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }

 private:
  static Cidr Prefix(const Bytes& b, IpFamily f, int len) {
    return *Cidr::Parse(absl::StrCat(Host(b, f).AddressString(), "/", len));
  }
  std::mt19937_64 rng_;
};

std::string CidrList(const std::vector<Cidr>& a, const std::vector<Cidr>& b) {
  std::vector<std::string> out;
  for (const auto* v : {&a, &b}) {
    for (const Cidr& c : *v) out.push_back(c.ToString());
  }
  return absl::StrJoin(out, ",");
}

std::vector<std::string> Addresses(const std::vector<Cidr>& hosts) {
  std::vector<std::string> out;
  for (const Cidr& c : hosts) out.push_back(c.AddressString());
  return out;
}

std::string PortList(const std::vector<uint16_t>& ports) {
  return absl::StrJoin(ports, ",");
}

// Addresses at and around each prefix: its first and last, the ones just
// outside, and one inside.
std::vector<Cidr> AddressesAround(const std::vector<Cidr>& cidrs,
                                  ListMaker& rng) {
  std::vector<Cidr> out;
  for (const Cidr& c : cidrs) {
    const IpFamily f = c.family();
    Bytes first = c.bytes(), last = Last(c);
    out.push_back(Host(first, f));
    out.push_back(Host(last, f));
    Bytes before = first, after = last;
    if (Step(before, f, -1)) out.push_back(Host(before, f));
    if (Step(after, f, 1)) out.push_back(Host(after, f));
    Bytes inside = first;
    const int bits = f == IpFamily::kIpv4 ? 32 : 128;
    for (int i = c.prefix_len(); i < bits; ++i) {
      if (rng.Uniform(0, 1)) inside[i / 8] |= 0x80 >> (i % 8);
    }
    out.push_back(Host(inside, f));
  }
  return out;
}

std::vector<uint16_t> PortsAround(const std::vector<uint16_t>& ports) {
  std::set<uint16_t> out;
  for (uint16_t p : ports) {
    out.insert(p);
    out.insert(static_cast<uint16_t>(p - 1));
    out.insert(static_cast<uint16_t>(p + 1));
  }
  out.erase(0);
  return {out.begin(), out.end()};
}

TEST(CompactLists, GeneratedLongListsGiveEveryBoundaryTheSameVerdict) {
  // Fewer entries under the sanitizers (the linear form is explained rule
  // by rule).
  const bool sanitized = getenv("MESHCAP_EXPLAIN_STRIDE") != nullptr;
  const int n = sanitized ? 40 : 100;
  for (uint64_t seed : {1, 2}) {
    if (sanitized && seed > 1) break;
    ListMaker rng(seed);
    const std::vector<Cidr> ex4 = rng.Cidrs(IpFamily::kIpv4, n);
    const std::vector<Cidr> ex6 = rng.Cidrs(IpFamily::kIpv6, n / 2);
    const std::vector<Cidr> in4 = rng.Cidrs(IpFamily::kIpv4, n);
    const std::vector<Cidr> in6 = rng.Cidrs(IpFamily::kIpv6, n / 2);
    // DNS servers are addresses: some adjacent, some repeated.
    std::vector<Cidr> dns4;
    for (const Cidr& c : rng.Cidrs(IpFamily::kIpv4, n / 10)) {
      dns4.push_back(Host(c.bytes(), IpFamily::kIpv4));
    }
    const std::vector<uint16_t> out_ex = rng.Ports(n / 2);
    const std::vector<uint16_t> out_in = rng.Ports(n / 4);
    const std::vector<uint16_t> in_ex = rng.Ports(n / 4);
    const std::vector<uint16_t> in_in = rng.Ports(n / 4);

    std::vector<Cidr> dsts = AddressesAround(ex4, rng);
    for (const auto* list : {&ex6, &in4, &in6}) {
      for (const Cidr& c : AddressesAround(*list, rng)) dsts.push_back(c);
    }
    std::vector<uint16_t> dports = PortsAround(out_ex);
    for (uint16_t p : PortsAround(out_in)) dports.push_back(p);
    dports.push_back(80);
    auto pick_port = [&] {
      return dports[rng.Uniform(0, static_cast<int>(dports.size()) - 1)];
    };
    std::vector<Packet> out;  // sent by an app (uid 1000), out eth0
    for (const Cidr& d : dsts) {
      Packet p;
      p.dst = d;
      p.dst_port = pick_port();
      p.uid = 1000;
      p.gid = 1000;
      p.protocol = rng.Uniform(0, 3) == 0 ? Transport::kUdp : Transport::kTcp;
      out.push_back(p);
    }
    for (uint16_t port : dports) {  // each port, to an excluded address
      for (Transport t : {Transport::kTcp, Transport::kUdp}) {
        Packet p;
        p.dst = dsts[rng.Uniform(0, static_cast<int>(dsts.size()) - 1)];
        p.dst_port = port;
        p.uid = 1000;
        p.protocol = t;
        out.push_back(p);
      }
    }
    for (const Cidr& d : AddressesAround(dns4, rng)) {  // DNS
      for (Transport t : {Transport::kTcp, Transport::kUdp}) {
        Packet p;
        p.dst = d;
        p.dst_port = 53;
        p.uid = rng.Uniform(0, 1) ? 1000 : 1337;
        p.protocol = t;
        out.push_back(p);
      }
    }
    std::vector<Packet> arriving;  // from a kube-virt interface, and inbound
    for (const Cidr& d : dsts) {
      Packet p;
      p.path = PacketPath::kPrerouting;
      p.iif = rng.Uniform(0, 2) == 0 ? "eth0" : "kv0";
      p.src = d.family() == IpFamily::kIpv4 ? C("203.0.113.9")
                                            : C("2001:db8:ffff::9");
      p.dst = d;
      p.dst_port = pick_port();
      arriving.push_back(p);
    }
    for (const auto* ports : {&in_ex, &in_in}) {
      for (uint16_t port : PortsAround(*ports)) {
        Packet p;
        p.path = PacketPath::kPrerouting;
        p.iif = "eth0";
        p.src = C("203.0.113.9");
        p.dst = C("198.51.100.2");
        p.dst_port = port;
        p.ct_state =
            rng.Uniform(0, 2) == 0 ? ConnState::kEstablished : ConnState::kNew;
        arriving.push_back(p);
      }
    }
    std::vector<Packet> all = out;
    all.insert(all.end(), arriving.begin(), arriving.end());

    const std::string lists = absl::StrCat(
        R"("EnableIPv6": true, "OutboundIPRangesExclude": ")",
        CidrList(ex4, ex6), R"(", "OutboundPortsExclude": ")", PortList(out_ex),
        R"(", "OutboundPortsInclude": ")", PortList(out_in),
        R"(", "RedirectDNS": true, "DNSServersV4": [")",
        absl::StrJoin(Addresses(dns4), "\",\""), R"("])");
    for (const char* mode : {"REDIRECT", "TPROXY"}) {
      // Everything captured but the excluded lists.
      ExpectSameVerdicts(absl::StrCat("seed ", seed, " exclude ", mode),
                         absl::StrCat("{", lists,
                                      R"(, "OutboundIPRangesInclude": "*",
                          "InboundInterceptionMode": ")",
                                      mode, R"(", "InboundPortsInclude": "*",
                          "InboundPortsExclude": ")",
                                      PortList(in_ex), R"("})"),
                         all, GeneratedTotals());
      // Only the included lists captured, kube-virt traffic too.
      ExpectSameVerdicts(
          absl::StrCat("seed ", seed, " include ", mode),
          absl::StrCat("{", lists, R"(, "OutboundIPRangesInclude": ")",
                       CidrList(in4, in6),
                       R"(", "RerouteVirtualInterfaces": "kv0",
                          "InboundInterceptionMode": ")",
                       mode, R"(", "InboundPortsInclude": ")", PortList(in_in),
                       R"("})"),
          all, GeneratedTotals());
    }
  }
}

class PrintTotals : public ::testing::Environment {
 public:
  void TearDown() override {
    const Totals& c = CorpusTotals();
    const Totals& g = GeneratedTotals();
    std::printf(
        "compact lists equivalence: %zu corpus cases, %zu packets; %zu "
        "generated policies (%zu linear rules, %zu compact rules holding "
        "%zu set elements), %zu packets; 0 verdicts differ unless reported "
        "above\n",
        c.cases, c.packets, g.cases, g.rules_linear, g.rules_compact,
        g.set_elements, g.packets);
  }
};

const auto* const kTotals =
    ::testing::AddGlobalTestEnvironment(new PrintTotals);

}  // namespace
}  // namespace meshcap
