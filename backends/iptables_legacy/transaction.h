// SPDX-License-Identifier: GPL-2.0-or-later
//
// One change to the legacy tables of a namespace, made safe although the
// kernel commits table by table.
//
// The tables that change (ours differs from the new policy's; unchanged
// tables are not touched) are committed in three phases:
//   1. detach: every changing table but the biggest, L, loses ours;
//   2. switch: L gets its new content in one commit;
//   3. attach: every other table that wants ours gets it.
// At any moment the tables in force hold ours of one policy only: a subset
// of the old one (phase 1), then of the new one (phases 2 and 3), never
// both. L, the costly table (foreign rules live there), is written once.
//
// A failure before or at the switch puts every table committed so far back
// from its raw snapshot: the kernel holds the old state. A failure after it
// leaves a subset of the new policy and the intent record, and says so.
// The intent record (src/intent.h) is on disk from before the first commit
// to after the last, for a process killed in between.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_TRANSACTION_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_TRANSACTION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "backends/iptables_legacy/lower.h"
#include "src/intent.h"

namespace meshcap::ipt {

// Makes the namespace's legacy tables hold exactly `want` of ours (the
// lowered tables of both families; empty: nothing of ours). Appends one
// line per table changed to `changes`. The caller holds the namespace lock
// and the xtables lock.
[[nodiscard]] absl::Status Transact(const std::vector<LoweredTable>& want,
                                    internal::IntentRecord& intent,
                                    std::vector<std::string>* changes);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_TRANSACTION_H_
