// SPDX-License-Identifier: GPL-2.0-or-later
// ir::CtStateMatch: `-m conntrack --ctstate RELATED,ESTABLISHED`
// (conntrack rev 3, state only).

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_conntrack.h>

#include <vector>

#include "absl/strings/str_join.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {
namespace {

struct StateBit {
  ir::CtState state;
  uint16_t bit;
  const char* name;
};

constexpr StateBit kStates[] = {
    {ir::CtState::kInvalid, XT_CONNTRACK_STATE_INVALID, "INVALID"},
    {ir::CtState::kNew, XT_CONNTRACK_STATE_BIT(IP_CT_NEW), "NEW"},
    {ir::CtState::kRelated, XT_CONNTRACK_STATE_BIT(IP_CT_RELATED), "RELATED"},
    {ir::CtState::kEstablished, XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED),
     "ESTABLISHED"},
};

const StateBit& Find(ir::CtState s) {
  for (const StateBit& b : kStates) {
    if (b.state == s) return b;
  }
  return kStates[0];
}

}  // namespace

void Spell(const ir::CtStateMatch& m, SpellContext&, std::string& out) {
  std::vector<const char*> names;
  for (ir::CtState s : m.states) names.push_back(Find(s).name);
  out += " -m conntrack --ctstate " + absl::StrJoin(names, ",");
}

void Encode(const ir::CtStateMatch& m, RuleWriter& w) {
  xt_conntrack_mtinfo3 ct{};
  ct.match_flags = XT_CONNTRACK_STATE;
  for (ir::CtState s : m.states) ct.state_mask |= Find(s).bit;
  w.Match("conntrack", 3, ct);
}

bool Decode(RuleReader& r, ir::CtStateMatch* out) {
  size_t size = 0;
  const void* d = r.PeekMatch("conntrack", 3, &size);
  if (d == nullptr || size < sizeof(xt_conntrack_mtinfo3)) return false;
  const auto& ct = *static_cast<const xt_conntrack_mtinfo3*>(d);
  if (ct.match_flags != XT_CONNTRACK_STATE || ct.invert_flags != 0) {
    return false;
  }
  out->states.clear();
  uint16_t known = 0;
  for (ir::CtState s : {ir::CtState::kInvalid, ir::CtState::kRelated,
                        ir::CtState::kEstablished, ir::CtState::kNew}) {
    if (ct.state_mask & Find(s).bit) {
      out->states.push_back(s);
      known |= Find(s).bit;
    }
  }
  if (known != ct.state_mask || out->states.empty()) return false;
  r.NextMatch();
  return true;
}

}  // namespace meshcap::ipt
