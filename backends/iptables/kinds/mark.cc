// SPDX-License-Identifier: GPL-2.0-or-later
// The packet mark.
// ir::MarkMatch: `-m mark --mark 1337` (sidecar, decimal, full mask),
// `-m mark ! --mark 0x539/0xfff` (ambient) (xt mark rev 1).
// ir::SetMarkVerdict: `-j MARK --set-mark 1338` (MARK rev 2; iptables
// stores --set-mark V as mark V, mask V | 0xffffffff).

#include <linux/netfilter/xt_MARK.h>
#include <linux/netfilter/xt_mark.h>

#include "absl/strings/str_cat.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

// "1337" with a full mask (as Istio's sidecar rules say), else
// "0x539/0xfff" (as its ambient rules say).
std::string MarkText(uint32_t value, uint32_t mask) {
  if (mask == ir::kAllBits) return absl::StrCat(value);
  return absl::StrCat(Hex(value), "/", Hex(mask));
}

void Spell(const ir::MarkMatch& m, SpellContext&, std::string& out) {
  absl::StrAppend(&out, " -m mark", m.negate ? " !" : "", " --mark ",
                  MarkText(m.value, m.mask));
}

void Encode(const ir::MarkMatch& m, RuleWriter& w) {
  xt_mark_mtinfo1 mk{};
  mk.mark = m.value;
  mk.mask = m.mask;
  mk.invert = m.negate ? 1 : 0;
  w.Match("mark", 1, mk);
}

bool Decode(RuleReader& r, ir::MarkMatch* out) {
  size_t size = 0;
  const void* d = r.PeekMatch("mark", 1, &size);
  if (d == nullptr || size < sizeof(xt_mark_mtinfo1)) return false;
  const auto& mk = *static_cast<const xt_mark_mtinfo1*>(d);
  out->value = mk.mark;
  out->mask = mk.mask;
  out->negate = mk.invert != 0;
  r.NextMatch();
  return true;
}

void Spell(const ir::SetMarkVerdict& v, SpellContext&, std::string& out) {
  if (v.mask == ir::kAllBits) {
    absl::StrAppend(&out, " -j MARK --set-mark ", v.value);
  } else {
    absl::StrAppend(&out, " -j MARK --set-xmark ", Hex(v.value), "/",
                    Hex(v.mask));
  }
}

void Encode(const ir::SetMarkVerdict& v, RuleWriter& w) {
  xt_mark_tginfo2 mk{};
  mk.mark = v.value;
  mk.mask = v.mask;
  w.Target("MARK", 2, mk);
}

bool Decode(const RuleReader& r, ir::SetMarkVerdict* out) {
  size_t size = 0;
  const void* d = r.Target("MARK", 2, &size);
  if (d == nullptr || size < sizeof(xt_mark_tginfo2)) return false;
  const auto& mk = *static_cast<const xt_mark_tginfo2*>(d);
  out->value = mk.mark;
  out->mask = mk.mask;
  return true;
}

}  // namespace meshcap::ipt
