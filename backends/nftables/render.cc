// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/render.h"

#include <arpa/inet.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "backends/nftables/lower.h"

namespace meshcap::nft {
namespace {

constexpr size_t kElementsPerLine = 1000;

}  // namespace

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
    for (const ir::NamedSet& set : t.sets) {
      const bool ports = set.key == ir::NamedSet::Key::kPort;
      absl::StrAppend(&out, "add set inet ", t.name, " ", set.name, " { type ",
                      ports
                          ? "inet_service"
                          : (set.key == ir::NamedSet::Key::kIpv4 ? "ipv4_addr"
                                                                 : "ipv6_addr"),
                      ports ? "" : "; flags interval", "; }\n");
      absl::StrAppend(&out, "flush set inet ", t.name, " ", set.name, "\n");
      // A line per 1,000 elements.
      const size_t n = ports ? set.ports.size() : set.cidrs.size();
      for (size_t i = 0; i < n; i += kElementsPerLine) {
        absl::StrAppend(&out, "add element inet ", t.name, " ", set.name,
                        " { ");
        for (size_t j = i; j < n && j < i + kElementsPerLine; ++j) {
          if (j > i) out += ", ";
          if (ports) {
            absl::StrAppend(&out, set.ports[j]);
          } else {
            out += set.cidrs[j].ToString();
          }
        }
        out += " }\n";
      }
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
