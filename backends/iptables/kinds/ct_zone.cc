// SPDX-License-Identifier: GPL-2.0-or-later
// ir::CtZoneVerdict: `-j CT --zone 1` (CT rev 2).

#include <linux/netfilter/xt_CT.h>

#include "absl/strings/str_cat.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

void Spell(const ir::CtZoneVerdict& v, SpellContext&, std::string& out) {
  absl::StrAppend(&out, " -j CT --zone ", v.zone);
}

void Encode(const ir::CtZoneVerdict& v, RuleWriter& w) {
  xt_ct_target_info_v1 ct{};
  ct.zone = v.zone;
  w.Target("CT", 2, ct);
}

bool Decode(const RuleReader& r, ir::CtZoneVerdict* out) {
  size_t size = 0;
  const void* d = r.Target("CT", 2, &size);
  if (d == nullptr || size < sizeof(xt_ct_target_info_v1)) return false;
  const auto& ct = *static_cast<const xt_ct_target_info_v1*>(d);
  if (ct.flags != 0 || ct.helper[0] != '\0' || ct.timeout[0] != '\0') {
    return false;
  }
  out->zone = ct.zone;
  return true;
}

}  // namespace meshcap::ipt
