// SPDX-License-Identifier: GPL-2.0-or-later
//
// Istio's sidecar rule generation, step by step. The steps and their order
// follow istio-iptables / istio-nftables `Run()` (reference §3.2). The two
// generators write a handful of rules with their matches in a different
// order (and one with an extra match); those rules say so with `ipt_`.

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/compile/builder.h"
#include "src/compile/compile.h"

namespace meshcap::internal {
namespace {

using ir::Scope;

constexpr char kPrerouting[] = "PREROUTING";
constexpr char kOutput[] = "OUTPUT";
constexpr char kInbound[] = "ISTIO_INBOUND";
constexpr char kRedirect[] = "ISTIO_REDIRECT";
constexpr char kInRedirect[] = "ISTIO_IN_REDIRECT";
constexpr char kIstioOutput[] = "ISTIO_OUTPUT";
constexpr char kOutputDns[] = "ISTIO_OUTPUT_DNS";
constexpr char kDivert[] = "ISTIO_DIVERT";
constexpr char kTproxy[] = "ISTIO_TPROXY";
constexpr char kDrop[] = "ISTIO_DROP";

constexpr uint32_t kOutboundMark = 1338;
constexpr uint32_t kTproxyMask = 0xffffffff;
constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kAgentDnsPort = 15053;
constexpr uint16_t kCtZoneUpstream = 1;  // proxy <-> upstream resolver
constexpr uint16_t kCtZoneApp = 2;       // app <-> proxy

std::optional<Scope> ScopeOf(bool v4, bool v6) {
  if (v4 && v6) return Scope::kBoth;
  if (v4) return Scope::kIpv4;
  if (v6) return Scope::kIpv6;
  return std::nullopt;
}

Scope ScopeOf(const Cidr& c) {
  return c.family() == IpFamily::kIpv4 ? Scope::kIpv4 : Scope::kIpv6;
}

// The chains each table may declare, in Istio's declaration order.
std::vector<ir::ChainSpec> SidecarChains(ir::TableKind t) {
  auto base = [](const char* name, ir::Hook hook, ir::ChainType type,
                 int prio) {
    return ir::ChainSpec{name, hook, type, prio};
  };
  auto regular = [](const char* name) {
    return ir::ChainSpec{name, std::nullopt, ir::ChainType::kFilter, 0};
  };
  using ir::ChainType;
  using ir::Hook;
  switch (t) {
    case ir::TableKind::kNat:
      return {base(kPrerouting, Hook::kPrerouting, ChainType::kNat, -100),
              base(kOutput, Hook::kOutput, ChainType::kNat, -100),
              regular(kInbound),
              regular(kRedirect),
              regular(kInRedirect),
              regular(kIstioOutput),
              regular(kOutputDns)};
    case ir::TableKind::kMangle:
      return {base(kPrerouting, Hook::kPrerouting, ChainType::kFilter, -150),
              base(kOutput, Hook::kOutput, ChainType::kRoute, -150),
              regular(kDivert),
              regular(kTproxy),
              regular(kInbound),
              regular(kDrop)};
    case ir::TableKind::kRaw:
      return {base(kPrerouting, Hook::kPrerouting, ChainType::kFilter, -300),
              base(kOutput, Hook::kOutput, ChainType::kFilter, -300),
              regular(kInbound), regular(kOutputDns)};
  }
  return {};
}

// "ISTIO_IN_REDIRECT" -> "istio-in-redirect".
std::string LowerDashed(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '_') {
      c = '-';
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

class Sidecar {
 public:
  Sidecar(const CapturePolicy& p, ir::Dialect dialect)
      : p_(p),
        ipt_(dialect == ir::Dialect::kIptables),
        compact_(p.compact_lists()),
        out_(dialect, p.ipv6()),
        tproxy_(p.intercept_mode() == InterceptMode::kTproxy),
        dns_(p.dns_capture_enabled()),
        // Istio writes the loopback prefix as the user gave it.
        lo4_(p.ipv4_loopback_cidr()),
        lo6_(ConstCidr("::1/128")),
        passthrough4_(ConstCidr("127.0.0.6/32")),
        passthrough6_(ConstCidr("::6/128")) {
    // Istio prints include and exclude prefixes with netip.Prefix.String():
    // canonical address, host bits as given.
    // (A list that becomes a set keeps no text: the set prints its own.)
    for (const Cidr& c : p.outbound_cidrs_include().cidrs) {
      (c.family() == IpFamily::kIpv4 ? include4_ : include6_)
          .push_back(compact_ ? c : c.WithText(c.PrefixString()));
      if (c.IsLoopback()) include_has_loopback_ = true;
    }
    for (const Cidr& c : p.outbound_cidrs_exclude()) {
      (c.family() == IpFamily::kIpv4 ? exclude4_ : exclude6_)
          .push_back(compact_ ? c : c.WithText(c.PrefixString()));
    }
    // DNS servers: the address as configured, with "/32" or "/128".
    for (const Cidr& c : p.dns_servers_v4()) {
      servers4_.push_back(c.WithText(c.Text() + "/32"));
    }
    if (p.ipv6()) {
      for (const Cidr& c : p.dns_servers_v6()) {
        servers6_.push_back(c.WithText(c.Text() + "/128"));
      }
    }
  }

  ir::RuleSet Run() &&;

 private:
  // Calls `f(scope, loopback, passthrough)` for IPv4, then for IPv6 when
  // enabled: Istio's AppendRule + AppendV6RuleIfSupported pair.
  template <typename F>
  void ForFamilies(F f) {
    PerFamily(p_.ipv6(), [&](Scope s, bool v6) {
      f(s, v6 ? lo6_ : lo4_, v6 ? passthrough6_ : passthrough4_);
    });
  }

  void ExcludeInterfaces();
  void KubeVirtReturns();
  void DropInvalid();
  void FixedChains();
  void Inbound();
  void OutputOwners();
  void OwnerGroups();
  void Dns();
  void OutboundDestinations();
  void TproxyTail();

  const CapturePolicy& p_;
  // CompactLists: the named set `name` of table `t` holding `cidrs` (one
  // family, non-empty) or `ports` (non-empty), declared once; its name.
  const std::string& CidrSet(ir::TableKind t, const char* name,
                             const std::vector<Cidr>& cidrs);
  const std::string& PortSet(ir::TableKind t, const char* name,
                             const std::vector<uint16_t>& ports);

  const bool ipt_;  // Istio's iptables generator (else its nftables one)
  // CompactLists: each list one rule (per family and protocol) with a set
  // lookup, where Istio's first rule of the list stands. Every rule of a
  // list has the same verdict, so the lookup matches exactly the packets
  // one of them would.
  const bool compact_;
  Emitter out_;
  bool tproxy_;
  bool dns_;
  Cidr lo4_, lo6_, passthrough4_, passthrough6_;
  std::vector<Cidr> include4_, include6_, exclude4_, exclude6_;
  std::vector<Cidr> servers4_, servers6_;
  bool include_has_loopback_ = false;
};

const std::string& Sidecar::CidrSet(ir::TableKind t, const char* name,
                                    const std::vector<Cidr>& cidrs) {
  ir::NamedSet set;
  set.name = name;
  set.key = cidrs.front().family() == IpFamily::kIpv4
                ? ir::NamedSet::Key::kIpv4
                : ir::NamedSet::Key::kIpv6;
  set.cidrs = ir::MergePrefixes(cidrs);
  return out_.DeclareSet(t, std::move(set));
}

const std::string& Sidecar::PortSet(ir::TableKind t, const char* name,
                                    const std::vector<uint16_t>& ports) {
  ir::NamedSet set;
  set.name = name;
  set.key = ir::NamedSet::Key::kPort;
  set.ports = ports;
  std::sort(set.ports.begin(), set.ports.end());
  set.ports.erase(std::unique(set.ports.begin(), set.ports.end()),
                  set.ports.end());
  return out_.DeclareSet(t, std::move(set));
}

// Step 1: traffic on excluded interfaces skips everything.
void Sidecar::ExcludeInterfaces() {
  for (const std::string& nic : p_.exclude_interfaces()) {
    out_.Append(kNat, kPrerouting, RuleBuilder().Iif(nic).Then(Return()));
    out_.Append(kNat, kOutput, RuleBuilder().Oif(nic).Then(Return()));
  }
  if (!tproxy_) return;
  for (const std::string& nic : p_.exclude_interfaces()) {
    out_.Append(kMangle, kPrerouting, RuleBuilder().Iif(nic).Then(Return()));
    out_.Append(kMangle, kOutput, RuleBuilder().Oif(nic).Then(Return()));
  }
}

// Step 2: inbound traffic from kube-virt interfaces is not inbound capture.
void Sidecar::KubeVirtReturns() {
  for (const std::string& nic : p_.kube_virt_interfaces()) {
    out_.Insert(kNat, kPrerouting, 1, RuleBuilder().Iif(nic).Then(Return()));
  }
}

// Step 3. Istio's nftables generator limits this to TCP; its iptables
// generator does not. Each dialect keeps its own meaning.
void Sidecar::DropInvalid() {
  if (!p_.drop_invalid()) return;
  out_.Append(kMangle, kPrerouting,
              RuleBuilder()
                  .When(!ipt_, [](RuleBuilder& r) { r.Proto(kTcp); })
                  .Ct({ir::CtState::kInvalid})
                  .Then(Jump(kDrop)));
  out_.Append(kMangle, kDrop, RuleBuilder().Then(ir::DropVerdict{}));
}

// Steps 4-6: the tunnel port bypass and the two REDIRECT chains.
void Sidecar::FixedChains() {
  out_.Append(kNat, kInbound,
              RuleBuilder()
                  .Proto(kTcp)
                  .Dport(kTcp, {p_.inbound_tunnel_port()})
                  .Then(Return()));
  out_.Append(
      kNat, kRedirect,
      RuleBuilder().Proto(kTcp).Then(ir::RedirectVerdict{p_.proxy_port()}));
  out_.Append(kNat, kInRedirect,
              RuleBuilder().Proto(kTcp).Then(
                  ir::RedirectVerdict{p_.inbound_capture_port()}));
}

// Step 7: inbound capture (`-b`), through nat REDIRECT or mangle TPROXY.
void Sidecar::Inbound() {
  const PortSelection& ports = p_.inbound_ports();
  if (ports.empty()) return;
  ir::TableKind table = kNat;
  if (tproxy_) {
    table = kMangle;
    out_.Append(
        kMangle, kDivert,
        RuleBuilder().Then(ir::SetMarkVerdict{p_.tproxy_mark(), ir::kAllBits}));
    out_.Append(kMangle, kDivert, RuleBuilder().Then(Accept()));
    ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
      RuleBuilder r(s);
      if (ipt_) {
        r.Dst(lo, true).Proto(kTcp);
      } else {
        r.Proto(kTcp).Dst(lo, true);
      }
      out_.Append(
          kMangle, kTproxy,
          std::move(r).Then(ir::TproxyVerdict{p_.inbound_capture_port(),
                                              p_.tproxy_mark(), kTproxyMask}));
    });
  }
  out_.Append(table, kPrerouting,
              RuleBuilder().Proto(kTcp).Then(Jump(kInbound)));

