// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables/render.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/iptables/dialect.h"

namespace meshcap::ipt {

std::string Render(const ir::RuleSet& rules, IpFamily family) {
  if (family == IpFamily::kIpv6 && !rules.ipv6) return "";
  std::vector<const ir::Table*> tables;
  for (const ir::Table& t : rules.tables) tables.push_back(&t);
  std::sort(tables.begin(), tables.end(),
            [](const ir::Table* a, const ir::Table* b) {
              return std::string_view(ir::TableKindName(a->kind)) <
                     ir::TableKindName(b->kind);
            });
  std::string out;
  for (const ir::Table* t : tables) {
    std::vector<const ir::RuleEntry*> entries;
    for (const ir::RuleEntry& e : t->entries) {
      if (ir::ScopeHas(e.rule.scope, family)) entries.push_back(&e);
    }
    if (entries.empty()) continue;
    absl::StrAppend(&out, "* ", ir::TableKindName(t->kind), "\n");
    std::vector<std::string> declared;
    auto declare = [&](const std::string& chain) {
      if (IsBuiltinChain(chain)) return;
      if (std::find(declared.begin(), declared.end(), chain) !=
          declared.end()) {
        return;
      }
      declared.push_back(chain);
    };
    for (const ir::RuleEntry* e : entries) declare(e->chain);
    for (const ir::RuleEntry* e : entries) {
      if (const auto* j = std::get_if<ir::JumpVerdict>(&e->rule.verdict)) {
        declare(j->chain);
      }
    }
    for (const std::string& c : declared) absl::StrAppend(&out, "-N ", c, "\n");
    for (const ir::RuleEntry* e : entries) {
      out += RuleText(e->chain, e->position, e->rule, rules.profile, t->kind);
      out += '\n';
    }
    out += "COMMIT\n";
  }
  return out;
}

std::string Render(const ir::RuleSet& rules) {
  return Render(rules, IpFamily::kIpv4) + Render(rules, IpFamily::kIpv6);
}

}  // namespace meshcap::ipt
