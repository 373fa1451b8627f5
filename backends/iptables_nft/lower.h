// SPDX-License-Identifier: GPL-2.0-or-later
//
// Lowering an iptables-dialect RuleSet to what `iptables-nft-restore
// --noflush` of Istio's rules makes in the kernel: per family, the tables
// `ip|ip6 mangle, nat, raw` that have rules, their user chains in `-N`
// order, the built-in chains a rule uses as base chains with
// iptables-nft's hooks, priorities and types, and each rule as its
// nf_tables expressions (xt_rule.h), in the order the restore adds them
// (so that the kernel hands out the same handles).

#ifndef MESHCAP_BACKENDS_IPTABLES_NFT_LOWER_H_
#define MESHCAP_BACKENDS_IPTABLES_NFT_LOWER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/nftnl/nftnl.h"
#include "src/ir/rule_set.h"

namespace meshcap::iptnft {

// A built-in chain as iptables-nft 1.8.9 makes it (nft-shared.c's
// builtin_table): hook, priority and type.
struct BaseChainSpec {
  uint32_t hook = 0;  // NF_INET_*
  int32_t priority = 0;
  const char* type = "filter";
};
// The spec of built-in chain `chain` in table `table` ("nat", "mangle",
// "raw", "filter", "security"), or nullopt when there is none.
std::optional<BaseChainSpec> BuiltinChain(const std::string& table,
                                          const std::string& chain);

// NFPROTO_IPV4 / NFPROTO_IPV6, and "ip" / "ip6".
uint32_t NfFamily(IpFamily f);
const char* FamilyName(IpFamily f);

struct XtRule {
  std::string chain;
  // 1-based, in the chain's final order (among ours).
  int position = 0;
  const ir::Rule* source = nullptr;
  // In a built-in chain: carries meshcap's tag.
  bool builtin = false;
  // Where the batch adds it: appended (nullopt), at the chain's head (-1),
  // or before rules[*before] of the same table.
  std::optional<int> before;
  // Family, table, chain, expressions, NFTA_RULE_COMPAT, the tag.
  nftnl::Ptr<nftnl_rule> rule;
};

struct XtTable {
  IpFamily family = IpFamily::kIpv4;
  ir::TableKind kind = ir::TableKind::kNat;
  Profile profile = Profile::kSidecar;
  std::vector<std::string> user_chains;  // `-N` order
  std::vector<std::string> base_chains;  // first use, in input order
  std::vector<XtRule> rules;             // input order

  const char* name() const { return ir::TableKindName(kind); }
  // "ip nat".
  std::string Where() const;
  // Indices into `rules` of the chain's rules, in final order.
  std::vector<size_t> ChainOrder(const std::string& chain) const;
};

struct XtRuleSet {
  std::vector<XtTable> tables;  // ip mangle, nat, raw, then ip6

  const XtTable* Find(IpFamily f, ir::TableKind k) const;
};

// One rule of `family` as a fresh nftnl_rule in `table`/`chain`.
nftnl::Ptr<nftnl_rule> LowerRule(const ir::Rule& rule, IpFamily family,
                                 const std::string& table,
                                 const std::string& chain, bool tag);

[[nodiscard]] absl::StatusOr<XtRuleSet> Lower(const ir::RuleSet& rules);

}  // namespace meshcap::iptnft

#endif  // MESHCAP_BACKENDS_IPTABLES_NFT_LOWER_H_