  const std::vector<ir::CtState> kRelEst = {ir::CtState::kRelated,
                                            ir::CtState::kEstablished};
  if (ports.all) {
    if (compact_ && !p_.inbound_ports_exclude().empty()) {
      const std::string& set =
          PortSet(table, "inbound-ports-exclude", p_.inbound_ports_exclude());
      out_.Append(table, kInbound,
                  RuleBuilder().Proto(kTcp).DportSet(kTcp, set).Then(Return()));
    } else {
      for (uint16_t port : p_.inbound_ports_exclude()) {
        out_.Append(
            table, kInbound,
            RuleBuilder().Proto(kTcp).Dport(kTcp, {port}).Then(Return()));
      }
    }
    if (tproxy_) {
      out_.Append(kMangle, kInbound,
                  RuleBuilder().Proto(kTcp).Ct(kRelEst).Then(Jump(kDivert)));
      out_.Append(kMangle, kInbound,
                  RuleBuilder().Proto(kTcp).Then(Jump(kTproxy)));
    } else {
      out_.Append(kNat, kInbound,
                  RuleBuilder().Proto(kTcp).Then(Jump(kInRedirect)));
    }
    return;
  }
  if (compact_) {
    const std::string& set =
        PortSet(table, "inbound-ports-include", ports.ports);
    if (tproxy_) {
      RuleBuilder divert;
      if (ipt_) {
        divert.Proto(kTcp).DportSet(kTcp, set).Ct(kRelEst);
      } else {
        divert.Proto(kTcp).Ct(kRelEst).DportSet(kTcp, set);
      }
      out_.Append(kMangle, kInbound, std::move(divert).Then(Jump(kDivert)));
      out_.Append(
          kMangle, kInbound,
          RuleBuilder().Proto(kTcp).DportSet(kTcp, set).Then(Jump(kTproxy)));
    } else {
      out_.Append(kNat, kInbound,
                  RuleBuilder().Proto(kTcp).DportSet(kTcp, set).Then(
                      Jump(kInRedirect)));
    }
    return;
  }
  for (uint16_t port : ports.ports) {
    if (tproxy_) {
      RuleBuilder divert;
      if (ipt_) {
        divert.Proto(kTcp).Dport(kTcp, {port}).Ct(kRelEst);
      } else {
        divert.Proto(kTcp).Ct(kRelEst).Dport(kTcp, {port});
      }
      out_.Append(kMangle, kInbound, std::move(divert).Then(Jump(kDivert)));
      out_.Append(
          kMangle, kInbound,
          RuleBuilder().Proto(kTcp).Dport(kTcp, {port}).Then(Jump(kTproxy)));
    } else {
      out_.Append(kNat, kInbound,
                  RuleBuilder()
                      .Proto(kTcp)
                      .Dport(kTcp, {port})
                      .Then(Jump(kInRedirect)));
    }
  }
}

// Steps 8-12: the OUTPUT jump, port excludes, the passthrough source and the
// proxy's own UIDs and GIDs.
void Sidecar::OutputOwners() {
  out_.Append(kNat, kOutput, RuleBuilder().Then(Jump(kIstioOutput)));
  if (compact_ && !p_.outbound_ports_exclude().empty()) {
    const std::string& set =
        PortSet(kNat, "outbound-ports-exclude", p_.outbound_ports_exclude());
    for (ir::L4Proto proto : {kTcp, kUdp}) {
      out_.Append(kNat, kIstioOutput,
                  RuleBuilder().DportSet(proto, set).Then(Return()));
    }
  } else {
    for (uint16_t port : p_.outbound_ports_exclude()) {
      out_.Append(kNat, kIstioOutput,
                  RuleBuilder().Dport(kTcp, {port}).Then(Return()));
      out_.Append(kNat, kIstioOutput,
                  RuleBuilder().Dport(kUdp, {port}).Then(Return()));
    }
  }
  ForFamilies([&](Scope s, const Cidr&, const Cidr& passthrough) {
    out_.Append(kNat, kIstioOutput,
                RuleBuilder(s).Oif("lo").Src(passthrough).Then(Return()));
  });

  const uint16_t tunnel = p_.inbound_tunnel_port();
  for (bool gid : {false, true}) {
    for (uint32_t id : gid ? p_.proxy_gids() : p_.proxy_uids()) {
      auto owner = [&](RuleBuilder& r, bool negate) -> RuleBuilder& {
        return gid ? r.Gid(id, negate) : r.Uid(id, negate);
      };
      // App -> own service VIP -> proxy -> back to the app over lo. With DNS
      // capture, port 53 is exempt for UIDs (not GIDs, as in Istio).
      std::vector<uint16_t> skip = {tunnel};
      if (dns_ && !gid) skip = {kDnsPort, tunnel};
      ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
        RuleBuilder r(s);
        r.Oif("lo");
        if (ipt_) {
          r.Dst(lo, true).Proto(kTcp);
        } else {
          r.Proto(kTcp).Dst(lo, true);
        }
        r.Dport(kTcp, skip, true);
        owner(r, false);
        out_.Append(kNat, kIstioOutput, std::move(r).Then(Jump(kInRedirect)));
      });
      if (!include_has_loopback_) {
        RuleBuilder r;
        r.Oif("lo");
        if (dns_) r.Proto(kTcp).Dport(kTcp, {kDnsPort}, true);
        owner(r, true);
        out_.Append(kNat, kIstioOutput, std::move(r).Then(Return()));
      }
      RuleBuilder self;
      owner(self, false);
      out_.Append(kNat, kIstioOutput, std::move(self).Then(Return()));
    }
  }
}

