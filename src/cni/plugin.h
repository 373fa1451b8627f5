// SPDX-License-Identifier: GPL-2.0-or-later
// meshcap-cni's commands: one invocation, from the CNI_* variables and the
// configuration on stdin to the exit status and what goes on stdout.
//
//   ADD     decides for the pod (pod_policy.h); a pod it leaves alone gets
//           prevResult back and nothing else. Otherwise it records the
//           attachment and applies the pod's policy in CNI_NETNS with the
//           Engine (on the Engine's own thread; the process never changes
//           namespace), and prints prevResult unchanged. Idempotent.
//   DEL     forgets the attachment and, with the namespace's last
//           attachment, removes ours from CNI_NETNS if it still exists.
//           Idempotent; a namespace that is gone is success; an attachment
//           never added changes nothing.
//   CHECK   verifies CNI_NETNS against the pod's policy; a difference is
//           error 103 naming it.
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
#include "src/cni/status.h"

namespace meshcap::cni {

struct PluginOutput {
  int exit_code = 0;
  // The result, the version answer or the error JSON; empty for commands
  // that print nothing on success.
  std::string stdout_text;
};

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
