// SPDX-License-Identifier: GPL-2.0-or-later
// ir::TproxyVerdict: `-j TPROXY --tproxy-mark 1337/0xffffffff --on-port
// 15006` (TPROXY rev 1).

#include <arpa/inet.h>
#include <linux/netfilter/xt_TPROXY.h>

#include "absl/strings/str_cat.h"
#include "backends/iptables/kinds.h"

namespace meshcap::ipt {

void Spell(const ir::TproxyVerdict& v, SpellContext&, std::string& out) {
  absl::StrAppend(&out, " -j TPROXY --tproxy-mark ", v.mark, "/", Hex(v.mask),
                  " --on-port ", v.port);
}

void Encode(const ir::TproxyVerdict& v, RuleWriter& w) {
  xt_tproxy_target_info_v1 tp{};
  tp.mark_mask = v.mask;
  tp.mark_value = v.mark;
  tp.lport = htons(v.port);
  w.Target("TPROXY", 1, tp);
}

bool Decode(const RuleReader& r, ir::TproxyVerdict* out) {
  size_t size = 0;
  const void* d = r.Target("TPROXY", 1, &size);
  if (d == nullptr || size < sizeof(xt_tproxy_target_info_v1)) return false;
  const auto& tp = *static_cast<const xt_tproxy_target_info_v1*>(d);
  out->mark = tp.mark_value;
  out->mask = tp.mark_mask;
  out->port = ntohs(tp.lport);
  return true;
}

}  // namespace meshcap::ipt
