// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/ir/rule_set.h"

#include <string.h>

#include <algorithm>

namespace meshcap::ir {

const char* TableKindName(TableKind t) {
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

const ChainSpec* Table::FindChain(const std::string& chain) const {
  for (const ChainSpec& c : chains) {
    if (c.name == chain) return &c;
  }
  return nullptr;
}

const NamedSet* Table::FindSet(const std::string& set) const {
  for (const NamedSet& s : sets) {
    if (s.name == set) return &s;
  }
  return nullptr;
}

std::vector<Cidr> MergePrefixes(std::vector<Cidr> cidrs) {
  // By address, then shorter prefixes first: a prefix's sub-prefixes
  // follow it, before anything disjoint from it.
  auto before = [](const Cidr& a, const Cidr& b) {
    const int c = memcmp(a.bytes().data(), b.bytes().data(), a.bytes().size());
    return c != 0 ? c < 0 : a.prefix_len() < b.prefix_len();
  };
  // Long lists usually come sorted.
  if (!std::is_sorted(cidrs.begin(), cidrs.end(), before)) {
    std::sort(cidrs.begin(), cidrs.end(), before);
  }
  std::vector<Cidr> out;
  for (Cidr& c : cidrs) {
    if (!out.empty() && out.back().Contains(c)) continue;
    out.push_back(std::move(c));
  }
  return out;
}

bool SetHoldsAddress(const NamedSet& set, const Cidr& addr) {
  for (const Cidr& c : set.cidrs) {
    if (c.family() == addr.family() && c.Contains(addr)) return true;
  }
  return false;
}

bool SetHoldsPort(const NamedSet& set, uint16_t port) {
  return std::binary_search(set.ports.begin(), set.ports.end(), port);
}

const Table* RuleSet::FindTable(TableKind kind) const {
  for (const Table& t : tables) {
    if (t.kind == kind) return &t;
  }
  return nullptr;
}

std::vector<const Rule*> ResolveChain(const Table& table,
                                      const std::string& chain,
                                      std::optional<IpFamily> family) {
  std::vector<const Rule*> out;
  for (const RuleEntry& e : table.entries) {
    if (e.chain != chain) continue;
    if (family.has_value() && !ScopeHas(e.rule.scope, *family)) continue;
    const size_t at =
        e.position <= 0
            ? out.size()
            : std::min(static_cast<size_t>(e.position - 1), out.size());
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), &e.rule);
  }
  return out;
}

}  // namespace meshcap::ir
