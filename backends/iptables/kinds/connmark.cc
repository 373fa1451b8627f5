// SPDX-License-Identifier: GPL-2.0-or-later
// The conntrack mark (xt connmark match rev 1, CONNMARK target rev 2).
// ir::ConnmarkMatch: `-m connmark --mark 1337`, `--mark 0x111/0xfff`.
// ir::SaveConnmarkVerdict: `-j CONNMARK --save-mark`.
// ir::RestoreConnmarkVerdict: `-j CONNMARK --restore-mark` (Istio's ambient
// rules spell the masks: `--nfmask 0xffffffff --ctmask 0xffffffff`).
// ir::SetConnmarkVerdict: `-j CONNMARK --set-xmark 0x111/0xfff`.

#include <linux/netfilter/xt_CONNMARK.h>
#include <linux/netfilter/xt_connmark.h>

#include "absl/strings/str_cat.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

std::string MarkText(uint32_t value, uint32_t mask);  // kinds/mark.cc

namespace {

const xt_connmark_tginfo2* Target(const RuleReader& r) {
  size_t size = 0;
  const void* d = r.Target("CONNMARK", 2, &size);
  if (d == nullptr || size < sizeof(xt_connmark_tginfo2)) return nullptr;
  return static_cast<const xt_connmark_tginfo2*>(d);
}

}  // namespace

void Spell(const ir::ConnmarkMatch& m, SpellContext&, std::string& out) {
  absl::StrAppend(&out, " -m connmark", m.negate ? " !" : "", " --mark ",
                  MarkText(m.value, m.mask));
}

void Encode(const ir::ConnmarkMatch& m, RuleWriter& w) {
  xt_connmark_mtinfo1 cm{};
  cm.mark = m.value;
  cm.mask = m.mask;
  cm.invert = m.negate ? 1 : 0;
  w.Match("connmark", 1, cm);
}

bool Decode(RuleReader& r, ir::ConnmarkMatch* out) {
  size_t size = 0;
  const void* d = r.PeekMatch("connmark", 1, &size);
  if (d == nullptr || size < sizeof(xt_connmark_mtinfo1)) return false;
  const auto& cm = *static_cast<const xt_connmark_mtinfo1*>(d);
  out->value = cm.mark;
  out->mask = cm.mask;
  out->negate = cm.invert != 0;
  r.NextMatch();
  return true;
}

void Spell(const ir::SaveConnmarkVerdict&, SpellContext&, std::string& out) {
  out += " -j CONNMARK --save-mark";
}

void Encode(const ir::SaveConnmarkVerdict&, RuleWriter& w) {
  xt_connmark_tginfo2 cm{};
  cm.ctmask = cm.nfmask = ir::kAllBits;
  cm.mode = XT_CONNMARK_SAVE;
  w.Target("CONNMARK", 2, cm);
}

bool Decode(const RuleReader& r, ir::SaveConnmarkVerdict*) {
  const xt_connmark_tginfo2* cm = Target(r);
  return cm != nullptr && cm->mode == XT_CONNMARK_SAVE &&
         cm->ctmask == ir::kAllBits && cm->nfmask == ir::kAllBits;
}

void Spell(const ir::RestoreConnmarkVerdict&, SpellContext& ctx,
           std::string& out) {
  out += " -j CONNMARK --restore-mark";
  if (ctx.profile == Profile::kAmbient) {
    out += " --nfmask 0xffffffff --ctmask 0xffffffff";
  }
}

void Encode(const ir::RestoreConnmarkVerdict&, RuleWriter& w) {
  xt_connmark_tginfo2 cm{};
  cm.ctmask = cm.nfmask = ir::kAllBits;
  cm.mode = XT_CONNMARK_RESTORE;
  w.Target("CONNMARK", 2, cm);
}

bool Decode(const RuleReader& r, ir::RestoreConnmarkVerdict*) {
  const xt_connmark_tginfo2* cm = Target(r);
  return cm != nullptr && cm->mode == XT_CONNMARK_RESTORE &&
         cm->ctmask == ir::kAllBits && cm->nfmask == ir::kAllBits;
}

void Spell(const ir::SetConnmarkVerdict& v, SpellContext&, std::string& out) {
  absl::StrAppend(&out, " -j CONNMARK --set-xmark ", Hex(v.value), "/",
                  Hex(v.mask));
}

void Encode(const ir::SetConnmarkVerdict& v, RuleWriter& w) {
  xt_connmark_tginfo2 cm{};
  cm.ctmark = v.value;
  cm.ctmask = v.mask;
  cm.nfmask = ir::kAllBits;  // unused by SET; iptables leaves its default
  cm.mode = XT_CONNMARK_SET;
  w.Target("CONNMARK", 2, cm);
}

bool Decode(const RuleReader& r, ir::SetConnmarkVerdict* out) {
  const xt_connmark_tginfo2* cm = Target(r);
  if (cm == nullptr || cm->mode != XT_CONNMARK_SET) return false;
  out->value = cm->ctmark;
  out->mask = cm->ctmask;
  return true;
}

}  // namespace meshcap::ipt
