// SPDX-License-Identifier: GPL-2.0-or-later
// The interface every kernel backend implements, and how engines find them.
// Internal: not installed.

#ifndef MESHCAP_SRC_BACKEND_H_
#define MESHCAP_SRC_BACKEND_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/engine.h"
#include "meshcap/rule_set.h"

namespace meshcap {

struct BackendOptions {
  // The target network namespace (borrowed), or -1 for the caller's.
  int netns_fd = -1;
  std::string xtables_lock_path;
  std::chrono::milliseconds xtables_lock_timeout{10000};
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  virtual absl::Status Apply(const RuleSet& rules,
                             const ApplyOptions& options) = 0;
  virtual absl::Status Remove() = 0;
  virtual absl::StatusOr<VerifyReport> Verify(const RuleSet& rules) = 0;
};

class BackendFactory {
 public:
  virtual ~BackendFactory() = default;

  // "nftables", "iptables-legacy".
  virtual std::string_view Name() const = 0;
  // Higher probes first under "auto".
  virtual int Priority() const = 0;
  // OK when this backend can serve the namespace: the kernel has what it
  // needs and the caller may use it. "auto" picks the first factory, by
  // priority, whose probe is OK and which says it is preferred there.
  virtual absl::Status Probe(const BackendOptions& options) const = 0;
  // Whether this backend's tables in the namespace already hold rules: under
  // "auto" such a backend wins over a higher-priority one, so that a node
  // whose rules live in legacy iptables keeps them there.
  virtual bool HoldsRules(const BackendOptions& /*options*/) const {
    return false;
  }
  virtual absl::StatusOr<std::unique_ptr<Backend>> Create(
      const BackendOptions& options) const = 0;
};

// The factories this build has, highest priority first.
const std::vector<const BackendFactory*>& BuiltinBackends();

}  // namespace meshcap

#endif  // MESHCAP_SRC_BACKEND_H_
