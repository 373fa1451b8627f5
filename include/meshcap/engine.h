// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: engine.h
// -----------------------------------------------------------------------------
//
// `meshcap::Engine` installs a compiled `RuleSet` in the kernel, removes it,
// and checks what the kernel holds against it. One engine talks to one
// backend (nftables over netlink, or legacy iptables through libiptc) in one
// network namespace.
//
//   meshcap::EngineOptions opts;
//   opts.backend = "nftables";
//   opts.netns_path = "/var/run/netns/pod";
//   auto engine = meshcap::Engine::Create(opts);
//   if (!engine.ok()) return engine.status();
//   absl::Status s = (*engine)->Apply(meshcap::Compile(policy));
//
// Every change is one kernel transaction: after `Apply` either the whole new
// rule set is installed or the kernel still holds exactly what it held
// before. Tables and chains that are not ours are never touched.
//
// Errors are `absl::Status`:
//   - kInvalidArgument: an unknown backend name, a bad namespace path, a rule
//     the kernel refused (the message names the rule and expression);
//   - kPermissionDenied: the caller lacks CAP_NET_ADMIN in the namespace;
//   - kUnavailable: the kernel lacks a feature (the message names it);
//   - kAborted: `ApplyOptions::expected_generation` no longer matches, i.e.
//     somebody changed the ruleset since it was read;
//   - kNotFound: a namespace path that does not exist.
//
// An Engine is not thread-safe; use one per thread.

#ifndef MESHCAP_ENGINE_H_
#define MESHCAP_ENGINE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/rule_set.h"

namespace meshcap {

struct EngineOptions {
  // "nftables", "iptables-legacy" or "auto". With "auto" the environment
  // variable MESHCAP_BACKEND decides when set; otherwise the first backend
  // that can serve the namespace, nftables first.
  std::string backend = "auto";
  // The target network namespace, by path (`/proc/PID/ns/net`,
  // `/var/run/netns/NAME`) or by an open fd (borrowed, not closed). Neither
  // set: the calling thread's namespace. The calling thread never changes
  // namespace; work inside another one runs on a short-lived helper thread.
  std::string netns_path;
  int netns_fd = -1;

  // iptables-legacy only: the xtables lock, taken with flock() for the whole
  // transaction as iptables does. Empty: $XTABLES_LOCKFILE when set, else
  // /run/xtables.lock. A pod-scoped path keeps concurrent pods apart (Istio's
  // CNI mode). A lock still held after the timeout is kUnavailable.
  std::string xtables_lock_path;
  std::chrono::milliseconds xtables_lock_timeout{10000};
};

struct ApplyOptions {
  // Apply only if the kernel's ruleset generation is still this one (as
  // returned by `Verify`). A concurrent change in between makes `Apply` fail
  // with kAborted and change nothing. nftables: the generation is checked by
  // the kernel inside the transaction (NFNL_BATCH_GENID, Linux >= 4.19).
  // iptables-legacy has no generation: setting it there is kInvalidArgument.
  std::optional<uint32_t> expected_generation;
};

// One difference between the kernel and the desired rule set.
struct Difference {
  enum class Kind : uint8_t { kMissing, kExtra, kChanged };
  Kind kind;
  // "istio-proxy-nat" / "nat"; chain in the backend's spelling; empty chain
  // for a whole missing or extra table.
  std::string table;
  std::string chain;
  // 1-based rule position in the desired chain (missing, changed) or the
  // kernel's chain (extra); 0 for a table or chain.
  int position = 0;
  std::string desired;  // what should be there (empty for kExtra)
  std::string actual;   // what is there (empty for kMissing)

  // "missing rule 3 in istio-proxy-nat/istio-output: ..."
  MESHCAP_EXPORT std::string ToString() const;
};

struct VerifyReport {
  // The ruleset generation the report was read at; hand it to
  // `ApplyOptions::expected_generation` for a verify-then-apply.
  uint32_t generation = 0;
  std::vector<Difference> differences;

  bool matches() const { return differences.empty(); }
};

class Backend;

class MESHCAP_EXPORT Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options = {});
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Installs `rules`, replacing whatever of ours is there, in one
  // transaction. With `rules.routing` (TPROXY) it first adds the policy
  // routing (`fwmark -> table`, `local default dev lo` in that table, per
  // family), and with `rules.ipv6` the `::6/128` address on lo; whatever this
  // call added is taken away again if the firewall transaction fails. Routing
  // of ours that `rules` no longer needs is removed after it succeeds.
  absl::Status Apply(const RuleSet& rules, const ApplyOptions& options = {});
  // Removes everything of ours, firewall and routing. Removing nothing is OK.
  absl::Status Remove();
  // Reads our tables back and compares them with `rules`.
  absl::StatusOr<VerifyReport> Verify(const RuleSet& rules);

  // "nftables" or "iptables-legacy".
  std::string_view backend_name() const;

 private:
  Engine(std::unique_ptr<Backend> backend, int owned_netns_fd, int netns_fd);

  std::unique_ptr<Backend> backend_;
  int owned_netns_fd_;
  int netns_fd_;  // owned or borrowed; -1: the caller's namespace
  // The routing of ours this engine last left in the kernel, if known: an
  // Apply that wants the same skips looking for leftovers.
  struct RoutingState {
    std::optional<PolicyRouting> routing;
    bool ipv6 = false;
  };
  std::optional<RoutingState> known_routing_;
};

// The backends this build has, in probe order.
MESHCAP_EXPORT std::vector<std::string> AvailableBackends();

}  // namespace meshcap

#endif  // MESHCAP_ENGINE_H_
