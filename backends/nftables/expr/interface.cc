// SPDX-License-Identifier: GPL-2.0-or-later
// ir::InterfaceMatch: `iifname eth0`, `oifname != lo`.
//   [ meta load iifname => reg 1 ]
//   [ cmp eq reg 1 0x30687465 0x00000000 0x00000000 0x00000000 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>
#include <net/if.h>
#include <string.h>

#include <array>

#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

void Spell(const ir::InterfaceMatch& m, const SpellContext&, std::string& out) {
  out += m.dir == ir::Direction::kSource ? "iifname " : "oifname ";
  if (m.negate) out += "!= ";
  out += m.name;
}

void Encode(const ir::InterfaceMatch& m, RuleEncoder& enc) {
  std::array<char, IFNAMSIZ> name{};
  memcpy(name.data(), m.name.data(), std::min(m.name.size(), name.size() - 1));
  enc.MetaLoad(m.dir == ir::Direction::kSource ? NFT_META_IIFNAME
                                               : NFT_META_OIFNAME);
  enc.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, name.data(), name.size());
}

bool Decode(ExprCursor& c, ir::InterfaceMatch* out) {
  const bool in = c.IsMetaLoad(0, NFT_META_IIFNAME);
  if (!in && !c.IsMetaLoad(0, NFT_META_OIFNAME)) return false;
  uint32_t op = 0;
  std::string data;
  if (!c.IsCmp(1, &op, &data) || (op != NFT_CMP_EQ && op != NFT_CMP_NEQ)) {
    return false;
  }
  out->dir = in ? ir::Direction::kSource : ir::Direction::kDestination;
  out->name = std::string(data.c_str());
  out->negate = op == NFT_CMP_NEQ;
  c.Advance(2);
  return true;
}

}  // namespace meshcap::nft
