// SPDX-License-Identifier: GPL-2.0-or-later
// The plain verdicts: `counter jump istio-output`, `counter return`,
// `counter accept`, `counter drop` (Istio's ambient jumps carry no counter).
//   [ counter pkts 0 bytes 0 ]
//   [ immediate reg 0 jump -> istio-output ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {
namespace {

// [ counter ]? [ immediate reg 0 CODE ], to the end of the rule.
bool DecodeVerdict(ExprCursor& c, int code, bool* counter, std::string* chain) {
  const size_t start = c.pos();
  *counter = c.Is(0, "counter");
  if (*counter) c.Advance(1);
  if (c.remaining() == 1 && c.Is(0, "immediate") &&
      AttrU32(c.Peek(0), NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT &&
      static_cast<int>(AttrU32(c.Peek(0), NFTNL_EXPR_IMM_VERDICT)) == code) {
    if (chain != nullptr) {
      const char* name = nftnl_expr_get_str(c.Peek(0), NFTNL_EXPR_IMM_CHAIN);
      *chain = name != nullptr ? name : "";
    }
    c.Advance(1);
    return true;
  }
  c.Rewind(start);
  return false;
}

void Plain(const char* word, bool counter, std::string& out) {
  if (counter) out += "counter ";
  out += word;
}

}  // namespace

void Spell(const ir::JumpVerdict& v, const SpellContext&, bool counter,
           std::string& out) {
  Plain("jump ", counter, out);
  out += v.chain;
}
void Encode(const ir::JumpVerdict& v, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  enc.Verdict(NFT_JUMP, &v.chain);
}
bool Decode(ExprCursor& c, ir::JumpVerdict* out, bool* counter) {
  return DecodeVerdict(c, NFT_JUMP, counter, &out->chain);
}

void Spell(const ir::ReturnVerdict&, const SpellContext&, bool counter,
           std::string& out) {
  Plain("return", counter, out);
}
void Encode(const ir::ReturnVerdict&, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  enc.Verdict(NFT_RETURN);
}
bool Decode(ExprCursor& c, ir::ReturnVerdict*, bool* counter) {
  return DecodeVerdict(c, NFT_RETURN, counter, nullptr);
}

void Spell(const ir::AcceptVerdict&, const SpellContext&, bool counter,
           std::string& out) {
  Plain("accept", counter, out);
}
void Encode(const ir::AcceptVerdict&, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  enc.Verdict(NF_ACCEPT);
}
bool Decode(ExprCursor& c, ir::AcceptVerdict*, bool* counter) {
  return DecodeVerdict(c, NF_ACCEPT, counter, nullptr);
}

void Spell(const ir::DropVerdict&, const SpellContext&, bool counter,
           std::string& out) {
  Plain("drop", counter, out);
}
void Encode(const ir::DropVerdict&, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  enc.Verdict(NF_DROP);
}
bool Decode(ExprCursor& c, ir::DropVerdict*, bool* counter) {
  return DecodeVerdict(c, NF_DROP, counter, nullptr);
}

}  // namespace meshcap::nft