// Step 13: capture by socket owner group.
void Sidecar::OwnerGroups() {
  if (const auto& only = p_.owner_groups_include()) {
    RuleBuilder r;
    for (const OwnerGroup& g : *only) r.Group(g, true);
    out_.Append(kNat, kIstioOutput, std::move(r).Then(Return()));
    return;
  }
  for (const OwnerGroup& g : p_.owner_groups_exclude()) {
    out_.Append(kNat, kIstioOutput, RuleBuilder().Group(g).Then(Return()));
  }
}

// Step 14: DNS to the agent on 15053, with conntrack zones for UDP.
void Sidecar::Dns() {
  if (!dns_) return;
  const bool all = p_.capture_all_dns();
  const std::vector<Cidr>& v4 = servers4_;
  const std::vector<Cidr>& v6 = servers6_;

  out_.Append(kRaw, kOutput, RuleBuilder().Then(Jump(kOutputDns)));
  if (auto s = ScopeOf(all || !v4.empty(), all || !v6.empty())) {
    out_.Append(kNat, kIstioOutput, RuleBuilder(*s).Then(Jump(kOutputDns)));
  }
  const ir::RedirectVerdict to_agent{kAgentDnsPort};
  if (all) {
    out_.Append(
        kNat, kOutputDns,
        RuleBuilder().Proto(kTcp).Dport(kTcp, {kDnsPort}).Then(to_agent));
    out_.Append(kNat, kOutputDns,
                RuleBuilder().Dport(kUdp, {kDnsPort}).Then(to_agent));
  } else if (compact_) {
    for (ir::L4Proto proto : {kTcp, kUdp}) {
      for (const auto* list : {&v4, &v6}) {
        if (list->empty()) continue;
        const std::string& set = CidrSet(
            kNat, list == &v4 ? "dns-servers-v4" : "dns-servers-v6", *list);
        RuleBuilder r(ScopeOf(list->front()));
        if (ipt_) {
          r.Dport(proto, {kDnsPort}).DstSet(set, list->front());
        } else {
          r.DstSet(set, list->front()).Dport(proto, {kDnsPort});
        }
        out_.Append(kNat, kOutputDns, std::move(r).Then(to_agent));
      }
    }
  } else {
    for (ir::L4Proto proto : {kTcp, kUdp}) {
      for (const auto* list : {&v4, &v6}) {
        for (const Cidr& server : *list) {
          RuleBuilder r(ScopeOf(server));
          if (ipt_) {
            r.Dport(proto, {kDnsPort}).Dst(server);
          } else {
            r.Dst(server).Dport(proto, {kDnsPort});
          }
          out_.Append(kNat, kOutputDns, std::move(r).Then(to_agent));
        }
      }
    }
  }

  for (bool gid : {false, true}) {
    for (uint32_t id : gid ? p_.proxy_gids() : p_.proxy_uids()) {
      RuleBuilder upstream, reply;
      upstream.Dport(kUdp, {kDnsPort});
      reply.Sport(kUdp, {kAgentDnsPort});
      for (RuleBuilder* r : {&upstream, &reply}) gid ? r->Gid(id) : r->Uid(id);
      out_.Append(kRaw, kOutputDns,
                  std::move(upstream).Then(ir::CtZoneVerdict{kCtZoneUpstream}));
      out_.Append(kRaw, kOutputDns,
                  std::move(reply).Then(ir::CtZoneVerdict{kCtZoneApp}));
    }
  }

  if (all) {
    out_.Append(kRaw, kPrerouting, RuleBuilder().Then(Jump(kInbound)));
    out_.Append(kRaw, kOutputDns,
                RuleBuilder()
                    .Dport(kUdp, {kDnsPort})
                    .Then(ir::CtZoneVerdict{kCtZoneApp}));
    out_.Append(kRaw, kInbound,
                RuleBuilder()
                    .Sport(kUdp, {kDnsPort})
                    .Then(ir::CtZoneVerdict{kCtZoneUpstream}));
    return;
  }
  if (auto s = ScopeOf(!v4.empty(), !v6.empty())) {
    out_.Append(kRaw, kPrerouting, RuleBuilder(*s).Then(Jump(kInbound)));
  }
  for (const auto* list : {&v4, &v6}) {
    if (compact_ && !list->empty()) {
      const Cidr& family = list->front();
      const std::string& set = CidrSet(
          kRaw, list == &v4 ? "dns-servers-v4" : "dns-servers-v6", *list);
      out_.Append(kRaw, kOutputDns,
                  RuleBuilder(ScopeOf(family))
                      .Dport(kUdp, {kDnsPort})
                      .DstSet(set, family)
                      .Then(ir::CtZoneVerdict{kCtZoneApp}));
      out_.Append(kRaw, kInbound,
                  RuleBuilder(ScopeOf(family))
                      .Sport(kUdp, {kDnsPort})
                      .SrcSet(set, family)
                      .Then(ir::CtZoneVerdict{kCtZoneUpstream}));
      continue;
    }
    for (const Cidr& server : *list) {
      out_.Append(kRaw, kOutputDns,
                  RuleBuilder(ScopeOf(server))
                      .Dport(kUdp, {kDnsPort})
                      .Dst(server)
                      .Then(ir::CtZoneVerdict{kCtZoneApp}));
      out_.Append(kRaw, kInbound,
                  RuleBuilder(ScopeOf(server))
                      .Sport(kUdp, {kDnsPort})
                      .Src(server)
                      .Then(ir::CtZoneVerdict{kCtZoneUpstream}));
    }
  }
}

