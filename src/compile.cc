// SPDX-License-Identifier: GPL-2.0-or-later
//
// Istio's rule generation, step by step. The steps and their order follow
// istio-iptables / istio-nftables `Run()` (reference §3.2); each rule's
// matches are written in the order Istio's nftables backend writes them, and
// `IptablesOrder` notes where its iptables backend spells them differently.

#include "meshcap/compile.h"

#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace meshcap {
namespace {

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

constexpr L4Proto kTcp = L4Proto::kTcp;
constexpr L4Proto kUdp = L4Proto::kUdp;

// Fluent construction of one Rule.
class R {
 public:
  explicit R(Scope scope = Scope::kBoth) { rule_.scope = scope; }

  R& Iif(const std::string& name) {
    return Add(InterfaceMatch{Direction::kSource, name});
  }
  R& Oif(const std::string& name) {
    return Add(InterfaceMatch{Direction::kDestination, name});
  }
  R& Src(const Cidr& c, bool negate = false) {
    return Add(AddressMatch{Direction::kSource, c, negate});
  }
  R& Dst(const Cidr& c, bool negate = false) {
    return Add(AddressMatch{Direction::kDestination, c, negate});
  }
  R& Proto(L4Proto p) { return Add(ProtocolMatch{p}); }
  R& Dport(L4Proto p, std::vector<uint16_t> ports, bool negate = false) {
    return Add(PortMatch{p, Direction::kDestination, std::move(ports), negate});
  }
  R& Sport(L4Proto p, std::vector<uint16_t> ports, bool negate = false) {
    return Add(PortMatch{p, Direction::kSource, std::move(ports), negate});
  }
  R& Uid(uint32_t id, bool negate = false, bool meta = false) {
    return Add(
        OwnerMatch{OwnerMatch::kUid, id, std::to_string(id), negate, meta});
  }
  R& Gid(uint32_t id, bool negate = false, bool meta = false) {
    return Add(
        OwnerMatch{OwnerMatch::kGid, id, std::to_string(id), negate, meta});
  }
  R& Group(const OwnerGroup& g, bool negate = false) {
    return Add(OwnerMatch{OwnerMatch::kGid, g.gid, g.spelling, negate, false});
  }
  R& Mark(uint32_t m, bool negate = false) { return Add(MarkMatch{m, negate}); }
  R& Connmark(uint32_t m) { return Add(ConnmarkMatch{m}); }
  R& Ct(std::vector<CtState> states) {
    return Add(CtStateMatch{std::move(states)});
  }
  // Istio's iptables backend writes matches in this order (indices into the
  // matches added so far); indices left out are nftables-only.
  R& IptablesOrder(std::initializer_list<uint8_t> order) {
    rule_.iptables_order.assign(order);
    return *this;
  }
  Rule Then(Verdict v) {
    rule_.verdict = std::move(v);
    return std::move(rule_);
  }

 private:
  R& Add(Match m) {
    rule_.matches.push_back(std::move(m));
    return *this;
  }
  Rule rule_;
};

Verdict Jump(const char* chain) { return JumpVerdict{chain}; }
Verdict Return() { return ReturnVerdict{}; }

std::optional<Scope> ScopeOf(bool v4, bool v6) {
  if (v4 && v6) return Scope::kBoth;
  if (v4) return Scope::kIpv4;
  if (v6) return Scope::kIpv6;
  return std::nullopt;
}

// Collects entries per table, dropping IPv6-only rules when IPv6 is off.
class Emitter {
 public:
  explicit Emitter(bool ipv6) : ipv6_(ipv6) {}

  void Append(TableKind t, const char* chain, Rule r) { Add(t, chain, 0, r); }
  void Insert(TableKind t, const char* chain, int pos, Rule r) {
    Add(t, chain, pos, r);
  }

  RuleSet Finish() &&;

 private:
  void Add(TableKind t, const char* chain, int pos, Rule& r) {
    if (r.scope == Scope::kIpv6 && !ipv6_) return;
    entries_[static_cast<size_t>(t)].push_back(
        RuleEntry{chain, pos, std::move(r)});
  }

