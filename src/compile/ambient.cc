// SPDX-License-Identifier: GPL-2.0-or-later
//
// Istio's ambient in-pod rules: what the CNI node agent installs inside a
// pod's network namespace so that the node's ztunnel, listening in that
// namespace, receives the pod's traffic (cni/pkg/iptables `AppendInpodRules`
// and cni/pkg/nftables, constants in cni/pkg/config/config.go).
//
//   15001 outbound, 15006 inbound plaintext, 15008 HBONE (never redirected),
//   15053 DNS. ztunnel marks its own sockets 0x539/0xfff; connections it
//   accepted carry 0x111/0xfff in their conntrack mark, restored onto the
//   replies, which policy routing then delivers locally (table 100).
//
// Rules are emitted in Istio's append order, which both generators share;
// the two differ in the order of some rules' matches and in iptables'
// explicit `-m tcp` on the probe rules.

#include <string>
#include <vector>

#include "src/compile/builder.h"
#include "src/compile/compile.h"

namespace meshcap::internal {
namespace {

using ir::Scope;

constexpr char kPrerouting[] = "PREROUTING";
constexpr char kOutput[] = "OUTPUT";
constexpr char kPrert[] = "ISTIO_PRERT";
constexpr char kIstioOutput[] = "ISTIO_OUTPUT";

constexpr uint32_t kZtunnelMark = 1337;  // 0x539, ztunnel's own sockets
constexpr uint32_t kZtunnelMask = 0xfff;
constexpr uint32_t kConnMark = 0x111;  // connections ztunnel accepted
constexpr uint32_t kConnMask = 0xfff;
constexpr uint32_t kRouteTable = 100;
constexpr uint32_t kRulePriority = 32764;
constexpr uint16_t kOutboundPort = 15001;
constexpr uint16_t kInboundPlaintextPort = 15006;
constexpr uint16_t kHbonePort = 15008;
constexpr uint16_t kDnsCapturePort = 15053;
constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kDnsZone = 1;

std::vector<ir::ChainSpec> AmbientChains(ir::TableKind t) {
  using ir::ChainType;
  using ir::Hook;
  ChainType nat_type = ChainType::kFilter, out_type = ChainType::kFilter;
  int prio = -300;
  if (t == ir::TableKind::kNat) {
    nat_type = out_type = ChainType::kNat;
    prio = -100;
  } else if (t == ir::TableKind::kMangle) {
    out_type = ChainType::kRoute;
    prio = -150;
  }
  return {{kPrerouting, Hook::kPrerouting, nat_type, prio},
          {kOutput, Hook::kOutput, out_type, prio},
          {kPrert, std::nullopt, ChainType::kFilter, 0},
          {kIstioOutput, std::nullopt, ChainType::kFilter, 0}};
}

std::string AmbientNftChain(const std::string& name) {
  if (name == kPrerouting) return "prerouting";
  if (name == kOutput) return "output";
  if (name == kPrert) return "istio-prerouting";
  return "istio-output";
}

class Ambient {
 public:
  Ambient(const CapturePolicy& p, ir::Dialect dialect)
      : p_(p),
        ipt_(dialect == ir::Dialect::kIptables),
        out_(dialect, p.ipv6()),
        dns_(p.dns_capture_enabled()),
        // Istio prints the probe address bare (netip.Addr.String()).
        probe4_(p.probe_snat_ipv4().WithText(
            p.probe_snat_ipv4().HostAddressString())),
        probe6_(p.probe_snat_ipv6().WithText(
            p.probe_snat_ipv6().HostAddressString())),
        lo4_(ConstCidr("127.0.0.1/32")),
        lo6_(ConstCidr("::1/128")) {}

  ir::RuleSet Run() &&;

 private:
  template <typename F>
  void ForFamilies(F f) {
    PerFamily(p_.ipv6(), [&](Scope s, bool v6) {
      f(s, v6 ? lo6_ : lo4_, v6 ? probe6_ : probe4_);
    });
  }
  // `! mark 0x539/0xfff`: not ztunnel's own traffic.
  static RuleBuilder& NotZtunnel(RuleBuilder& r) {
    return r.Mark(kZtunnelMark, kZtunnelMask, true);
  }

