// SPDX-License-Identifier: GPL-2.0-or-later
// ir::MarkMatch: `mark 1337`, `mark != 1338`; with a mask, as Istio's
// ambient generator writes it: `mark and 0xfff != 0x539` (nat),
// `meta mark & 0xfff == 0x539` (mangle), `meta mark and 0xfff == 0x539`
// (raw).
//   [ meta load mark => reg 1 ]
//   [ bitwise reg 1 = ( reg 1 & 0x00000fff ) ^ 0x00000000 ]
//   [ cmp neq reg 1 0x00000539 ]
// ir::SetMarkVerdict: `counter meta mark set 1338`.
//   [ counter pkts 0 bytes 0 ]
//   [ immediate reg 1 0x0000053a ]
//   [ meta set mark with reg 1 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

void Spell(const ir::MarkMatch& m, const SpellContext& ctx, std::string& out) {
  if (m.mask == ir::kAllBits) {
    absl::StrAppend(&out, "mark ", m.negate ? "!= " : "", m.value);
    return;
  }
  const char* op = m.negate ? "!=" : "==";
  switch (ctx.table) {
    case ir::TableKind::kNat:
      // Istio's source passes "mark and 0xfff " (trailing space) for the
      // IPv4 inbound redirect, hence the double space there.
      absl::StrAppend(&out, "mark and ", Hex(m.mask),
                      ctx.chain == "istio-prerouting" &&
                              ctx.scope == ir::Scope::kIpv4 && m.negate
                          ? "  "
                          : " ",
                      op, " ", Hex(m.value));
      return;
    case ir::TableKind::kMangle:
      absl::StrAppend(&out, "meta mark & ", Hex(m.mask), " ", op, " ",
                      Hex(m.value));
      return;
    case ir::TableKind::kRaw:
      absl::StrAppend(&out, "meta mark and ", Hex(m.mask), " ", op, " ",
                      Hex(m.value));
      return;
  }
}

void Encode(const ir::MarkMatch& m, RuleEncoder& enc) {
  enc.MetaLoad(NFT_META_MARK);
  if (m.mask != ir::kAllBits) {
    const uint32_t zero = 0;
    enc.Bitwise(&m.mask, &zero, 4);
  }
  enc.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &m.value, 4);
}

// [ load ] [ bitwise & mask ^ 0 ]? [ cmp ]: shared with ct mark.
bool DecodeMaskedCompare(ExprCursor& c, uint32_t* value, uint32_t* mask,
                         bool* negate) {
  size_t i = 1;
  *mask = ir::kAllBits;
  if (c.Is(1, "bitwise")) {
    const nftnl_expr* b = c.Peek(1);
    if (BytesU32(AttrBytes(b, NFTNL_EXPR_BITWISE_XOR)) != 0 ||
        AttrU32(b, NFTNL_EXPR_BITWISE_LEN) != 4) {
      return false;
    }
    *mask = BytesU32(AttrBytes(b, NFTNL_EXPR_BITWISE_MASK));
    i = 2;
  }
  uint32_t op = 0;
  std::string data;
  if (!c.IsCmp(i, &op, &data) || data.size() != 4 ||
      (op != NFT_CMP_EQ && op != NFT_CMP_NEQ)) {
    return false;
  }
  *value = BytesU32(data);
  *negate = op == NFT_CMP_NEQ;
  c.Advance(i + 1);
  return true;
}

bool Decode(ExprCursor& c, ir::MarkMatch* out) {
  if (!c.IsMetaLoad(0, NFT_META_MARK)) return false;
  return DecodeMaskedCompare(c, &out->value, &out->mask, &out->negate);
}

void Spell(const ir::SetMarkVerdict& v, const SpellContext&, bool counter,
           std::string& out) {
  if (counter) out += "counter ";
  if (v.mask == ir::kAllBits) {
    absl::StrAppend(&out, "meta mark set ", v.value);
  } else {
    absl::StrAppend(&out, "meta mark set meta mark & ", Hex(~v.mask), " | ",
                    Hex(v.value));
  }
}

void Encode(const ir::SetMarkVerdict& v, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  if (v.mask == ir::kAllBits) {
    enc.Immediate(&v.value, 4);
  } else {
    const uint32_t keep = ~v.mask;
    enc.MetaLoad(NFT_META_MARK);
    enc.Bitwise(&keep, &v.value, 4);
  }
  enc.MetaSet(NFT_META_MARK);
}

bool Decode(ExprCursor& c, ir::SetMarkVerdict* out, bool* counter) {
  const size_t start = c.pos();
  *counter = c.Is(0, "counter");
  if (*counter) c.Advance(1);
  if (c.remaining() == 2 && c.Is(0, "immediate") && c.Is(1, "meta") &&
      AttrU32(c.Peek(1), NFTNL_EXPR_META_KEY) == NFT_META_MARK &&
      nftnl_expr_is_set(c.Peek(1), NFTNL_EXPR_META_SREG)) {
    out->value = BytesU32(AttrBytes(c.Peek(0), NFTNL_EXPR_IMM_DATA));
    out->mask = ir::kAllBits;
    c.Advance(2);
    return true;
  }
  if (c.remaining() == 3 && c.IsMetaLoad(0, NFT_META_MARK) &&
      c.Is(1, "bitwise") && c.Is(2, "meta") &&
      AttrU32(c.Peek(2), NFTNL_EXPR_META_KEY) == NFT_META_MARK &&
      nftnl_expr_is_set(c.Peek(2), NFTNL_EXPR_META_SREG)) {
    out->mask = ~BytesU32(AttrBytes(c.Peek(1), NFTNL_EXPR_BITWISE_MASK));
    out->value = BytesU32(AttrBytes(c.Peek(1), NFTNL_EXPR_BITWISE_XOR));
    c.Advance(3);
    return true;
  }
  c.Rewind(start);
  return false;
}

}  // namespace meshcap::nft
