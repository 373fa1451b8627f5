// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/rule_set.h"

#include <algorithm>

namespace meshcap {

const char* TableName(TableKind t) {
  switch (t) {
    case TableKind::kNat:
      return "nat";
    case TableKind::kMangle:
      return "mangle";
    case TableKind::kRaw:
      return "raw";
  }
  return "?";
}

std::string NftablesTableName(TableKind t) {
  return std::string("istio-proxy-") + TableName(t);
}

std::string NftablesChainName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '_') {
      c = '-';
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

const ChainSpec* Table::FindChain(const std::string& name) const {
  for (const ChainSpec& c : chains)
    if (c.name == name) return &c;
  return nullptr;
}

const Table* RuleSet::FindTable(TableKind kind) const {
  for (const Table& t : tables)
    if (t.kind == kind) return &t;
  return nullptr;
}

std::vector<const Rule*> ResolveChain(const Table& table,
                                      const std::string& chain,
                                      IpFamily family) {
  std::vector<const Rule*> out;
  for (const RuleEntry& e : table.entries) {
    if (e.chain != chain || !ScopeHas(e.rule.scope, family)) continue;
    if (e.position <= 0) {
      out.push_back(&e.rule);
    } else {
      size_t at = std::min(static_cast<size_t>(e.position - 1), out.size());
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), &e.rule);
    }
  }
  return out;
}

}  // namespace meshcap
