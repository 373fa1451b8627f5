// SPDX-License-Identifier: GPL-2.0-or-later
// ir::AddressMatch: `-s 127.0.0.6/32`, `! -d ::1/128`: the entry header's
// address and mask, IPT_INV_SRCIP/DSTIP when negated.

#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

void Spell(const ir::AddressMatch& m, SpellContext&, std::string& out) {
  if (m.negate) out += " !";
  out += m.dir == ir::Direction::kSource ? " -s " : " -d ";
  out += m.cidr.Text();
}

void Encode(const ir::AddressMatch& m, RuleWriter& w) {
  w.SetAddress(m.dir, m.cidr, m.negate);
}

bool Decode(RuleReader& r, ir::AddressMatch* out) {
  return r.TakeAddress(&out->dir, &out->cidr, &out->negate);
}

}  // namespace meshcap::ipt
