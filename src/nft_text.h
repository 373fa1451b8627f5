// SPDX-License-Identifier: GPL-2.0-or-later
// nftables spellings and chain order shared by the `nft -f` renderer and the
// netlink backend.

#ifndef MESHCAP_SRC_NFT_TEXT_H_
#define MESHCAP_SRC_NFT_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "meshcap/rule_set.h"

namespace meshcap::internal {

// "filter", "nat", "route".
const char* NftChainTypeName(ChainType type);
// "prerouting", "output".
const char* NftHookName(Hook hook);

// "tcp dport != { 53, 15008 }".
std::string NftMatchText(const Match& match);
// "counter redirect to :15001"; the scope picks `tproxy ip` or `tproxy ip6`.
std::string NftVerdictText(const Verdict& verdict, Scope scope);
// The rule as `nft list` prints it, without counter values.
std::string NftRuleText(const Rule& rule);

// The rules of each chain of `table` (by iptables-style chain name) in the
// order the `nft -f` transaction leaves them: an insert at an index the
// chain does not have yet becomes an append, as in Istio.
std::map<std::string, std::vector<const Rule*>> NftChainRules(
    const Table& table);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NFT_TEXT_H_