// Steps 15-18: localhost, excluded and included destinations and ports.
void Sidecar::OutboundDestinations() {
  ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
    out_.Append(kNat, kIstioOutput, RuleBuilder(s).Dst(lo).Then(Return()));
  });
  // IPv6 lists go only where IPv6 rules do.
  auto compact_list = [&](const std::vector<Cidr>& list) {
    return compact_ && !list.empty() &&
           (list.front().family() == IpFamily::kIpv4 || p_.ipv6());
  };
  for (const auto* list : {&exclude4_, &exclude6_}) {
    if (compact_list(*list)) {
      const Cidr& family = list->front();
      const std::string& set = CidrSet(
          kNat,
          list == &exclude4_ ? "outbound-exclude-v4" : "outbound-exclude-v6",
          *list);
      out_.Append(
          kNat, kIstioOutput,
          RuleBuilder(ScopeOf(family)).DstSet(set, family).Then(Return()));
      continue;
    }
    for (const Cidr& c : *list) {
      out_.Append(kNat, kIstioOutput,
                  RuleBuilder(ScopeOf(c)).Dst(c).Then(Return()));
    }
  }
  if (compact_ && !p_.outbound_ports_include().empty()) {
    const std::string& set =
        PortSet(kNat, "outbound-ports-include", p_.outbound_ports_include());
    out_.Append(kNat, kIstioOutput,
                RuleBuilder().DportSet(kTcp, set).Then(Jump(kRedirect)));
  } else {
    for (uint16_t port : p_.outbound_ports_include()) {
      out_.Append(kNat, kIstioOutput,
                  RuleBuilder().Dport(kTcp, {port}).Then(Jump(kRedirect)));
    }
  }

  if (p_.outbound_cidrs_include().all) {
    out_.Append(kNat, kIstioOutput, RuleBuilder().Then(Jump(kRedirect)));
    for (const std::string& nic : p_.kube_virt_interfaces()) {
      out_.Insert(kNat, kPrerouting, 1,
                  RuleBuilder().Iif(nic).Then(Jump(kRedirect)));
    }
    return;
  }
  for (const auto* list : {&include4_, &include6_}) {
    if (compact_list(*list)) {
      const Cidr& family = list->front();
      const std::string& set = CidrSet(
          kNat,
          list == &include4_ ? "outbound-include-v4" : "outbound-include-v6",
          *list);
      for (const std::string& nic : p_.kube_virt_interfaces()) {
        out_.Insert(kNat, kPrerouting, 1,
                    RuleBuilder(ScopeOf(family))
                        .Iif(nic)
                        .DstSet(set, family)
                        .Then(Jump(kRedirect)));
      }
      out_.Append(kNat, kIstioOutput,
                  RuleBuilder(ScopeOf(family))
                      .DstSet(set, family)
                      .Then(Jump(kRedirect)));
      continue;
    }
    for (const Cidr& c : *list) {
      for (const std::string& nic : p_.kube_virt_interfaces()) {
        out_.Insert(
            kNat, kPrerouting, 1,
            RuleBuilder(ScopeOf(c)).Iif(nic).Dst(c).Then(Jump(kRedirect)));
      }
      out_.Append(kNat, kIstioOutput,
                  RuleBuilder(ScopeOf(c)).Dst(c).Then(Jump(kRedirect)));
    }
  }
}

