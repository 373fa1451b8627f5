// SPDX-License-Identifier: GPL-2.0-or-later
// ir::TproxyVerdict: `tproxy ip to :15006 meta mark set 1337 counter
// accept` (the family is the rule's).
//   [ immediate reg 1 0x00009e3a ]
//   [ tproxy ip port reg 1 ]
//   [ immediate reg 1 0x00000539 ]
//   [ meta set mark with reg 1 ]
//   [ counter pkts 0 bytes 0 ]
//   [ immediate reg 0 accept ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

void Spell(const ir::TproxyVerdict& v, const SpellContext& ctx, bool counter,
           std::string& out) {
  absl::StrAppend(&out, "tproxy ", ctx.scope == ir::Scope::kIpv6 ? "ip6" : "ip",
                  " to :", v.port, " meta mark set ", v.mark,
                  counter ? " counter accept" : " accept");
}

void Encode(const ir::TproxyVerdict& v, bool counter, RuleEncoder& enc) {
  const uint16_t port = htons(v.port);
  enc.Immediate(&port, 2);
  enc.Tproxy(enc.scope() == ir::Scope::kIpv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
  enc.Immediate(&v.mark, 4);
  enc.MetaSet(NFT_META_MARK);
  if (counter) enc.Counter();
  enc.Verdict(NF_ACCEPT);
}

bool Decode(ExprCursor& c, ir::TproxyVerdict* out, bool* counter) {
  const size_t start = c.pos();
  if (c.Is(0, "immediate") && c.Is(1, "tproxy") && c.Is(2, "immediate") &&
      c.Is(3, "meta") &&
      AttrU32(c.Peek(3), NFTNL_EXPR_META_KEY) == NFT_META_MARK) {
    const std::string port = AttrBytes(c.Peek(0), NFTNL_EXPR_IMM_DATA);
    const std::string mark = AttrBytes(c.Peek(2), NFTNL_EXPR_IMM_DATA);
    size_t i = 4;
    *counter = c.Is(i, "counter");
    if (*counter) ++i;
    if (port.size() == 2 && mark.size() == 4 && c.remaining() == i + 1 &&
        c.Is(i, "immediate") &&
        static_cast<int>(AttrU32(c.Peek(i), NFTNL_EXPR_IMM_VERDICT)) ==
            NF_ACCEPT) {
      uint16_t p;
      memcpy(&p, port.data(), 2);
      out->port = ntohs(p);
      out->mark = BytesU32(mark);
      out->mask = ir::kAllBits;
      c.Advance(i + 1);
      return true;
    }
  }
  c.Rewind(start);
  return false;
}

}  // namespace meshcap::nft
