// SPDX-License-Identifier: GPL-2.0-or-later
// ir::RedirectVerdict: `-j REDIRECT --to-ports 15001` (REDIRECT rev 0:
// nf_nat_ipv4_multi_range_compat for IPv4, nf_nat_range for IPv6). Istio
// writes `--to-port` in its UDP rules.

#include <arpa/inet.h>
#include <linux/netfilter/nf_nat.h>

#include "absl/strings/str_cat.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

void Spell(const ir::RedirectVerdict& v, SpellContext& ctx, std::string& out) {
  absl::StrAppend(&out, " -j REDIRECT ",
                  ctx.proto == ir::L4Proto::kUdp ? "--to-port " : "--to-ports ",
                  v.port);
}

void Encode(const ir::RedirectVerdict& v, RuleWriter& w) {
  if (w.v6()) {
    nf_nat_range range{};
    range.flags = NF_NAT_RANGE_PROTO_SPECIFIED;
    range.min_proto.tcp.port = range.max_proto.tcp.port = htons(v.port);
    w.Target("REDIRECT", 0, range);
  } else {
    nf_nat_ipv4_multi_range_compat mr{};
    mr.rangesize = 1;
    mr.range[0].flags = NF_NAT_RANGE_PROTO_SPECIFIED;
    mr.range[0].min.tcp.port = mr.range[0].max.tcp.port = htons(v.port);
    w.Target("REDIRECT", 0, mr);
  }
}

bool Decode(const RuleReader& r, ir::RedirectVerdict* out) {
  size_t size = 0;
  const void* d = r.Target("REDIRECT", 0, &size);
  if (d == nullptr) return false;
  if (r.family() == IpFamily::kIpv6) {
    if (size < sizeof(nf_nat_range)) return false;
    const auto& range = *static_cast<const nf_nat_range*>(d);
    if (range.min_proto.tcp.port != range.max_proto.tcp.port) return false;
    out->port = ntohs(range.min_proto.tcp.port);
    return true;
  }
  if (size < sizeof(nf_nat_ipv4_multi_range_compat)) return false;
  const auto& mr = *static_cast<const nf_nat_ipv4_multi_range_compat*>(d);
  if (mr.rangesize != 1 ||
      mr.range[0].min.tcp.port != mr.range[0].max.tcp.port) {
    return false;
  }
  out->port = ntohs(mr.range[0].min.tcp.port);
  return true;
}

}  // namespace meshcap::ipt
