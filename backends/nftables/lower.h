// SPDX-License-Identifier: GPL-2.0-or-later
// Lowering an nftables-dialect RuleSet to libnftnl objects: tables, chains,
// anonymous port sets and rules whose expressions are exactly those `nft`
// emits for Istio's `nft -f` text (expr/*.cc), so that the kernel ends up
// holding the same bytecode.

#ifndef MESHCAP_BACKENDS_NFTABLES_LOWER_H_
#define MESHCAP_BACKENDS_NFTABLES_LOWER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/nftables/expr/codec.h"
#include "src/ir/rule_set.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;

namespace meshcap::nft {

template <typename T>
using NftnlPtr = nftnl::Ptr<T>;

// Every inet table that is ours, whatever the profile: a policy replaces
// whichever of them exist.
const std::vector<std::string>& OurTableNames();

struct LoweredSet {
  uint32_t id = 0;  // NFTA_SET_ID, unique within a batch
  // The keys as the kernel stores them (big-endian ports), sorted.
  std::vector<std::string> keys;
  NftnlPtr<nftnl_set> set;  // with its elements
};

struct LoweredRule {
  std::string chain;
  int position = 0;  // 1-based within the chain
  const ir::Rule* source = nullptr;
  SpellContext context;
  NftnlPtr<nftnl_rule> rule;
  // For each expression of `rule`, the index of the match of `source` it
  // came from, or kOriginCounter / kOriginVerdict.
  std::vector<int16_t> expr_origins;
  std::vector<size_t> sets;  // indices into LoweredTable::sets
};

struct LoweredChain {
  const ir::ChainSpec* spec = nullptr;
  NftnlPtr<nftnl_chain> chain;
};

struct LoweredTable {
  const ir::Table* source = nullptr;
  Profile profile = Profile::kSidecar;
  NftnlPtr<nftnl_table> table;
  std::vector<LoweredChain> chains;
  std::vector<LoweredSet> sets;
  std::vector<LoweredRule> rules;  // chain by chain, each in final order

  const std::string& name() const { return source->name; }
};

struct LoweredRuleSet {
  const ir::RuleSet* source = nullptr;
  std::vector<LoweredTable> tables;

  const LoweredTable* Find(const std::string& name) const;
};

// Lowers `rules` (nftables dialect). Fails with kInvalidArgument on IR that
// no kernel could take (a rule in an undeclared chain).
[[nodiscard]] absl::StatusOr<LoweredRuleSet> Lower(const ir::RuleSet& rules);

// Lowers one rule into `out` (whose chain, position, source and context are
// set), registering its port sets in `table`. Exposed for the golden tests.
void LowerRule(LoweredTable& table, LoweredRule& out, uint32_t* next_set_id);

// The text of the IR item expression `expr` of `rule` came from: "ip daddr
// != 127.0.0.1/32", "counter", "jump istio-output".
std::string OriginText(const LoweredRule& rule, size_t expr);

// The rule as Istio's generator writes it, without `add rule ...`.
std::string RuleText(const ir::Rule& rule, const SpellContext& ctx);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_LOWER_H_
