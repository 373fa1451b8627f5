// SPDX-License-Identifier: GPL-2.0-or-later
// The node agent's reconcile (`meshcap-cni install --watch`): every pod
// namespace that meshcap-cni's attachment records name is held with
// Engine::Watch, one thread per namespace, so that a capture anything
// removes is put back (runtimes never call CHECK on running pods).
//
//   - Each heal (and the watch's first apply) runs under the per-pod lock
//     ADD and DEL take (AttachmentStore::LockNamespace), and only while the
//     namespace's record is still there with the same policy: a DEL that
//     removed the capture ends the watch instead of being undone.
//   - A pass (on a timer, and when the plugin reports an ADD or DEL)
//     starts a watch for each namespace that has none, stops those whose
//     records are gone, and forgets the records of namespaces that are
//     gone (the path no longer opens, or opens another namespace).
//   - The counters and histograms are served as Prometheus text.

#ifndef MESHCAP_SRC_CNI_RECONCILE_H_
#define MESHCAP_SRC_CNI_RECONCILE_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "meshcap/engine.h"
#include "src/cni/attachment_store.h"

namespace meshcap::cni {

// A Prometheus histogram of seconds.
class Histogram {
 public:
  void Observe(double seconds);
  // `name`_bucket{le=...}, _sum, _count, with `labels` ("verb=\"ADD\"").
  std::string Text(std::string_view name, std::string_view labels) const;

 private:
  static constexpr double kBounds[] = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  mutable std::mutex mu_;
  uint64_t counts_[std::size(kBounds) + 1] = {};
  double sum_ = 0;
  uint64_t count_ = 0;
};

class NodeReconciler {
 public:
  using Log = std::function<void(const std::string&)>;
  NodeReconciler(std::string state_dir, std::chrono::milliseconds interval,
                 Log log);
  ~NodeReconciler();  // stops every watch, leaving the captures
  NodeReconciler(const NodeReconciler&) = delete;
  NodeReconciler& operator=(const NodeReconciler&) = delete;

  // One pass over the records (see above).
  void Pass();
  // What the plugin reported: "ADD 1 0.00175" (verb, ok, seconds).
  void Report(std::string_view datagram);
  // The metrics, Prometheus text format 0.0.4.
  std::string Metrics() const;

 private:
  struct Watched;
  void Run(Watched* w);
  void Forget(const AttachmentRecord& record, const std::string& network,
              std::string_view why);

  const std::string state_dir_;
  const std::chrono::milliseconds interval_;
  const Log log_;
  std::map<std::string, std::unique_ptr<Watched>> watched_;  // by ns id

  std::atomic<uint64_t> drifts_found_{0}, drifts_healed_{0}, heal_failures_{0},
      forgotten_{0}, passes_{0};
  std::atomic<int64_t> pods_captured_{0}, unhealable_{0};
  std::atomic<int64_t> last_pass_ns_{0};  // steady clock
  std::atomic<double> last_pass_seconds_{0};
  Histogram add_, del_, heal_;
  std::atomic<uint64_t> add_failed_{0}, del_failed_{0};
};

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_RECONCILE_H_
