// SPDX-License-Identifier: GPL-2.0-or-later
// The interface every kernel backend implements, and how engines find them.
// Internal: not installed.
//
// A backend is one folder under backends/ holding its renderer, lowering,
// read-back and registration; it registers a BackendFactory by name in
// src/builtin_backends.cc. Everything else (the Engine, the CLI, Render)
// finds it by that name.

#ifndef MESHCAP_SRC_BACKEND_H_
#define MESHCAP_SRC_BACKEND_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/engine.h"
#include "src/ir/rule_set.h"

namespace meshcap::internal {

struct BackendOptions {
  std::string xtables_lock_path;
  std::chrono::milliseconds lock_timeout{10000};
  // Where meshcap keeps per-namespace state (the legacy backend's intent
  // record), and the key of the target namespace in it.
  std::string state_dir;
  std::string netns_key;
};

// A Backend::Apply that fails after its commit point, with the new policy
// (partly) in force, marks its status so: the Engine then keeps the
// routing the new policy needs instead of taking it back.
[[nodiscard]] absl::Status PastCommit(absl::Status status);
[[nodiscard]] bool IsPastCommit(const absl::Status& status);

// All methods run inside the target network namespace (on the Engine's
// executor thread) while the Engine holds the namespace's lock.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  // Makes the kernel hold exactly `rules` of ours, in one transaction;
  // appends what it changed to `changes` (nothing: it was already so).
  // `before_commit`, when set, runs once after the backend holds its locks
  // and has planned, right before it changes anything (the Engine removes
  // ours from another backend there, so that a lock held elsewhere or a
  // policy this backend cannot lower leaves the old capture in place); its
  // error fails the apply.
  [[nodiscard]] virtual absl::Status Apply(
      const ir::RuleSet& rules, const ApplyOptions& options,
      std::vector<std::string>* changes,
      const std::function<absl::Status()>& before_commit) = 0;
  // Removes everything of ours; appends what it removed.
  [[nodiscard]] virtual absl::Status Remove(
      std::vector<std::string>* changes) = 0;
  // Compares what the kernel holds with `rules`, appending differences;
  // sets `report->generation` where the backend has one.
  [[nodiscard]] virtual absl::Status Verify(const ir::RuleSet& rules,
                                            VerifyReport* report) = 0;
  // Whether the kernel holds anything of ours in this backend (for an
  // engine of another backend to find, report and migrate it).
  [[nodiscard]] virtual absl::StatusOr<bool> HoldsOurs() = 0;
  // An interrupted transaction this backend must finish before anything
  // else, described; empty when there is none.
  [[nodiscard]] virtual absl::StatusOr<std::string> PendingRecovery() {
    return std::string();
  }
};

class BackendFactory {
 public:
  virtual ~BackendFactory() = default;

  // "nftables", "iptables-legacy", "iptables-nft".
  virtual std::string_view Name() const = 0;
  // Higher probes first under "auto".
  virtual int Priority() const = 0;
  // Which of Istio's generators its rule sets follow.
  virtual ir::Dialect dialect() const = 0;
  // The dry-run text of `rules` (Istio's `nft -f` / `iptables-restore`
  // input).
  virtual std::string Render(const ir::RuleSet& rules) const = 0;
  // One rule of `rules` as Istio's generator spells it: the iptables-restore
  // line ("-A ISTIO_OUTPUT -o lo ... -j RETURN"), or the nft rule body
  // ("oifname lo ... counter return"). For `meshcap explain`.
  virtual std::string SpellRule(const ir::RuleSet& rules,
                                const ir::Table& table,
                                const std::string& chain,
                                const ir::Rule& rule) const = 0;
  // OK when this backend can serve the calling thread's namespace: the
  // kernel has what it needs and the caller may use it.
  [[nodiscard]] virtual absl::Status Probe() const = 0;
  // Whether this backend's tables in the calling thread's namespace
  // already hold rules (anyone's): under "auto" such a backend wins over a
  // higher-priority one, as Istio's detection prefers legacy iptables
  // where it already holds rules.
  virtual bool HoldsRules() const { return false; }
  // A backend for the calling thread's namespace.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<Backend>> Create(
      const BackendOptions& options) const = 0;
};

// The factories of this build, highest priority first, plus any test
// overrides.
const std::vector<const BackendFactory*>& Backends();
// The factory named `name`, or kInvalidArgument listing the names.
[[nodiscard]] absl::StatusOr<const BackendFactory*> FindBackend(
    std::string_view name);
// For what needs no kernel (render, explain): the factory named `name`, or
// for "iptables" (istio-iptables' choice of binary, whose text and rules
// are the same whichever it picks) iptables-legacy, else iptables-nft.
[[nodiscard]] absl::StatusOr<const BackendFactory*> FindSpellingBackend(
    std::string_view name);

// Test hook: makes `factory` the first backend for the life of the object.
class ScopedBackendOverride {
 public:
  explicit ScopedBackendOverride(const BackendFactory* factory);
  ~ScopedBackendOverride();
  ScopedBackendOverride(const ScopedBackendOverride&) = delete;
  ScopedBackendOverride& operator=(const ScopedBackendOverride&) = delete;

 private:
  const BackendFactory* factory_;
};

// Registration, one call per backend folder (the factory's file, e.g.
// backends/nftables/backend.cc), made in src/builtin_backends.cc.
void RegisterNftablesBackend(std::vector<const BackendFactory*>& out);
void RegisterIptablesLegacyBackend(std::vector<const BackendFactory*>& out);
void RegisterIptablesNftBackend(std::vector<const BackendFactory*>& out);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_BACKEND_H_
