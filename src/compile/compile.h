// SPDX-License-Identifier: GPL-2.0-or-later
// CapturePolicy -> ir::RuleSet. Every decision about what to capture lives
// here; backends and renderers only lower and spell.

#ifndef MESHCAP_SRC_COMPILE_COMPILE_H_
#define MESHCAP_SRC_COMPILE_COMPILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "meshcap/policy.h"
#include "src/ir/rule_set.h"

namespace meshcap::internal {

// The rules Istio's generator for `dialect` makes of `policy`: the sidecar
// profile as istio-iptables / istio-nftables `Run()` (reference §3.2), the
// ambient profile as `cni/pkg/iptables` / `cni/pkg/nftables`
// `CreateInpodRules`. A built policy is valid, so this cannot fail.
ir::RuleSet Compile(const CapturePolicy& policy, ir::Dialect dialect);

// The fingerprint Compile() gives the rule set of `policy` in `dialect`,
// without compiling it.
std::string CompiledFingerprint(const CapturePolicy& policy,
                                ir::Dialect dialect);

class BackendFactory;

// Compile() for the backend `backend`, refusing what it cannot hold:
// CompactLists on an iptables backend (kInvalidArgument). iptables has no
// sets of its own; ipset's live outside iptables-restore's commit, so a
// capture through them could not change in one transaction.
[[nodiscard]] absl::StatusOr<ir::RuleSet> CompileFor(
    const CapturePolicy& policy, const BackendFactory& backend);

// The two profiles, each in its own file.
ir::RuleSet CompileSidecar(const CapturePolicy& policy, ir::Dialect dialect);
ir::RuleSet CompileAmbient(const CapturePolicy& policy, ir::Dialect dialect);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_COMPILE_COMPILE_H_
