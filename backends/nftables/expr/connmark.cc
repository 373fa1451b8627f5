// SPDX-License-Identifier: GPL-2.0-or-later
// The conntrack mark, matched and set.
// ir::ConnmarkMatch: `ct mark 1337`; ambient `ct mark and 0xfff == 0x111`.
//   [ ct load mark => reg 1 ]
//   [ bitwise reg 1 = ( reg 1 & 0x00000fff ) ^ 0x00000000 ]
//   [ cmp eq reg 1 0x00000111 ]
// ir::SaveConnmarkVerdict: `counter ct mark set mark`.
//   [ meta load mark => reg 1 ]  [ ct set mark with reg 1 ]
// ir::RestoreConnmarkVerdict: `counter meta mark set ct mark`.
//   [ ct load mark => reg 1 ]  [ meta set mark with reg 1 ]
// ir::SetConnmarkVerdict: `counter ct mark set ct mark & 0xfffff000 |  0x111`
// (Istio's double space).
//   [ ct load mark => reg 1 ]
//   [ bitwise reg 1 = ( reg 1 & 0xfffff000 ) ^ 0x00000111 ]
//   [ ct set mark with reg 1 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

// In mark.cc: [ load ] [ bitwise ]? [ cmp ].
bool DecodeMaskedCompare(ExprCursor& c, uint32_t* value, uint32_t* mask,
                         bool* negate);

namespace {

bool IsSet(const ExprCursor& c, size_t ahead, const char* name, uint32_t key) {
  if (!c.Is(ahead, name)) return false;
  const nftnl_expr* e = c.Peek(ahead);
  const bool ct = std::string_view(name) == "ct";
  const uint16_t sreg = ct ? static_cast<uint16_t>(NFTNL_EXPR_CT_SREG)
                           : static_cast<uint16_t>(NFTNL_EXPR_META_SREG);
  const uint16_t k = ct ? static_cast<uint16_t>(NFTNL_EXPR_CT_KEY)
                        : static_cast<uint16_t>(NFTNL_EXPR_META_KEY);
  return nftnl_expr_is_set(e, sreg) && nftnl_expr_get_u32(e, k) == key;
}

// [ counter ]? then exactly the expressions `want` checks, to the end.
template <typename Check>
bool DecodeTail(ExprCursor& c, bool* counter, size_t n, Check check) {
  const size_t start = c.pos();
  *counter = c.Is(0, "counter");
  if (*counter) c.Advance(1);
  if (c.remaining() == n && check()) {
    c.Advance(n);
    return true;
  }
  c.Rewind(start);
  return false;
}

}  // namespace

void Spell(const ir::ConnmarkMatch& m, const SpellContext&, std::string& out) {
  if (m.mask == ir::kAllBits) {
    absl::StrAppend(&out, "ct mark ", m.negate ? "!= " : "", m.value);
    return;
  }
  absl::StrAppend(&out, "ct mark and ", Hex(m.mask),
                  m.negate ? " != " : " == ", Hex(m.value));
}

void Encode(const ir::ConnmarkMatch& m, RuleEncoder& enc) {
  enc.CtLoad(NFT_CT_MARK);
  if (m.mask != ir::kAllBits) {
    const uint32_t zero = 0;
    enc.Bitwise(&m.mask, &zero, 4);
  }
  enc.Cmp(m.negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &m.value, 4);
}

bool Decode(ExprCursor& c, ir::ConnmarkMatch* out) {
  if (!c.IsCtLoad(0, NFT_CT_MARK)) return false;
  return DecodeMaskedCompare(c, &out->value, &out->mask, &out->negate);
}

void Spell(const ir::SaveConnmarkVerdict&, const SpellContext&, bool counter,
           std::string& out) {
  out += counter ? "counter ct mark set mark" : "ct mark set mark";
}

void Encode(const ir::SaveConnmarkVerdict&, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  enc.MetaLoad(NFT_META_MARK);
  enc.CtSet(NFT_CT_MARK);
}

bool Decode(ExprCursor& c, ir::SaveConnmarkVerdict*, bool* counter) {
  return DecodeTail(c, counter, 2, [&] {
    return c.IsMetaLoad(0, NFT_META_MARK) && IsSet(c, 1, "ct", NFT_CT_MARK);
  });
}

void Spell(const ir::RestoreConnmarkVerdict&, const SpellContext&, bool counter,
           std::string& out) {
  out += counter ? "counter meta mark set ct mark" : "meta mark set ct mark";
}

void Encode(const ir::RestoreConnmarkVerdict&, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  enc.CtLoad(NFT_CT_MARK);
  enc.MetaSet(NFT_META_MARK);
}

bool Decode(ExprCursor& c, ir::RestoreConnmarkVerdict*, bool* counter) {
  return DecodeTail(c, counter, 2, [&] {
    return c.IsCtLoad(0, NFT_CT_MARK) && IsSet(c, 1, "meta", NFT_META_MARK);
  });
}

void Spell(const ir::SetConnmarkVerdict& v, const SpellContext&, bool counter,
           std::string& out) {
  if (counter) out += "counter ";
  absl::StrAppend(&out, "ct mark set ct mark & ", Hex(~v.mask), " |  ",
                  Hex(v.value));
}

void Encode(const ir::SetConnmarkVerdict& v, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  const uint32_t keep = ~v.mask;
  enc.CtLoad(NFT_CT_MARK);
  enc.Bitwise(&keep, &v.value, 4);
  enc.CtSet(NFT_CT_MARK);
}

bool Decode(ExprCursor& c, ir::SetConnmarkVerdict* out, bool* counter) {
  return DecodeTail(c, counter, 3, [&] {
    if (!c.IsCtLoad(0, NFT_CT_MARK) || !c.Is(1, "bitwise") ||
        !IsSet(c, 2, "ct", NFT_CT_MARK)) {
      return false;
    }
    out->mask = ~BytesU32(AttrBytes(c.Peek(1), NFTNL_EXPR_BITWISE_MASK));
    out->value = BytesU32(AttrBytes(c.Peek(1), NFTNL_EXPR_BITWISE_XOR));
    return true;
  });
}

}  // namespace meshcap::nft