// Step 19: TPROXY's marks; emitted even without inbound ports, as in Istio.
void Sidecar::TproxyTail() {
  if (!tproxy_) return;
  const uint32_t mark = p_.tproxy_mark();
  out_.Append(
      kMangle, kPrerouting,
      RuleBuilder().Proto(kTcp).Mark(mark).Then(ir::SaveConnmarkVerdict{}));
  {
    RuleBuilder r;
    if (ipt_) {
      r.Proto(kTcp).Oif("lo").Mark(mark);
    } else {
      r.Oif("lo").Proto(kTcp).Mark(mark);
    }
    out_.Append(kMangle, kOutput, std::move(r).Then(Return()));
  }
  for (bool gid : {false, true}) {
    for (uint32_t id : gid ? p_.proxy_gids() : p_.proxy_uids()) {
      ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
        RuleBuilder r(s);
        if (ipt_) {
          r.Dst(lo, true).Proto(kTcp).Oif("lo");
        } else {
          r.Oif("lo").Proto(kTcp).Dst(lo, true);
        }
        gid ? r.Gid(id) : r.Uid(id);
        out_.Append(kMangle, kOutput,
                    std::move(r).Then(ir::SetMarkVerdict{kOutboundMark}));
      });
    }
  }
  out_.Append(kMangle, kOutput,
              RuleBuilder().Proto(kTcp).Connmark(mark).Then(
                  ir::RestoreConnmarkVerdict{}));
  out_.Insert(kMangle, kInbound, 1,
              RuleBuilder().Proto(kTcp).Mark(mark).Then(Return()));
  ForFamilies([&](Scope s, const Cidr&, const Cidr& passthrough) {
    RuleBuilder r(s);
    if (ipt_) {
      r.Proto(kTcp).Src(passthrough).Iif("lo");
    } else {
      r.Iif("lo").Proto(kTcp).Src(passthrough);
    }
    out_.Insert(kMangle, kInbound, 2, std::move(r).Then(Return()));
  });
  RuleBuilder r;
  if (ipt_) {
    r.Proto(kTcp).Iif("lo").Mark(kOutboundMark, ir::kAllBits, true);
  } else {
    r.Iif("lo").Proto(kTcp).Mark(kOutboundMark, ir::kAllBits, true);
  }
  out_.Insert(kMangle, kInbound, 3, std::move(r).Then(Return()));
}

