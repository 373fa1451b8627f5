// SPDX-License-Identifier: GPL-2.0-or-later
// ir::PortMatch: `-p tcp --dport 15008` (xt tcp/udp rev 0),
// `-m multiport ! --dports 53,15008` (multiport rev 1), and `-m tcp` alone
// for a port match without ports. Istio's ambient rules spell UDP ports
// `-m udp --dport 53`. A port match sets the header's protocol when the
// rule has not.

#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_tcpudp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {
namespace {

template <typename T>
void FillRange(T& m, const ir::PortMatch& p) {
  m.spts[1] = m.dpts[1] = 0xffff;
  if (p.ports.empty()) return;
  const bool src = p.dir == ir::Direction::kSource;
  (src ? m.spts : m.dpts)[0] = p.ports[0];
  (src ? m.spts : m.dpts)[1] = p.ports[0];
}

template <typename T>
bool ReadRange(const T& m, uint8_t inv_src, uint8_t inv_dst,
               ir::PortMatch* out) {
  if ((m.invflags & ~(inv_src | inv_dst)) != 0) return false;
  const bool src_any = m.spts[0] == 0 && m.spts[1] == 0xffff;
  const bool dst_any = m.dpts[0] == 0 && m.dpts[1] == 0xffff;
  out->ports.clear();
  out->negate = false;
  if (src_any && dst_any) {
    out->dir = ir::Direction::kDestination;
    return m.invflags == 0;
  }
  if (!src_any && !dst_any) return false;
  const bool src = !src_any;
  const uint16_t* range = src ? m.spts : m.dpts;
  if (range[0] != range[1]) return false;
  if ((m.invflags & (src ? inv_dst : inv_src)) != 0) return false;
  out->dir = src ? ir::Direction::kSource : ir::Direction::kDestination;
  out->ports.push_back(range[0]);
  out->negate = (m.invflags & (src ? inv_src : inv_dst)) != 0;
  return true;
}

}  // namespace

void Spell(const ir::PortMatch& m, SpellContext& ctx, std::string& out) {
  const char* proto = m.proto == ir::L4Proto::kTcp ? "tcp" : "udp";
  if (!ctx.proto_written) {
    absl::StrAppend(&out, " -p ", proto);
    ctx.proto_written = true;
  }
  ctx.proto = m.proto;
  if (m.ports.empty()) {
    absl::StrAppend(&out, " -m ", proto);
    return;
  }
  const bool src = m.dir == ir::Direction::kSource;
  if (m.ports.size() == 1) {
    if (ctx.profile == Profile::kAmbient && m.proto == ir::L4Proto::kUdp) {
      out += " -m udp";
    }
    absl::StrAppend(&out, m.negate ? " !" : "", src ? " --sport " : " --dport ",
                    m.ports[0]);
    return;
  }
  absl::StrAppend(&out, " -m multiport", m.negate ? " !" : "",
                  src ? " --sports " : " --dports ",
                  absl::StrJoin(m.ports, ","));
}

void Encode(const ir::PortMatch& m, RuleWriter& w) {
  if (!w.protocol_set()) w.SetProtocol(m.proto);
  const bool src = m.dir == ir::Direction::kSource;
  if (m.ports.size() <= 1) {
    if (m.proto == ir::L4Proto::kTcp) {
      xt_tcp tcp{};
      FillRange(tcp, m);
      if (m.negate) tcp.invflags = src ? XT_TCP_INV_SRCPT : XT_TCP_INV_DSTPT;
      w.Match("tcp", 0, tcp);
    } else {
      xt_udp udp{};
      FillRange(udp, m);
      if (m.negate) udp.invflags = src ? XT_UDP_INV_SRCPT : XT_UDP_INV_DSTPT;
      w.Match("udp", 0, udp);
    }
    return;
  }
  xt_multiport_v1 mp{};
  mp.flags = src ? XT_MULTIPORT_SOURCE : XT_MULTIPORT_DESTINATION;
  const size_t n = std::min<size_t>(m.ports.size(), XT_MULTI_PORTS);
  mp.count = static_cast<uint8_t>(n);
  for (size_t i = 0; i < n; ++i) mp.ports[i] = m.ports[i];
  mp.invert = m.negate ? 1 : 0;
  w.Match("multiport", 1, mp);
}

bool Decode(RuleReader& r, ir::PortMatch* out) {
  size_t size = 0;
  // The kernel accepts a tcp or udp match only under its header protocol.
  if (const void* d = r.PeekMatch("tcp", 0, &size);
      d != nullptr && size >= sizeof(xt_tcp) &&
      r.protocol() == ir::L4Proto::kTcp) {
    const auto& tcp = *static_cast<const xt_tcp*>(d);
    // --tcp-flags and --tcp-option are not ours.
    if (tcp.option != 0 || tcp.flg_mask != 0 || tcp.flg_cmp != 0) return false;
    out->proto = ir::L4Proto::kTcp;
    if (!ReadRange(*static_cast<const xt_tcp*>(d), XT_TCP_INV_SRCPT,
                   XT_TCP_INV_DSTPT, out)) {
      return false;
    }
    r.NextMatch();
    return true;
  }
  if (const void* d = r.PeekMatch("udp", 0, &size);
      d != nullptr && size >= sizeof(xt_udp) &&
      r.protocol() == ir::L4Proto::kUdp) {
    out->proto = ir::L4Proto::kUdp;
    if (!ReadRange(*static_cast<const xt_udp*>(d), XT_UDP_INV_SRCPT,
                   XT_UDP_INV_DSTPT, out)) {
      return false;
    }
    r.NextMatch();
    return true;
  }
  if (const void* d = r.PeekMatch("multiport", 1, &size);
      d != nullptr && size >= sizeof(xt_multiport_v1) &&
      r.protocol().has_value()) {
    const auto& mp = *static_cast<const xt_multiport_v1*>(d);
    if (mp.flags != XT_MULTIPORT_SOURCE &&
        mp.flags != XT_MULTIPORT_DESTINATION) {
      return false;
    }
    // Ours list 2 to 15 single ports.
    if (mp.count < 2 || mp.count > XT_MULTI_PORTS || mp.invert > 1) {
      return false;
    }
    for (uint8_t i = 0; i < XT_MULTI_PORTS; ++i) {
      if (mp.pflags[i] != 0) return false;  // ranges are not ours
      if (i >= mp.count && mp.ports[i] != 0) return false;
    }
    out->proto = *r.protocol();
    out->dir = mp.flags == XT_MULTIPORT_SOURCE ? ir::Direction::kSource
                                               : ir::Direction::kDestination;
    out->ports.assign(mp.ports,
                      mp.ports + std::min<uint8_t>(mp.count, XT_MULTI_PORTS));
    out->negate = mp.invert != 0;
    r.NextMatch();
    return true;
  }
  return false;
}

}  // namespace meshcap::ipt
