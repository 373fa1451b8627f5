// SPDX-License-Identifier: GPL-2.0-or-later
// ir::ProtocolMatch: `meta l4proto tcp`.
//   [ meta load l4proto => reg 1 ]
//   [ cmp eq reg 1 0x00000006 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>

#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

void Spell(const ir::ProtocolMatch& m, const SpellContext&, std::string& out) {
  out += m.proto == ir::L4Proto::kTcp ? "meta l4proto tcp" : "meta l4proto udp";
}

void Encode(const ir::ProtocolMatch& m, RuleEncoder& enc) {
  enc.L4ProtoDependency(m.proto, /*explicit_match=*/true);
}

bool Decode(ExprCursor& c, ir::ProtocolMatch* out) {
  uint32_t op = 0;
  std::string data;
  if (!c.IsMetaLoad(0, NFT_META_L4PROTO) || !c.IsCmp(1, &op, &data) ||
      op != NFT_CMP_EQ || data.size() != 1) {
    return false;
  }
  // Followed by a port load, it is that port match's dependency.
  if (c.Is(2, "payload") && AttrU32(c.Peek(2), NFTNL_EXPR_PAYLOAD_BASE) ==
                                NFT_PAYLOAD_TRANSPORT_HEADER) {
    return false;
  }
  if (data[0] == IPPROTO_TCP) {
    out->proto = ir::L4Proto::kTcp;
  } else if (data[0] == IPPROTO_UDP) {
    out->proto = ir::L4Proto::kUdp;
  } else {
    return false;
  }
  c.l4proto = out->proto;
  c.Advance(2);
  return true;
}

}  // namespace meshcap::nft
