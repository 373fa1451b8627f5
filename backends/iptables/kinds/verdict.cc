// SPDX-License-Identifier: GPL-2.0-or-later
// The standard verdicts: `-j ISTIO_OUTPUT`, `-j RETURN`, `-j ACCEPT`,
// `-j DROP`. The entry names them; libiptc turns the name into the
// verdict or the jump offset.

#include "backends/iptables/kinds.h"

namespace meshcap::ipt {
namespace {

bool Is(const RuleReader& r, const char* name) {
  return r.standard() != nullptr && std::string_view(r.standard()) == name;
}

}  // namespace

void Spell(const ir::JumpVerdict& v, SpellContext&, std::string& out) {
  out += " -j " + v.chain;
}
void Encode(const ir::JumpVerdict& v, RuleWriter& w) { w.Standard(v.chain); }
bool Decode(const RuleReader& r, ir::JumpVerdict* out) {
  if (r.standard() == nullptr) return false;
  const std::string_view s = r.standard();
  if (s == "RETURN" || s == "ACCEPT" || s == "DROP" || s == "QUEUE" ||
      s.empty()) {
    return false;
  }
  out->chain = std::string(s);
  return true;
}

void Spell(const ir::ReturnVerdict&, SpellContext&, std::string& out) {
  out += " -j RETURN";
}
void Encode(const ir::ReturnVerdict&, RuleWriter& w) { w.Standard("RETURN"); }
bool Decode(const RuleReader& r, ir::ReturnVerdict*) { return Is(r, "RETURN"); }

void Spell(const ir::AcceptVerdict&, SpellContext&, std::string& out) {
  out += " -j ACCEPT";
}
void Encode(const ir::AcceptVerdict&, RuleWriter& w) { w.Standard("ACCEPT"); }
bool Decode(const RuleReader& r, ir::AcceptVerdict*) { return Is(r, "ACCEPT"); }

void Spell(const ir::DropVerdict&, SpellContext&, std::string& out) {
  out += " -j DROP";
}
void Encode(const ir::DropVerdict&, RuleWriter& w) { w.Standard("DROP"); }
bool Decode(const RuleReader& r, ir::DropVerdict*) { return Is(r, "DROP"); }

}  // namespace meshcap::ipt
