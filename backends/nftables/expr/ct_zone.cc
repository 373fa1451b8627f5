// SPDX-License-Identifier: GPL-2.0-or-later
// ir::CtZoneVerdict: `counter ct zone set 1`.
//   [ counter pkts 0 bytes 0 ]
//   [ immediate reg 1 0x00000001 ]
//   [ ct set zone with reg 1 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

void Spell(const ir::CtZoneVerdict& v, const SpellContext&, bool counter,
           std::string& out) {
  absl::StrAppend(&out, counter ? "counter " : "", "ct zone set ", v.zone);
}

void Encode(const ir::CtZoneVerdict& v, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  enc.Immediate(&v.zone, 2);
  enc.CtSet(NFT_CT_ZONE);
}

bool Decode(ExprCursor& c, ir::CtZoneVerdict* out, bool* counter) {
  const size_t start = c.pos();
  *counter = c.Is(0, "counter");
  if (*counter) c.Advance(1);
  if (c.remaining() == 2 && c.Is(0, "immediate") && c.Is(1, "ct") &&
      AttrU32(c.Peek(1), NFTNL_EXPR_CT_KEY) == NFT_CT_ZONE &&
      nftnl_expr_is_set(c.Peek(1), NFTNL_EXPR_CT_SREG)) {
    const std::string data = AttrBytes(c.Peek(0), NFTNL_EXPR_IMM_DATA);
    if (data.size() == 2) {
      memcpy(&out->zone, data.data(), 2);
      c.Advance(2);
      return true;
    }
  }
  c.Rewind(start);
  return false;
}

}  // namespace meshcap::nft
