// SPDX-License-Identifier: GPL-2.0-or-later
// Explain on a rule set already compiled, for the cross-check's packet
// generator, which explains thousands of packets per rule set.

#ifndef MESHCAP_SRC_EXPLAIN_INTERNAL_H_
#define MESHCAP_SRC_EXPLAIN_INTERNAL_H_

#include "absl/status/statusor.h"
#include "meshcap/explain.h"
#include "src/backend.h"
#include "src/ir/rule_set.h"

namespace meshcap::internal {

// Explain(policy, packet, backend.Name()) for `rules`, compiled from the
// policy for `backend.dialect()`; the packet has been checked.
[[nodiscard]] absl::StatusOr<Explanation> ExplainRules(
    const ir::RuleSet& rules, const BackendFactory& backend,
    const Packet& packet);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_EXPLAIN_INTERNAL_H_
