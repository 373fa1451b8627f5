// SPDX-License-Identifier: GPL-2.0-or-later
// ir::OwnerMatch: `skuid 1337`, `skgid != java` (Istio's raw-table rules
// say `meta skuid`).
//   [ meta load skuid => reg 1 ]
//   [ cmp eq reg 1 0x00000539 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

void Spell(const ir::OwnerMatch& m, const SpellContext& ctx, std::string& out) {
  if (ctx.table == ir::TableKind::kRaw) out += "meta ";
  out += m.kind == ir::OwnerMatch::kUid ? "skuid " : "skgid ";
  if (m.negate) out += "!= ";
  out += m.name.empty() ? absl::StrCat(m.id) : m.name;
}

void Encode(const ir::OwnerMatch& m, RuleEncoder& enc) {
  enc.MetaLoad(m.kind == ir::OwnerMatch::kUid ? NFT_META_SKUID
                                              : NFT_META_SKGID);
  enc.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &m.id, 4);
}

bool Decode(ExprCursor& c, ir::OwnerMatch* out) {
  const bool uid = c.IsMetaLoad(0, NFT_META_SKUID);
  if (!uid && !c.IsMetaLoad(0, NFT_META_SKGID)) return false;
  uint32_t op = 0;
  std::string data;
  if (!c.IsCmp(1, &op, &data) || data.size() != 4 ||
      (op != NFT_CMP_EQ && op != NFT_CMP_NEQ)) {
    return false;
  }
  out->kind = uid ? ir::OwnerMatch::kUid : ir::OwnerMatch::kGid;
  out->id = BytesU32(data);
  out->name.clear();
  out->negate = op == NFT_CMP_NEQ;
  c.Advance(2);
  return true;
}

}  // namespace meshcap::nft
