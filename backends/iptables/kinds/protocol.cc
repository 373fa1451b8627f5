// SPDX-License-Identifier: GPL-2.0-or-later
// ir::ProtocolMatch: `-p tcp`: the entry header's protocol (IPv6 also sets
// IP6T_F_PROTO).

#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

void Spell(const ir::ProtocolMatch& m, SpellContext& ctx, std::string& out) {
  out += m.proto == ir::L4Proto::kTcp ? " -p tcp" : " -p udp";
  ctx.proto_written = true;
  ctx.proto = m.proto;
}

void Encode(const ir::ProtocolMatch& m, RuleWriter& w) {
  w.SetProtocol(m.proto);
}

bool Decode(RuleReader& r, ir::ProtocolMatch* out) {
  return r.TakeProtocol(&out->proto);
}

}  // namespace meshcap::ipt
