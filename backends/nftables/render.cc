// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/render.h"

#include <arpa/inet.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "backends/nftables/lower.h"

namespace meshcap::nft {

const char* ChainTypeName(ir::ChainType type) {
  switch (type) {
    case ir::ChainType::kFilter:
      return "filter";
    case ir::ChainType::kNat:
      return "nat";
    case ir::ChainType::kRoute:
      return "route";
  }
  return "filter";
}

const char* HookName(ir::Hook hook) {
  return hook == ir::Hook::kPrerouting ? "prerouting" : "output";
}

std::string Render(const ir::RuleSet& rules) {
  std::string out;
  for (const ir::Table& t : rules.tables) {
    absl::StrAppend(&out, "add table inet ", t.name, "\n");
    absl::StrAppend(&out, "flush table inet ", t.name, "\n");
    for (const ir::ChainSpec& c : t.chains) {
      absl::StrAppend(&out, "add chain inet ", t.name, " ", c.name);
      if (c.is_base()) {
        absl::StrAppend(&out, " { type ", ChainTypeName(c.type), " hook ",
                        HookName(*c.hook), " priority ", c.priority, " ; }");
      }
      out += '\n';
    }
    std::map<std::string, int> count;
    for (const ir::RuleEntry& e : t.entries) {
      int& n = count[e.chain];
      const int index = e.position - 1;
      if (e.position > 0 && n > 0 && index < n) {
        absl::StrAppend(&out, "insert rule inet ", t.name, " ", e.chain,
                        " index ", index);
      } else {
        absl::StrAppend(&out, "add rule inet ", t.name, " ", e.chain);
      }
      out += ' ';
      out += RuleText(
          e.rule, SpellContext{rules.profile, t.kind, e.chain, e.rule.scope});
      out += '\n';
      ++n;
    }
  }
  return out;
}

}  // namespace meshcap::nft
