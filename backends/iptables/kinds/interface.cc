// SPDX-License-Identifier: GPL-2.0-or-later
// ir::InterfaceMatch: `-i eth0`, `! -o lo`: the entry header's interface
// name and mask (name plus its NUL), IPT_INV_VIA_IN/OUT when negated.

#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

void Spell(const ir::InterfaceMatch& m, SpellContext&, std::string& out) {
  if (m.negate) out += " !";
  out += m.dir == ir::Direction::kSource ? " -i " : " -o ";
  out += m.name;
}

void Encode(const ir::InterfaceMatch& m, RuleWriter& w) {
  w.SetInterface(m.dir, m.name, m.negate);
}

bool Decode(RuleReader& r, ir::InterfaceMatch* out) {
  return r.TakeInterface(&out->dir, &out->name, &out->negate);
}

}  // namespace meshcap::ipt
