// SPDX-License-Identifier: GPL-2.0-or-later
// ir::OwnerMatch: `-m owner --uid-owner 1337`, `! --gid-owner java` (xt
// owner rev 1).

#include <linux/netfilter/xt_owner.h>

#include "absl/strings/str_cat.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

void Spell(const ir::OwnerMatch& m, SpellContext&, std::string& out) {
  absl::StrAppend(
      &out, " -m owner", m.negate ? " !" : "",
      m.kind == ir::OwnerMatch::kUid ? " --uid-owner " : " --gid-owner ",
      m.name.empty() ? absl::StrCat(m.id) : m.name);
}

void Encode(const ir::OwnerMatch& m, RuleWriter& w) {
  xt_owner_match_info o{};
  const uint8_t bit =
      m.kind == ir::OwnerMatch::kUid ? XT_OWNER_UID : XT_OWNER_GID;
  if (m.kind == ir::OwnerMatch::kUid) {
    o.uid_min = o.uid_max = m.id;
  } else {
    o.gid_min = o.gid_max = m.id;
  }
  o.match = bit;
  o.invert = m.negate ? bit : 0;
  w.Match("owner", 1, o);
}

bool Decode(RuleReader& r, ir::OwnerMatch* out) {
  size_t size = 0;
  const void* d = r.PeekMatch("owner", 1, &size);
  if (d == nullptr || size < sizeof(xt_owner_match_info)) return false;
  const auto& o = *static_cast<const xt_owner_match_info*>(d);
  if (o.match == XT_OWNER_UID && o.uid_min == o.uid_max) {
    out->kind = ir::OwnerMatch::kUid;
    out->id = o.uid_min;
  } else if (o.match == XT_OWNER_GID && o.gid_min == o.gid_max) {
    out->kind = ir::OwnerMatch::kGid;
    out->id = o.gid_min;
  } else {
    return false;
  }
  out->name.clear();
  out->negate = o.invert != 0;
  r.NextMatch();
  return true;
}

}  // namespace meshcap::ipt
