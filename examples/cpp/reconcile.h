// SPDX-License-Identifier: GPL-2.0-or-later
// An agent's reconcile step, written against meshcap::CaptureEngine: make
// the namespace hold `policy`, and say whether it had drifted. The real
// agent passes a meshcap::Engine; its tests (reconcile_test.cc) pass a
// meshcap::testing::FakeEngine and need no namespace or root.

#ifndef MESHCAP_EXAMPLES_CPP_RECONCILE_H_
#define MESHCAP_EXAMPLES_CPP_RECONCILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "meshcap/meshcap.h"

namespace example {

struct ReconcileResult {
  bool drifted = false;  // verify found differences
  bool healed = false;   // and an apply put it right
};

inline absl::StatusOr<ReconcileResult> Reconcile(
    meshcap::CaptureEngine& engine, const meshcap::CapturePolicy& policy) {
  absl::StatusOr<meshcap::VerifyReport> report = engine.Verify(policy);
  if (!report.ok()) return report.status();
  ReconcileResult r;
  if (report->matches()) return r;
  r.drifted = true;
  // Apply only if nobody changed the ruleset since the verify.
  meshcap::ApplyOptions options;
  if (report->generation != 0) options.expected_generation = report->generation;
  absl::StatusOr<meshcap::ApplyResult> applied = engine.Apply(policy, options);
  if (!applied.ok()) return applied.status();
  r.healed = true;
  return r;
}

}  // namespace example

#endif  // MESHCAP_EXAMPLES_CPP_RECONCILE_H_
