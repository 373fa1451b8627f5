// SPDX-License-Identifier: GPL-2.0-or-later
// The `nft -f` transaction Istio's nftables generators run, byte for byte.

#ifndef MESHCAP_BACKENDS_NFTABLES_RENDER_H_
#define MESHCAP_BACKENDS_NFTABLES_RENDER_H_

#include <string>

#include "src/ir/rule_set.h"

namespace meshcap::nft {

// "filter", "nat", "route".
const char* ChainTypeName(ir::ChainType type);
// "prerouting", "output".
const char* HookName(ir::Hook hook);

// Per table: `add table`, `flush table`, `add chain` for each declared chain
// (base chains with type, hook and priority), then the rules in emission
// order, `insert rule ... index N` where the chain already holds more than
// N rules, `add rule` otherwise (as Istio's `addIstioTableRules` turns an
// insert past the end into an append).
std::string Render(const ir::RuleSet& rules);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_RENDER_H_
