// SPDX-License-Identifier: GPL-2.0-or-later
// Comparing what the kernel holds with what Lower() makes, expression by
// expression: for Verify, and for Apply to send only what changed.

#ifndef MESHCAP_BACKENDS_NFTABLES_COMPARE_H_
#define MESHCAP_BACKENDS_NFTABLES_COMPARE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/nftables/lower.h"
#include "backends/nftables/read.h"
#include "meshcap/engine.h"

namespace meshcap::nft {

// Whether `have` holds exactly `want`: the same chains (hook, priority,
// type) and in each the same rules in the same order (expressions and
// their data; port sets by contents; counter values ignored). With `out`,
// every difference is appended to it.
bool CompareTable(const LoweredTable& want, const KernelTable& have,
                  std::vector<Difference>* out);

// The chains of `want` whose rules differ from `have`'s, when the two
// tables have the same chains with the same hooks, priorities and types
// (so that replacing those chains' rules makes `have` equal `want`);
// nullopt when the chains themselves differ and the table must be
// replaced whole. Empty: the tables are equal.
std::optional<std::vector<const LoweredChain*>> ChangedChains(
    const LoweredTable& want, const KernelTable& have);

// The same against a table this backend lowered and committed before (when
// the kernel is known to still hold exactly that): no kernel read.
std::optional<std::vector<const LoweredChain*>> ChangedChains(
    const LoweredTable& want, const LoweredTable& before);

// How a chain's rules become the wanted ones in place: the rules to delete
// (by kernel handle) and the wanted rules to insert, each after a kept rule
// (or at the head), so that rules that stay keep their counters.
struct ChainEdit {
  const LoweredChain* chain = nullptr;
  std::vector<uint64_t> deletes;
  struct Insert {
    const LoweredRule* rule;
    std::optional<uint64_t> after;  // none: at the head of the chain
  };
  std::vector<Insert> inserts;  // in the order to send them
};

// The edit of `chain` (of `want`) against what `have` holds in it.
ChainEdit EditChain(const LoweredTable& want, const LoweredChain& chain,
                    const KernelTable& have);

// The same against the rules of `before` that the kernel holds with
// `handles` (one per rule of that chain, in order).
ChainEdit EditChain(const LoweredTable& want, const LoweredChain& chain,
                    const LoweredTable& before,
                    const std::vector<uint64_t>& handles);

// How a named set's elements become the wanted ones (canonical keys).
struct SetEdit {
  const LoweredNamedSet* set = nullptr;
  std::vector<std::string> add;
  std::vector<std::string> remove;
};

// The element edits that make `have`'s named sets `want`'s (only sets that
// differ); nullopt when the sets themselves differ (a name, a type, a
// flag) and the table must be replaced whole.
std::optional<std::vector<SetEdit>> EditSets(const LoweredTable& want,
                                             const KernelTable& have);
// The same against a table this backend lowered and committed before.
std::optional<std::vector<SetEdit>> EditSets(const LoweredTable& want,
                                             const LoweredTable& before);

// A whole table of ours that should not be there, as a difference.
Difference ExtraTable(const KernelTable& have);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_COMPARE_H_
