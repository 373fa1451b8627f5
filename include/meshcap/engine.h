// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: engine.h
// -----------------------------------------------------------------------------
//
// `meshcap::Engine` installs a capture policy in one network namespace,
// removes it, and checks what the kernel holds against it. One engine talks
// to one backend (nftables or iptables-nft over netlink, or legacy iptables
// through libiptc) in one namespace.
//
//   meshcap::EngineOptions opts;
//   opts.netns_path = "/var/run/netns/pod";
//   absl::StatusOr<std::unique_ptr<meshcap::Engine>> engine =
//       meshcap::Engine::Create(opts);
//   if (!engine.ok()) return engine.status();
//   absl::StatusOr<meshcap::ApplyResult> r = (*engine)->Apply(policy);
//   if (!r.ok()) return r.status();
//   if (!r->changed()) { /* the kernel already held exactly this */ }
//
// What is guaranteed (README "Guarantees" has the details):
//   - Every Apply, Remove and Verify of a namespace holds that namespace's
//     lock (a file under /run/meshcap), whichever process or Engine it comes
//     from, so concurrent appliers take turns and never mix their work.
//   - An Apply adds what the new policy needs (policy routing, `::6`) first,
//     then commits the firewall, then removes what only the old one needed:
//     a firewall never depends on routing that is absent.
//   - nftables and iptables-nft commit all of it in one kernel transaction
//     (both families, guarded by the ruleset generation). Legacy iptables
//     commits table by table; meshcap orders the commits so that the tables
//     in force never mix two policies, and records an intent so that the
//     next operation on the namespace finishes an interrupted apply.
//   - An Apply that finds the kernel already holding exactly the policy
//     sends nothing (counters keep counting); a changed one replaces only
//     the tables that changed.
//   - Verify compares everything Apply owns: tables, chains and rules,
//     policy routing, `::6`, leftovers of ours, and captures of ours or
//     Istio's in the other backends.
//
// Errors are `absl::Status`:
//   - kInvalidArgument: an unknown backend name, a bad namespace path, a rule
//     the kernel refused (the message names the rule and expression);
//   - kPermissionDenied: the caller lacks CAP_NET_ADMIN in the namespace, or
//     write access to the state directory;
//   - kUnavailable: the kernel lacks a feature (the message names it);
//   - kDeadlineExceeded: the namespace's lock (or the xtables lock) is held
//     by another process past `lock_timeout` (the message names it);
//   - kAborted: `ApplyOptions::expected_generation` no longer matches;
//   - kNotFound: a namespace path that does not exist.
//
// An Engine is not thread-safe; use one per thread. The calling thread
// never changes network namespace.

#ifndef MESHCAP_ENGINE_H_
#define MESHCAP_ENGINE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/policy.h"

namespace meshcap {

namespace internal {
struct EnginePeer;
}  // namespace internal

struct EngineOptions {
  // "nftables", "iptables-legacy", "iptables-nft", "iptables" or "auto".
  //   - "auto": the environment variable MESHCAP_BACKEND decides when set;
  //     otherwise the backend that already holds a capture there (ours or
  //     Istio's), else one whose tables already hold anyone's rules
  //     (iptables-legacy, then iptables-nft), else nftables.
  //   - "iptables": istio-iptables' own choice: iptables-legacy when the
  //     legacy nat table holds rules, else iptables-nft.
  std::string backend = "auto";
  // The target network namespace, by path (`/proc/PID/ns/net`,
  // `/var/run/netns/NAME`) or by an open fd (borrowed, not closed). Neither
  // set: the calling thread's namespace. Work inside another namespace runs
  // on a thread of the Engine's that entered it once.
  std::string netns_path;
  int netns_fd = -1;
  // iptables-legacy only: the xtables lock, taken with flock() as iptables
  // does. Empty: $XTABLES_LOCKFILE when set, else /run/xtables.lock.
  std::string xtables_lock_path;
  // How long to wait for the namespace's lock and the xtables lock. A lock
  // still held then is kDeadlineExceeded, and nothing changes.
  std::chrono::milliseconds lock_timeout{30000};
  // Where meshcap keeps intent records of interrupted applies. Empty:
  // $MESHCAP_STATE_DIR when set, else /run/meshcap.
  std::string state_dir;
};

struct ApplyOptions {
  // Apply only if the kernel's ruleset generation is still this one (as
  // returned by `Verify`). A concurrent change in between makes `Apply` fail
  // with kAborted and change nothing. nftables and iptables-nft (the same
  // nf_tables generation): the kernel checks it inside the transaction.
  // iptables-legacy has no generation: setting it there is kInvalidArgument.
  std::optional<uint32_t> expected_generation;
};

// What an Apply or Remove did.
struct ApplyResult {
  // One line per change: "replaced table inet istio-proxy-nat", "added ip
  // rule fwmark 0x539 lookup 133 (IPv4)". Empty: nothing was sent.
  std::vector<std::string> changes;

  bool changed() const { return !changes.empty(); }
};

// One difference between the kernel and the policy.
struct Difference {
  enum class Kind : uint8_t { kMissing, kExtra, kChanged };
  Kind kind = Kind::kMissing;
  // What differs: "rule", "chain", "table", "routing entry", "address",
  // "backend" (ours in the other backend), "transaction" (an interrupted
  // apply).
  std::string object = "rule";
  // Where: "istio-proxy-nat" / "nat (IPv4)", and the chain, in the
  // backend's spelling; empty when it does not apply.
  std::string table;
  std::string chain;
  // 1-based rule position in the desired chain (missing, changed) or the
  // kernel's chain (extra); 0 when it does not apply.
  int position = 0;
  std::string desired;  // what should be there (empty for kExtra)
  std::string actual;   // what is there (empty for kMissing)