  bool ipv6_;
  std::array<std::vector<RuleEntry>, 3> entries_;
};

// The chains each table may declare, in Istio's declaration order.
std::vector<ChainSpec> CandidateChains(TableKind t) {
  auto base = [](const char* name, Hook hook, ChainType type, int prio) {
    return ChainSpec{name, hook, type, prio};
  };
  auto regular = [](const char* name) {
    return ChainSpec{name, std::nullopt, ChainType::kFilter, 0};
  };
  switch (t) {
    case TableKind::kNat:
      return {base(kPrerouting, Hook::kPrerouting, ChainType::kNat, -100),
              base(kOutput, Hook::kOutput, ChainType::kNat, -100),
              regular(kInbound),
              regular(kRedirect),
              regular(kInRedirect),
              regular(kIstioOutput),
              regular(kOutputDns)};
    case TableKind::kMangle:
      return {base(kPrerouting, Hook::kPrerouting, ChainType::kFilter, -150),
              base(kOutput, Hook::kOutput, ChainType::kRoute, -150),
              regular(kDivert),
              regular(kTproxy),
              regular(kInbound),
              regular(kDrop)};
    case TableKind::kRaw:
      return {base(kPrerouting, Hook::kPrerouting, ChainType::kFilter, -300),
              base(kOutput, Hook::kOutput, ChainType::kFilter, -300),
              regular(kInbound), regular(kOutputDns)};
  }
  return {};
}

RuleSet Emitter::Finish() && {
  RuleSet set;
  set.ipv6 = ipv6_;
  for (TableKind kind :
       {TableKind::kNat, TableKind::kMangle, TableKind::kRaw}) {
    std::vector<RuleEntry>& entries = entries_[static_cast<size_t>(kind)];
    if (entries.empty()) continue;
    Table table{kind, {}, std::move(entries)};
    for (ChainSpec& spec : CandidateChains(kind)) {
      for (const RuleEntry& e : table.entries) {
        if (e.chain == spec.name) {
          table.chains.push_back(std::move(spec));
          break;
        }
      }
    }
    set.tables.push_back(std::move(table));
  }
  return set;
}

class Compiler {
 public:
  explicit Compiler(const CapturePolicy& p)
      : p_(p),
        out_(p.ipv6()),
        tproxy_(p.intercept_mode() == InterceptMode::kTproxy),
        dns_(p.dns_capture_enabled()),
        lo6_(*Cidr::Parse("::1/128")),
        passthrough4_(*Cidr::Parse("127.0.0.6/32")),
        passthrough6_(*Cidr::Parse("::6/128")) {
    for (const Cidr& c : p.outbound_cidrs_include().cidrs) {
      (c.family() == IpFamily::kIpv4 ? include4_ : include6_).push_back(c);
      if (c.IsLoopback()) include_has_loopback_ = true;
    }
    for (const Cidr& c : p.outbound_cidrs_exclude()) {
      (c.family() == IpFamily::kIpv4 ? exclude4_ : exclude6_).push_back(c);
    }
  }

  RuleSet Run() &&;

