// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_nft/lower.h"

#include <libnftnl/rule.h>
#include <linux/netfilter.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "backends/iptables/dialect.h"
#include "backends/iptables_nft/xt_rule.h"

namespace meshcap::iptnft {

std::optional<BaseChainSpec> BuiltinChain(const std::string& table,
                                          const std::string& chain) {
  struct Entry {
    const char* table;
    const char* chain;
    BaseChainSpec spec;
  };
  // iptables 1.8.9, nft.c: xtables_ipv4[].
  static const Entry kChains[] = {
      {"raw", "PREROUTING", {NF_INET_PRE_ROUTING, -300, "filter"}},
      {"raw", "OUTPUT", {NF_INET_LOCAL_OUT, -300, "filter"}},
      {"mangle", "PREROUTING", {NF_INET_PRE_ROUTING, -150, "filter"}},
      {"mangle", "INPUT", {NF_INET_LOCAL_IN, -150, "filter"}},
      {"mangle", "FORWARD", {NF_INET_FORWARD, -150, "filter"}},
      {"mangle", "OUTPUT", {NF_INET_LOCAL_OUT, -150, "route"}},
      {"mangle", "POSTROUTING", {NF_INET_POST_ROUTING, -150, "filter"}},
      {"nat", "PREROUTING", {NF_INET_PRE_ROUTING, -100, "nat"}},
      {"nat", "INPUT", {NF_INET_LOCAL_IN, 100, "nat"}},
      {"nat", "OUTPUT", {NF_INET_LOCAL_OUT, -100, "nat"}},
      {"nat", "POSTROUTING", {NF_INET_POST_ROUTING, 100, "nat"}},
      {"filter", "INPUT", {NF_INET_LOCAL_IN, 0, "filter"}},
      {"filter", "FORWARD", {NF_INET_FORWARD, 0, "filter"}},
      {"filter", "OUTPUT", {NF_INET_LOCAL_OUT, 0, "filter"}},
      {"security", "INPUT", {NF_INET_LOCAL_IN, 150, "filter"}},
      {"security", "FORWARD", {NF_INET_FORWARD, 150, "filter"}},
      {"security", "OUTPUT", {NF_INET_LOCAL_OUT, 150, "filter"}},
  };
  for (const Entry& e : kChains) {
    if (table == e.table && chain == e.chain) return e.spec;
  }
  return std::nullopt;
}

uint32_t NfFamily(IpFamily f) {
  return f == IpFamily::kIpv4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

const char* FamilyName(IpFamily f) {
  return f == IpFamily::kIpv4 ? "ip" : "ip6";
}

std::string XtTable::Where() const {
  return absl::StrCat(FamilyName(family), " ", name());
}

std::vector<size_t> XtTable::ChainOrder(const std::string& chain) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].chain == chain) out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [&](size_t a, size_t b) {
    return rules[a].position < rules[b].position;
  });
  return out;
}

const XtTable* XtRuleSet::Find(IpFamily f, ir::TableKind k) const {
  for (const XtTable& t : tables) {
    if (t.family == f && t.kind == k) return &t;
  }
  return nullptr;
}

nftnl::Ptr<nftnl_rule> LowerRule(const ir::Rule& rule, IpFamily family,
                                 const std::string& table,
                                 const std::string& chain, bool tag) {
  nftnl::Ptr<nftnl_rule> r(nftnl_rule_alloc());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, NfFamily(family));
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  NftRuleWriter w(family);
  ipt::EncodeRule(rule, w);
  w.Finish(r.get(), tag);
  return r;
}

absl::StatusOr<XtRuleSet> Lower(const ir::RuleSet& rules) {
  XtRuleSet out;
  std::vector<const ir::Table*> tables;
  for (const ir::Table& t : rules.tables) tables.push_back(&t);
  // As Istio's restore input: mangle, nat, raw.
  std::sort(tables.begin(), tables.end(),
            [](const ir::Table* a, const ir::Table* b) {
              return std::string_view(ir::TableKindName(a->kind)) <
                     ir::TableKindName(b->kind);
            });
  for (IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    if (family == IpFamily::kIpv6 && !rules.ipv6) break;
    for (const ir::Table* t : tables) {
      XtTable xt;
      xt.family = family;
      xt.kind = t->kind;
      xt.profile = rules.profile;
      std::vector<const ir::RuleEntry*> entries;
      for (const ir::RuleEntry& e : t->entries) {
        if (t->FindChain(e.chain) == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("a rule of table ", t->name, " is in chain ",
                           e.chain, ", which the table does not declare"));
        }
        if (ir::ScopeHas(e.rule.scope, family)) entries.push_back(&e);
      }
      if (entries.empty()) continue;
      // `-N` lines as Istio writes them: chains with rules in input order,
      // then chains only jumped to.
      auto declare = [&](const std::string& chain) {
        if (ipt::IsBuiltinChain(chain)) return;
        if (std::find(xt.user_chains.begin(), xt.user_chains.end(), chain) ==
            xt.user_chains.end()) {
          xt.user_chains.push_back(chain);
        }
      };
      for (const ir::RuleEntry* e : entries) declare(e->chain);
      for (const ir::RuleEntry* e : entries) {
        if (const auto* j = std::get_if<ir::JumpVerdict>(&e->rule.verdict)) {
          declare(j->chain);
        }
      }
      // Each chain's rules as the restore leaves them, by input index.
      std::vector<std::pair<std::string, std::vector<int>>> order;
      auto chain_order = [&](const std::string& chain) -> std::vector<int>& {
        for (auto& [name, v] : order) {
          if (name == chain) return v;
        }
        return order.emplace_back(chain, std::vector<int>()).second;
      };
      for (const ir::RuleEntry* e : entries) {
        const bool builtin = ipt::IsBuiltinChain(e->chain);
        if (builtin) {
          if (!BuiltinChain(xt.name(), e->chain).has_value()) {
            return absl::InvalidArgumentError(absl::StrCat(
                "table ", xt.name(), " has no built-in chain ", e->chain));
          }
          if (std::find(xt.base_chains.begin(), xt.base_chains.end(),
                        e->chain) == xt.base_chains.end()) {
            xt.base_chains.push_back(e->chain);
          }
        }
        const int index = static_cast<int>(xt.rules.size());
        XtRule& r = xt.rules.emplace_back();
        r.chain = e->chain;
        r.source = &e->rule;
        r.builtin = builtin;
        r.rule = LowerRule(e->rule, family, xt.name(), e->chain, builtin);
        std::vector<int>& cur = chain_order(e->chain);
        // `-I CHAIN N`: before the rule now N-th; past the end: appended.
        const size_t at =
            e->position <= 0
                ? cur.size()
                : std::min(static_cast<size_t>(e->position - 1), cur.size());
        if (e->position == 1) {
          r.before = -1;
        } else if (at < cur.size()) {
          r.before = cur[at];
        }
        cur.insert(cur.begin() + static_cast<std::ptrdiff_t>(at), index);
      }
      for (const auto& [chain, v] : order) {
        for (size_t i = 0; i < v.size(); ++i) {
          xt.rules[static_cast<size_t>(v[i])].position =
              static_cast<int>(i) + 1;
        }
      }
      out.tables.push_back(std::move(xt));
    }
  }
  return out;
}

}  // namespace meshcap::iptnft