  const CapturePolicy& p_;
  const bool ipt_;
  Emitter out_;
  bool dns_;
  Cidr probe4_, probe6_, lo4_, lo6_;
};

ir::RuleSet Ambient::Run() && {
  const bool ingress = p_.ingress_mode();
  // 1-6: the base chains jump to ours.
  out_.Append(kMangle, kPrerouting,
              RuleBuilder().NoCounter().Then(Jump(kPrert)));
  out_.Append(kMangle, kOutput,
              RuleBuilder().NoCounter().Then(Jump(kIstioOutput)));
  out_.Append(kNat, kOutput,
              RuleBuilder().NoCounter().Then(Jump(kIstioOutput)));
  if (dns_) {
    out_.Append(kRaw, kPrerouting,
                RuleBuilder().NoCounter().Then(Jump(kPrert)));
    out_.Append(kRaw, kOutput,
                RuleBuilder().NoCounter().Then(Jump(kIstioOutput)));
  }
  out_.Append(kNat, kPrerouting, RuleBuilder().NoCounter().Then(Jump(kPrert)));
  // 7: traffic entering on a virtual interface goes to ztunnel as outbound.
  for (const std::string& nic : p_.virtual_interfaces()) {
    out_.Append(kNat, kPrert,
                RuleBuilder().Iif(nic).Proto(kTcp).Then(
                    ir::RedirectVerdict{kOutboundPort}));
    out_.Append(kNat, kPrert,
                RuleBuilder().Iif(nic).Proto(kTcp).Then(Return()));
  }
  // 8: connections whose packets carry ztunnel's mark get the connmark.
  out_.Append(kMangle, kPrert,
              RuleBuilder()
                  .Mark(kZtunnelMark, kZtunnelMask)
                  .Then(ir::SetConnmarkVerdict{kConnMark, kConnMask}));
  // 9-10: kubelet probes, SNATed to the probe address, are accepted.
  if (!ingress) {
    ForFamilies([&](Scope s, const Cidr&, const Cidr& probe) {
      RuleBuilder r(s);
      if (ipt_) {
        r.Src(probe).Proto(kTcp).PortModule(kTcp);
      } else {
        r.Proto(kTcp).Src(probe);
      }
      out_.Append(kNat, kPrert, std::move(r).Then(Accept()));
    });
  }
  ForFamilies([&](Scope s, const Cidr&, const Cidr& probe) {
    RuleBuilder r(s);
    if (ipt_) {
      r.Dst(probe).Proto(kTcp).PortModule(kTcp);
    } else {
      r.Proto(kTcp).Dst(probe);
    }
    out_.Append(kNat, kIstioOutput, std::move(r).Then(Accept()));
  });
  // 11: inbound to ztunnel's plaintext port, except HBONE and its own.
  if (!ingress) {
    ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
      RuleBuilder r(s);
      r.Dst(lo, true).When(ipt_, [](RuleBuilder& x) { x.Proto(kTcp); });
      r.Dport(kTcp, {kHbonePort}, true);
      NotZtunnel(r);
      out_.Append(
          kNat, kPrert,
          std::move(r).Then(ir::RedirectVerdict{kInboundPlaintextPort}));
    });
  }
  // 12: replies of connections ztunnel accepted get their mark back.
  out_.Append(kMangle, kIstioOutput,
              RuleBuilder()
                  .Connmark(kConnMark, kConnMask)
                  .Then(ir::RestoreConnmarkVerdict{}));
  // 13-14: DNS to ztunnel's DNS proxy.
  if (dns_) {
    RuleBuilder udp;
    udp.Oif("lo", true);
    if (ipt_) {
      udp.Proto(kUdp);
      NotZtunnel(udp).Dport(kUdp, {kDnsPort});
    } else {
      NotZtunnel(udp).Dport(kUdp, {kDnsPort});
    }
    out_.Append(kNat, kIstioOutput,
                std::move(udp).Then(ir::RedirectVerdict{kDnsCapturePort}));
    ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
      RuleBuilder r(s);
      r.Dst(lo, true).When(ipt_, [](RuleBuilder& x) { x.Proto(kTcp); });
      r.Dport(kTcp, {kDnsPort});
      NotZtunnel(r);
      out_.Append(kNat, kIstioOutput,
                  std::move(r).Then(ir::RedirectVerdict{kDnsCapturePort}));
    });
    // 15-16: ztunnel's own lookups and the answers share conntrack zone 1.
    RuleBuilder own, answers;
    if (ipt_) {
      own.Proto(kUdp).Mark(kZtunnelMark, kZtunnelMask).Dport(kUdp, {kDnsPort});
      answers.Proto(kUdp);
      NotZtunnel(answers).Sport(kUdp, {kDnsPort});
    } else {
      own.Dport(kUdp, {kDnsPort}).Mark(kZtunnelMark, kZtunnelMask);
      answers.Sport(kUdp, {kDnsPort});
      NotZtunnel(answers);
    }
    out_.Append(kRaw, kIstioOutput,
                std::move(own).Then(ir::CtZoneVerdict{kDnsZone}));
    out_.Append(kRaw, kPrert,
                std::move(answers).Then(ir::CtZoneVerdict{kDnsZone}));
  }
  // 17: replies of connections ztunnel accepted are not redirected.
  out_.Append(
      kNat, kIstioOutput,
      RuleBuilder().Proto(kTcp).Mark(kConnMark, kConnMask).Then(Accept()));
  // 18: the pod talking to itself over lo.
  ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
    RuleBuilder r(s);
    if (ipt_) {
      r.Dst(lo, true).Oif("lo");
    } else {
      r.Oif("lo").Dst(lo, true);
    }
    out_.Append(kNat, kIstioOutput, std::move(r).Then(Accept()));
  });
  // 19: everything else the app sends goes to ztunnel.
  ForFamilies([&](Scope s, const Cidr& lo, const Cidr&) {
    RuleBuilder r(s);
    if (ipt_) {
      r.Dst(lo, true).Proto(kTcp);
    } else {
      r.Proto(kTcp).Dst(lo, true);
    }
    NotZtunnel(r);
    out_.Append(kNat, kIstioOutput,
                std::move(r).Then(ir::RedirectVerdict{kOutboundPort}));
  });

  Naming naming;
  naming.nft_table = [](ir::TableKind k) {
    return std::string("istio-ambient-") + ir::TableKindName(k);
  };
  naming.nft_chain = AmbientNftChain;
  naming.chains = AmbientChains;
  ir::RuleSet set =
      std::move(out_).Finish(Profile::kAmbient, naming, {kNat, kMangle, kRaw});
  set.routing =
      ir::PolicyRouting{kConnMark, kConnMask, kRouteTable, kRulePriority};
  return set;
}

}  // namespace

ir::RuleSet CompileAmbient(const CapturePolicy& policy, ir::Dialect dialect) {
  return Ambient(policy, dialect).Run();
}

}  // namespace meshcap::internal
