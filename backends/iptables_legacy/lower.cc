// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/lower.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace meshcap::ipt {

std::vector<uint8_t> LowerRule(const ir::Rule& rule, IpFamily family) {
  EntryWriter w(family);
  EncodeRule(rule, w);
  return w.Take();
}

absl::StatusOr<std::vector<LoweredTable>> Lower(const ir::RuleSet& rules,
                                                IpFamily family) {
  std::vector<LoweredTable> out;
  if (family == IpFamily::kIpv6 && !rules.ipv6) return out;
  for (const ir::Table& t : rules.tables) {
    LoweredTable lt;
    lt.kind = t.kind;
    lt.family = family;
    lt.profile = rules.profile;
    for (const ir::RuleEntry& e : t.entries) {
      if (t.FindChain(e.chain) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("a rule of table ", t.name, " is in chain ", e.chain,
                         ", which the table does not declare"));
      }
    }
    // A user chain exists in this family when one of this family's rules
    // is in it or jumps to it (as `-N` in Istio's restore input).
    auto needed = [&](const std::string& chain) {
      for (const ir::RuleEntry& e : t.entries) {
        if (!ir::ScopeHas(e.rule.scope, family)) continue;
        const auto* j = std::get_if<ir::JumpVerdict>(&e.rule.verdict);
        if (e.chain == chain || (j != nullptr && j->chain == chain)) {
          return true;
        }
      }
      return false;
    };
    bool any = false;
    for (const ir::ChainSpec& c : t.chains) {
      const std::vector<const ir::Rule*> chain_rules =
          ir::ResolveChain(t, c.name, family);
      if (!IsBuiltinChain(c.name) && needed(c.name)) {
        lt.user_chains.push_back(c.name);
      }
      int position = 0;
      for (const ir::Rule* r : chain_rules) {
        LoweredEntry& e = lt.entries.emplace_back();
        e.chain = c.name;
        e.position = ++position;
        e.source = r;
        e.bytes = LowerRule(*r, family);
        any = true;
      }
    }
    // A family whose rules of this table are all of the other family
    // leaves the table alone.
    if (any) out.push_back(std::move(lt));
  }
  return out;
}

}  // namespace meshcap::ipt
