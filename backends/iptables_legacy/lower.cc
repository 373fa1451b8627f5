// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/lower.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "backends/iptables_legacy/kinds.h"

namespace meshcap::ipt {

const std::vector<std::string>& OurChainNames() {
  static const std::vector<std::string>* const kNames =
      new std::vector<std::string>{
          "ISTIO_DIVERT",      "ISTIO_DROP",     "ISTIO_INBOUND",
          "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT",   "ISTIO_OUTPUT_DNS",
          "ISTIO_PRERT",       "ISTIO_REDIRECT", "ISTIO_TPROXY"};
  return *kNames;
}

bool IsOurChain(const std::string& name) {
  const auto& ours = OurChainNames();
  return std::find(ours.begin(), ours.end(), name) != ours.end();
}

bool IsBuiltinChain(const std::string& name) {
  return name == "PREROUTING" || name == "OUTPUT" || name == "INPUT" ||
         name == "FORWARD" || name == "POSTROUTING";
}

std::vector<uint8_t> LowerRule(const ir::Rule& rule, IpFamily family) {
  EntryWriter w(family);
  for (const ir::Match& m : rule.matches) {
    std::visit([&](const auto& x) { Encode(x, w); }, m);
  }
  std::visit([&](const auto& v) { Encode(v, w); }, rule.verdict);
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

std::string RuleText(const std::string& chain, int position,
                     const ir::Rule& rule, Profile profile,
                     ir::TableKind table) {
  std::string out = position > 0 ? absl::StrCat("-I ", chain, " ", position)
                                 : absl::StrCat("-A ", chain);
  SpellContext ctx;
  ctx.profile = profile;
  ctx.table = table;
  for (const ir::Match& m : rule.matches) {
    std::visit([&](const auto& x) { Spell(x, ctx, out); }, m);
  }
  // The verdict sees the rule's protocol (UDP redirects say --to-port).
  std::visit([&](const auto& v) { Spell(v, ctx, out); }, rule.verdict);
  return out;
}

}  // namespace meshcap::ipt