 private:
  // Calls `f(scope, loopback, passthrough)` for IPv4, then for IPv6 when
  // enabled: Istio's AppendRule + AppendV6RuleIfSupported pair.
  template <typename F>
  void PerFamily(F f) {
    f(Scope::kIpv4, p_.ipv4_loopback_cidr(), passthrough4_);
    if (p_.ipv6()) f(Scope::kIpv6, lo6_, passthrough6_);
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
  Emitter out_;
  bool tproxy_;
  bool dns_;
  Cidr lo6_, passthrough4_, passthrough6_;
  std::vector<Cidr> include4_, include6_, exclude4_, exclude6_;
  bool include_has_loopback_ = false;
};

constexpr TableKind kNat = TableKind::kNat;
constexpr TableKind kMangle = TableKind::kMangle;
constexpr TableKind kRaw = TableKind::kRaw;

// Step 1: traffic on excluded interfaces skips everything.
void Compiler::ExcludeInterfaces() {
  for (const std::string& nic : p_.exclude_interfaces()) {
    out_.Append(kNat, kPrerouting, R().Iif(nic).Then(Return()));
    out_.Append(kNat, kOutput, R().Oif(nic).Then(Return()));
  }
  if (!tproxy_) return;
  for (const std::string& nic : p_.exclude_interfaces()) {
    out_.Append(kMangle, kPrerouting, R().Iif(nic).Then(Return()));
    out_.Append(kMangle, kOutput, R().Oif(nic).Then(Return()));
  }
}

// Step 2: inbound traffic from kube-virt interfaces is not inbound capture.
void Compiler::KubeVirtReturns() {
  for (const std::string& nic : p_.kube_virt_interfaces()) {
    out_.Insert(kNat, kPrerouting, 1, R().Iif(nic).Then(Return()));
  }
}

// Step 3.
void Compiler::DropInvalid() {
  if (!p_.drop_invalid()) return;
  // Istio's nftables backend limits this to TCP; its iptables backend does
  // not. Each dialect keeps its own meaning.
  out_.Append(kMangle, kPrerouting,
              R().Proto(kTcp)
                  .Ct({CtState::kInvalid})
                  .IptablesOrder({1})
                  .Then(Jump(kDrop)));
  out_.Append(kMangle, kDrop, R().Then(DropVerdict{}));
}

// Steps 4-6: the tunnel port bypass and the two REDIRECT chains.
void Compiler::FixedChains() {
  out_.Append(
      kNat, kInbound,
      R().Proto(kTcp).Dport(kTcp, {p_.inbound_tunnel_port()}).Then(Return()));
  out_.Append(kNat, kRedirect,
              R().Proto(kTcp).Then(RedirectVerdict{p_.proxy_port()}));
  out_.Append(kNat, kInRedirect,
              R().Proto(kTcp).Then(RedirectVerdict{p_.inbound_capture_port()}));
}

// Step 7: inbound capture (`-b`), through nat REDIRECT or mangle TPROXY.
void Compiler::Inbound() {
  const PortSelection& ports = p_.inbound_ports();
  if (ports.empty()) return;
  TableKind table = kNat;
  if (tproxy_) {
    table = kMangle;
    out_.Append(kMangle, kDivert, R().Then(SetMarkVerdict{p_.tproxy_mark()}));
    out_.Append(kMangle, kDivert, R().Then(AcceptVerdict{}));
    PerFamily([&](Scope s, const Cidr& lo, const Cidr&) {
      out_.Append(kMangle, kTproxy,
                  R(s).Proto(kTcp).Dst(lo, true).IptablesOrder({1, 0}).Then(
                      TproxyVerdict{p_.inbound_capture_port(), p_.tproxy_mark(),
                                    kTproxyMask}));
    });
  }
  out_.Append(table, kPrerouting, R().Proto(kTcp).Then(Jump(kInbound)));

  const std::vector<CtState> kRelEst = {CtState::kRelated,
                                        CtState::kEstablished};
  if (ports.all) {
    for (uint16_t port : p_.inbound_ports_exclude()) {
      out_.Append(table, kInbound,
                  R().Proto(kTcp).Dport(kTcp, {port}).Then(Return()));
    }
    if (tproxy_) {
      out_.Append(kMangle, kInbound,
                  R().Proto(kTcp).Ct(kRelEst).Then(Jump(kDivert)));
      out_.Append(kMangle, kInbound, R().Proto(kTcp).Then(Jump(kTproxy)));
    } else {
      out_.Append(kNat, kInbound, R().Proto(kTcp).Then(Jump(kInRedirect)));
    }
    return;
  }
  for (uint16_t port : ports.ports) {
    if (tproxy_) {
      out_.Append(kMangle, kInbound,
                  R().Proto(kTcp)
                      .Ct(kRelEst)
                      .Dport(kTcp, {port})
                      .IptablesOrder({0, 2, 1})
                      .Then(Jump(kDivert)));
      out_.Append(kMangle, kInbound,
                  R().Proto(kTcp).Dport(kTcp, {port}).Then(Jump(kTproxy)));
    } else {
      out_.Append(kNat, kInbound,
                  R().Proto(kTcp).Dport(kTcp, {port}).Then(Jump(kInRedirect)));
    }
  }
}

// Steps 8-12: the OUTPUT jump, port excludes, the passthrough source and the
// proxy's own UIDs and GIDs.
void Compiler::OutputOwners() {
  out_.Append(kNat, kOutput, R().Then(Jump(kIstioOutput)));
  for (uint16_t port : p_.outbound_ports_exclude()) {
    out_.Append(kNat, kIstioOutput, R().Dport(kTcp, {port}).Then(Return()));
    out_.Append(kNat, kIstioOutput, R().Dport(kUdp, {port}).Then(Return()));
  }
  PerFamily([&](Scope s, const Cidr&, const Cidr& passthrough) {
    out_.Append(kNat, kIstioOutput,
                R(s).Oif("lo").Src(passthrough).Then(Return()));
  });

  const uint16_t tunnel = p_.inbound_tunnel_port();
  for (bool gid : {false, true}) {
    for (uint32_t id : gid ? p_.proxy_gids() : p_.proxy_uids()) {
      auto owner = [&](R& r, bool negate) -> R& {
        return gid ? r.Gid(id, negate) : r.Uid(id, negate);
      };
      // App -> own service VIP -> proxy -> back to the app over lo. With DNS
      // capture, port 53 is exempt for UIDs (not GIDs, as in Istio).
      std::vector<uint16_t> skip = {tunnel};
      if (dns_ && !gid) skip = {kDnsPort, tunnel};
      PerFamily([&](Scope s, const Cidr& lo, const Cidr&) {
        R r(s);
        r.Oif("lo").Proto(kTcp).Dst(lo, true).Dport(kTcp, skip, true);
        owner(r, false).IptablesOrder({0, 2, 1, 3, 4});
        out_.Append(kNat, kIstioOutput, std::move(r).Then(Jump(kInRedirect)));
      });
      if (!include_has_loopback_) {
        R r;
        r.Oif("lo");
        if (dns_) r.Proto(kTcp).Dport(kTcp, {kDnsPort}, true);
        owner(r, true);
        out_.Append(kNat, kIstioOutput, std::move(r).Then(Return()));
      }
      R self;
      owner(self, false);
      out_.Append(kNat, kIstioOutput, std::move(self).Then(Return()));
    }
  }
}

// Step 13: capture by socket owner group.
void Compiler::OwnerGroups() {
  if (const auto& only = p_.owner_groups_include()) {
    R r;
    for (const OwnerGroup& g : *only) r.Group(g, true);
    out_.Append(kNat, kIstioOutput, std::move(r).Then(Return()));
    return;
  }
  for (const OwnerGroup& g : p_.owner_groups_exclude()) {
    out_.Append(kNat, kIstioOutput, R().Group(g).Then(Return()));
  }
}

// Step 14: DNS to the agent on 15053, with conntrack zones for UDP.
void Compiler::Dns() {
  if (!dns_) return;
  const bool all = p_.capture_all_dns();
  const auto& v4 = p_.dns_servers_v4();
  static const std::vector<Cidr> kNone;
  const std::vector<Cidr>& v6 = p_.ipv6() ? p_.dns_servers_v6() : kNone;

  out_.Append(kRaw, kOutput, R().Then(Jump(kOutputDns)));
  if (auto s = ScopeOf(all || !v4.empty(), all || !v6.empty())) {
    out_.Append(kNat, kIstioOutput, R(*s).Then(Jump(kOutputDns)));
  }
  const RedirectVerdict to_agent_tcp{kAgentDnsPort, false};
  const RedirectVerdict to_agent_udp{kAgentDnsPort, true};
  if (all) {
    out_.Append(kNat, kOutputDns,
                R().Proto(kTcp).Dport(kTcp, {kDnsPort}).Then(to_agent_tcp));
    out_.Append(kNat, kOutputDns,
                R().Dport(kUdp, {kDnsPort}).Then(to_agent_udp));
  } else {
    for (L4Proto proto : {kTcp, kUdp}) {
      for (const auto* list : {&v4, &v6}) {
        for (const Cidr& server : *list) {
          Scope s =
              server.family() == IpFamily::kIpv4 ? Scope::kIpv4 : Scope::kIpv6;
          out_.Append(kNat, kOutputDns,
                      R(s).Dst(server)
                          .Dport(proto, {kDnsPort})
                          .IptablesOrder({1, 0})
                          .Then(proto == kTcp ? to_agent_tcp : to_agent_udp));
        }
      }
    }
  }

  for (bool gid : {false, true}) {
    for (uint32_t id : gid ? p_.proxy_gids() : p_.proxy_uids()) {
      R upstream, reply;
      upstream.Dport(kUdp, {kDnsPort});
      reply.Sport(kUdp, {kAgentDnsPort});
      for (R* r : {&upstream, &reply}) {
        gid ? r->Gid(id, false, true) : r->Uid(id, false, true);
      }
      out_.Append(kRaw, kOutputDns,
                  std::move(upstream).Then(CtZoneVerdict{kCtZoneUpstream}));
      out_.Append(kRaw, kOutputDns,
                  std::move(reply).Then(CtZoneVerdict{kCtZoneApp}));
    }
  }

  if (all) {
    out_.Append(kRaw, kPrerouting, R().Then(Jump(kInbound)));
    out_.Append(kRaw, kOutputDns,
                R().Dport(kUdp, {kDnsPort}).Then(CtZoneVerdict{kCtZoneApp}));
    out_.Append(
        kRaw, kInbound,
        R().Sport(kUdp, {kDnsPort}).Then(CtZoneVerdict{kCtZoneUpstream}));
    return;
  }
  if (auto s = ScopeOf(!v4.empty(), !v6.empty())) {
    out_.Append(kRaw, kPrerouting, R(*s).Then(Jump(kInbound)));
  }
  for (const auto* list : {&v4, &v6}) {
    for (const Cidr& server : *list) {
      Scope s =
          server.family() == IpFamily::kIpv4 ? Scope::kIpv4 : Scope::kIpv6;
      out_.Append(kRaw, kOutputDns,
                  R(s).Dport(kUdp, {kDnsPort})
                      .Dst(server)
                      .Then(CtZoneVerdict{kCtZoneApp}));
      out_.Append(kRaw, kInbound,
                  R(s).Sport(kUdp, {kDnsPort})
                      .Src(server)
                      .Then(CtZoneVerdict{kCtZoneUpstream}));
    }
  }
}

// Steps 15-18: localhost, excluded and included destinations and ports.
void Compiler::OutboundDestinations() {
  PerFamily([&](Scope s, const Cidr& lo, const Cidr&) {
    out_.Append(kNat, kIstioOutput, R(s).Dst(lo).Then(Return()));
  });
  for (const Cidr& c : exclude4_) {
    out_.Append(kNat, kIstioOutput, R(Scope::kIpv4).Dst(c).Then(Return()));
  }
  for (const Cidr& c : exclude6_) {
    out_.Append(kNat, kIstioOutput, R(Scope::kIpv6).Dst(c).Then(Return()));
  }
  for (uint16_t port : p_.outbound_ports_include()) {
    out_.Append(kNat, kIstioOutput,
                R().Dport(kTcp, {port}).Then(Jump(kRedirect)));
  }

  if (p_.outbound_cidrs_include().all) {
    out_.Append(kNat, kIstioOutput, R().Then(Jump(kRedirect)));
    for (const std::string& nic : p_.kube_virt_interfaces()) {
      out_.Insert(kNat, kPrerouting, 1, R().Iif(nic).Then(Jump(kRedirect)));
    }
    return;
  }
  for (const auto* list : {&include4_, &include6_}) {
    for (const Cidr& c : *list) {
      Scope s = c.family() == IpFamily::kIpv4 ? Scope::kIpv4 : Scope::kIpv6;
      for (const std::string& nic : p_.kube_virt_interfaces()) {
        out_.Insert(kNat, kPrerouting, 1,
                    R(s).Iif(nic).Dst(c).Then(Jump(kRedirect)));
      }
      out_.Append(kNat, kIstioOutput, R(s).Dst(c).Then(Jump(kRedirect)));
    }
  }
}

// Step 19: TPROXY's marks; emitted even without inbound ports, as in Istio.
void Compiler::TproxyTail() {
  if (!tproxy_) return;
  const uint32_t mark = p_.tproxy_mark();
  out_.Append(kMangle, kPrerouting,
              R().Proto(kTcp).Mark(mark).Then(ConnmarkSaveVerdict{}));
  out_.Append(
      kMangle, kOutput,
      R().Oif("lo").Proto(kTcp).Mark(mark).IptablesOrder({1, 0, 2}).Then(
          Return()));
  for (bool gid : {false, true}) {
    for (uint32_t id : gid ? p_.proxy_gids() : p_.proxy_uids()) {
      PerFamily([&](Scope s, const Cidr& lo, const Cidr&) {
        R r(s);
        r.Oif("lo").Proto(kTcp).Dst(lo, true);
        gid ? r.Gid(id) : r.Uid(id);
        r.IptablesOrder({2, 1, 0, 3});
        out_.Append(kMangle, kOutput,
                    std::move(r).Then(SetMarkVerdict{kOutboundMark}));
      });
    }
  }
  out_.Append(kMangle, kOutput,
              R().Proto(kTcp).Connmark(mark).Then(ConnmarkRestoreVerdict{}));
  out_.Insert(kMangle, kInbound, 1, R().Proto(kTcp).Mark(mark).Then(Return()));
  PerFamily([&](Scope s, const Cidr&, const Cidr& passthrough) {
    out_.Insert(kMangle, kInbound, 2,
                R(s).Iif("lo")
                    .Proto(kTcp)
                    .Src(passthrough)
                    .IptablesOrder({1, 2, 0})
                    .Then(Return()));
  });
  out_.Insert(kMangle, kInbound, 3,
              R().Iif("lo")
                  .Proto(kTcp)
                  .Mark(kOutboundMark, true)
                  .IptablesOrder({1, 0, 2})
                  .Then(Return()));
}

RuleSet Compiler::Run() && {
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
  RuleSet set = std::move(out_).Finish();
  // Istio configures the routes only when inbound capture is on
  // (`configureTProxyRoutes`).
  if (p_.intercept_mode() == InterceptMode::kTproxy &&
      !p_.inbound_ports().empty()) {
    set.routing = PolicyRouting{p_.tproxy_mark(), p_.tproxy_route_table()};
  }
  return set;
}

}  // namespace

RuleSet Compile(const CapturePolicy& policy) { return Compiler(policy).Run(); }

}  // namespace meshcap
