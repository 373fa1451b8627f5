// SPDX-License-Identifier: GPL-2.0-or-later
// ir::CtStateMatch: `ct state related,established`.
//   [ ct load state => reg 1 ]
//   [ bitwise reg 1 = ( reg 1 & 0x00000006 ) ^ 0x00000000 ]
//   [ cmp neq reg 1 0x00000000 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>

#include <vector>

#include "absl/strings/str_join.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {
namespace {

struct StateBit {
  ir::CtState state;
  uint32_t bit;
  const char* name;
};

constexpr StateBit kStates[] = {
    {ir::CtState::kInvalid, NF_CT_STATE_INVALID_BIT, "invalid"},
    {ir::CtState::kEstablished, NF_CT_STATE_BIT(IP_CT_ESTABLISHED),
     "established"},
    {ir::CtState::kRelated, NF_CT_STATE_BIT(IP_CT_RELATED), "related"},
    {ir::CtState::kNew, NF_CT_STATE_BIT(IP_CT_NEW), "new"},
};

const StateBit& Find(ir::CtState s) {
  for (const StateBit& b : kStates) {
    if (b.state == s) return b;
  }
  return kStates[0];
}

}  // namespace

void Spell(const ir::CtStateMatch& m, const SpellContext&, std::string& out) {
  std::vector<const char*> names;
  for (ir::CtState s : m.states) names.push_back(Find(s).name);
  out += "ct state " + absl::StrJoin(names, ",");
}

void Encode(const ir::CtStateMatch& m, RuleEncoder& enc) {
  uint32_t bits = 0;
  for (ir::CtState s : m.states) bits |= Find(s).bit;
  const uint32_t zero = 0;
  enc.CtLoad(NFT_CT_STATE);
  enc.Bitwise(&bits, &zero, 4);
  enc.Cmp(NFT_CMP_NEQ, &zero, 4);
}

bool Decode(ExprCursor& c, ir::CtStateMatch* out) {
  uint32_t op = 0;
  std::string data;
  if (!c.IsCtLoad(0, NFT_CT_STATE) || !c.Is(1, "bitwise") ||
      !c.IsCmp(2, &op, &data) || op != NFT_CMP_NEQ || BytesU32(data) != 0) {
    return false;
  }
  const uint32_t bits = BytesU32(AttrBytes(c.Peek(1), NFTNL_EXPR_BITWISE_MASK));
  out->states.clear();
  uint32_t known = 0;
  // nft lists states in its own order; related before established reads
  // as Istio writes it.
  for (ir::CtState s : {ir::CtState::kInvalid, ir::CtState::kRelated,
                        ir::CtState::kEstablished, ir::CtState::kNew}) {
    if (bits & Find(s).bit) {
      out->states.push_back(s);
      known |= Find(s).bit;
    }
  }
  if (known != bits || out->states.empty()) return false;
  c.Advance(3);
  return true;
}

}  // namespace meshcap::nft
