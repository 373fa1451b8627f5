// SPDX-License-Identifier: GPL-2.0-or-later
// ir::RedirectVerdict: `counter redirect to :15001`.
//   [ counter pkts 0 bytes 0 ]
//   [ immediate reg 1 0x0000993a ]
//   [ redir proto_min reg 1 flags 0x2 ]

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "backends/nftables/expr/kinds.h"

namespace meshcap::nft {

void Spell(const ir::RedirectVerdict& v, const SpellContext&, bool counter,
           std::string& out) {
  absl::StrAppend(&out, counter ? "counter " : "", "redirect to :", v.port);
}

void Encode(const ir::RedirectVerdict& v, bool counter, RuleEncoder& enc) {
  if (counter) enc.Counter();
  const uint16_t port = htons(v.port);
  enc.Immediate(&port, 2);
  enc.Redirect();
}

bool Decode(ExprCursor& c, ir::RedirectVerdict* out, bool* counter) {
  const size_t start = c.pos();
  *counter = c.Is(0, "counter");
  if (*counter) c.Advance(1);
  if (c.remaining() == 2 && c.Is(0, "immediate") && c.Is(1, "redir")) {
    const std::string data = AttrBytes(c.Peek(0), NFTNL_EXPR_IMM_DATA);
    if (data.size() == 2 && AttrU32(c.Peek(1), NFTNL_EXPR_REDIR_FLAGS) ==
                                NF_NAT_RANGE_PROTO_SPECIFIED) {
      uint16_t port;
      memcpy(&port, data.data(), 2);
      out->port = ntohs(port);
      c.Advance(2);
      return true;
    }
  }
  c.Rewind(start);
  return false;
}

}  // namespace meshcap::nft
