// SPDX-License-Identifier: GPL-2.0-or-later
// Comparing what the kernel holds with what Lower() makes, expression by
// expression: for Verify, and for Apply to send only what changed.

#ifndef MESHCAP_BACKENDS_NFTABLES_COMPARE_H_
#define MESHCAP_BACKENDS_NFTABLES_COMPARE_H_

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

// A whole table of ours that should not be there, as a difference.
Difference ExtraTable(const KernelTable& have);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_COMPARE_H_