ir::RuleSet Sidecar::Run() && {
  ExcludeInterfaces();
  KubeVirtReturns();
  DropInvalid();
  FixedChains();
  Inbound();
  OutputOwners();
  OwnerGroups();
  Dns();
  OutboundDestinations();
  TproxyTail();
  Naming naming;
  naming.nft_table = [](ir::TableKind k) {
    return std::string("istio-proxy-") + ir::TableKindName(k);
  };
  naming.nft_chain = LowerDashed;
  naming.chains = SidecarChains;
  ir::RuleSet set =
      std::move(out_).Finish(Profile::kSidecar, naming, {kNat, kMangle, kRaw});
  // Istio configures the routes only when inbound capture is on
  // (`configureTProxyRoutes`), and `::6` on lo whenever IPv6 is.
  if (tproxy_ && !p_.inbound_ports().empty()) {
    set.routing = ir::PolicyRouting{p_.tproxy_mark(), ir::kAllBits,
                                    p_.tproxy_route_table(), 0};
  }
  set.loopback6 = p_.ipv6();
  return set;
}

}  // namespace

ir::RuleSet CompileSidecar(const CapturePolicy& policy, ir::Dialect dialect) {
  return Sidecar(policy, dialect).Run();
}

}  // namespace meshcap::internal
