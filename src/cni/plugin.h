// SPDX-License-Identifier: GPL-2.0-or-later
// meshcap-cni's commands: one invocation, from the CNI_* variables and the
// configuration on stdin to the exit status and what goes on stdout.
//
//   ADD     applies the pod's policy in CNI_NETNS with the Engine (on the
//           Engine's own thread; the process never changes namespace) and
//           prints prevResult unchanged. Idempotent.
//   DEL     removes ours from CNI_NETNS if it still exists, then the
//           attachment's records. Idempotent; a namespace that is gone is
//           success.
//   CHECK   verifies CNI_NETNS against the policy; a difference is error
//           103 naming it.
//   STATUS  applies the policy in a scratch namespace with the chosen
//           backend and proves that it captures: 50 when it cannot be
//           installed or installs but does not capture (error.h: why
//           never 51).
//   GC      forgets every attachment of the network that
//           cni.dev/valid-attachments does not list.
//   VERSION prints the versions it serves.

#ifndef MESHCAP_SRC_CNI_PLUGIN_H_
#define MESHCAP_SRC_CNI_PLUGIN_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "src/cni/config.h"
#include "src/cni/environment.h"
#include "src/cni/error.h"
#include "src/cni/log.h"

namespace meshcap::cni {

struct PluginOutput {
  int exit_code = 0;
  // The result, the version answer or the error JSON; empty for commands
  // that print nothing on success.
  std::string stdout_text;
};

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

// STATUS for `config`: nullopt when the node can serve ADD.
std::optional<CniError> NodeStatus(const PluginConfig& config,
                                   const NodeChecks& checks, Logger& log);

// What a one-shot process may leave for the kernel to reclaim at exit
// instead of tearing it down: an Engine's destructor hands its sockets back
// to its namespace thread and joins it, which is wasted work in a process
// that ends right after (main.cc).
struct Retained {
  std::vector<std::unique_ptr<Engine>> engines;
};

// Runs one invocation. With `retained`, the Engines it made are moved
// there when it is done with them, rather than destroyed.
PluginOutput RunPlugin(const GetEnv& getenv, std::string_view stdin_text,
                       Logger& log, const NodeChecks& checks,
                       Retained* retained = nullptr);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_PLUGIN_H_
