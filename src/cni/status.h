// SPDX-License-Identifier: GPL-2.0-or-later
// STATUS: whether this node can serve ADD, proved in scratch namespaces
// this process makes and drops.

#ifndef MESHCAP_SRC_CNI_STATUS_H_
#define MESHCAP_SRC_CNI_STATUS_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "meshcap/policy.h"
#include "src/cni/config.h"
#include "src/cni/error.h"
#include "src/cni/log.h"

namespace meshcap::cni {

// The checks STATUS makes, replaceable in tests.
struct NodeChecks {
  // Applies `policy` with `backend` in a scratch network namespace and
  // verifies it; the error says what the node lacks.
  std::function<absl::Status(const CapturePolicy& policy,
                             const std::string& backend)>
      apply_in_scratch;
  // Whether `backend`'s rules capture a real connection in a scratch
  // namespace (Istio's validation probe): kDeadlineExceeded when the rules
  // install but capture nothing; kPermissionDenied when the probe cannot
  // take the proxy's identity (nothing proven either way).
  std::function<absl::Status(const std::string& backend)> capture_works;
};

// The real checks, in scratch namespaces this process makes and drops.
NodeChecks KernelNodeChecks();

// STATUS for `config`: nullopt when the node can serve ADD. The policy
// proved is the one a pod that sets nothing itself would get
// (pod_policy.h NodePolicy).
std::optional<CniError> NodeStatus(const PluginConfig& config,
                                   const NodeChecks& checks, Logger& log);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_STATUS_H_