  // "missing rule 3 in istio-proxy-nat/istio-output: ...".
  MESHCAP_EXPORT std::string ToString() const;
};

struct VerifyReport {
  // The nf_tables ruleset generation the report was read at (nftables,
  // iptables-nft); hand it to `ApplyOptions::expected_generation` for a
  // verify-then-apply. 0 for iptables-legacy.
  uint32_t generation = 0;
  std::vector<Difference> differences;

  bool matches() const { return differences.empty(); }
};

// How Engine::Watch keeps a capture.
struct WatchOptions {
  // How often the namespace is verified when no kernel event came:
  // iptables-legacy's only way to notice a change (the kernel sends no
  // events for its tables), and the retry after a failed heal.
  std::chrono::milliseconds interval{1000};
  // On nftables and iptables-nft, which learn of changes from the kernel
  // (nf_tables and rtnetlink events), a full verify this often anyway.
  std::chrono::milliseconds resync{60000};
  // Runs each apply of the watch (the first, and every heal's) inside:
  // for a caller whose own lock must cover it (the CNI plugin's per-pod
  // lock) and who must check it still wants the capture. A status other
  // than OK from it ends the watch with that status. Empty: apply.
  std::function<absl::Status(const std::function<absl::Status()>& apply)>
      around;
};

// What Engine::Watch reports to its callback, one event per line of a log.
struct WatchEvent {
  enum class Kind : uint8_t {
    kApplied,     // the first apply is done; the watch has begun
    kWaiting,     // another watcher holds this namespace: waiting for it
    kHealed,      // drift found and repaired
    kHealFailed,  // drift found, the repair failed (retried at `interval`)
  };
  Kind kind = Kind::kApplied;
  // One line: "healed in 1.3 ms: missing table inet istio-proxy-nat",
  // "another watcher (process 1234) holds this namespace; waiting".
  std::string message;
  // What had drifted (Difference::ToString()), and what the heal changed.
  std::vector<std::string> drifted;
  std::vector<std::string> changes;
  // From noticing the drift (the kernel's event, or the poll) to the
  // capture verified whole again.
  std::chrono::microseconds elapsed{0};
  absl::Status status;  // kHealFailed: why
};

// What an Engine does, as an interface. Code written against it (an
// agent's reconcile loop, a CNI plugin's verbs) can be tested with
// meshcap::testing::FakeEngine (meshcap/testing/fake_engine.h), in memory,
// without a network namespace or privileges.
class MESHCAP_EXPORT CaptureEngine {
 public:
  virtual ~CaptureEngine();

  // Makes the namespace hold exactly `policy`'s capture.
  [[nodiscard]] virtual absl::StatusOr<ApplyResult> Apply(
      const CapturePolicy& policy, const ApplyOptions& options = {}) = 0;
  // Removes every capture of ours (or Istio's) from the namespace.
  [[nodiscard]] virtual absl::StatusOr<ApplyResult> Remove() = 0;
  // Compares the namespace with `policy`.
  [[nodiscard]] virtual absl::StatusOr<VerifyReport> Verify(
      const CapturePolicy& policy) = 0;
  // "nftables", "iptables-legacy" or "iptables-nft".
  virtual std::string_view backend_name() const = 0;
};

class MESHCAP_EXPORT Engine : public CaptureEngine {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options = {});
  ~Engine() override;

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Makes the namespace hold exactly `policy`'s capture: its rules (ours
  // elsewhere in this backend replaced, ours (or Istio's) in the other
  // backends removed right before it commits), its policy routing and `::6`,
  // nothing of ours it does not need.
  [[nodiscard]] absl::StatusOr<ApplyResult> Apply(
      const CapturePolicy& policy, const ApplyOptions& options = {}) override;
  // Removes everything of ours (or Istio's) from the namespace, in every
  // backend, and our routing: whatever policy put it there. Removing
  // nothing is OK.
  [[nodiscard]] absl::StatusOr<ApplyResult> Remove() override;
  // Compares the namespace with `policy`, everything Apply owns included.
  [[nodiscard]] absl::StatusOr<VerifyReport> Verify(
      const CapturePolicy& policy) override;

  std::string_view backend_name() const override;

  // Applies `policy`, then holds it: whenever anything changes what Apply
  // owns (a table deleted, a chain flushed, a rule or jump removed, a
  // policy-routing rule or route deleted, `::6` removed), re-applies it
  // through the same lock and safe order, and reports the heal to
  // `on_event` (called on the calling thread). One watcher per namespace
  // (and state directory): a second waits, and reports kWaiting, until the
  // first stops or dies, then adopts the namespace. Returns OK after
  // StopWatch(), leaving the capture in place; an error if the first
  // apply fails. While it runs, StopWatch is the only call this Engine
  // takes (an Engine is not thread-safe): look with another Engine.
  [[nodiscard]] absl::Status Watch(
      const CapturePolicy& policy, const WatchOptions& options = {},
      const std::function<void(const WatchEvent&)>& on_event = nullptr);
  // Makes the running (or the next) Watch return. Any thread; safe in a
  // signal handler.
  void StopWatch();

 private:
  // meshcap's own tools reach the Engine's namespace thread through it.
  friend struct internal::EnginePeer;
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The backends this build has, in probe order.
MESHCAP_EXPORT std::vector<std::string> AvailableBackends();

}  // namespace meshcap

#endif  // MESHCAP_ENGINE_H_
