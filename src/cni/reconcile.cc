// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/reconcile.h"

#include <errno.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "meshcap/policy_json.h"
#include "src/engine_peer.h"
#include "src/text.h"

namespace meshcap::cni {

void Histogram::Observe(double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  size_t i = 0;
  while (i < std::size(kBounds) && seconds > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

std::string Histogram::Text(std::string_view name,
                            std::string_view labels) const {
  std::lock_guard<std::mutex> l(mu_);
  const std::string n(name), sep = labels.empty() ? "" : ",";
  const std::string lab(labels);
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < std::size(kBounds); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, n, "_bucket{", lab, sep, "le=\"",
                    absl::StrFormat("%g", kBounds[i]), "\"} ", cumulative,
                    "\n");
  }
  cumulative += counts_[std::size(kBounds)];
  absl::StrAppend(&out, n, "_bucket{", lab, sep, "le=\"+Inf\"} ", cumulative,
                  "\n");
  const std::string braces = labels.empty() ? "" : absl::StrCat("{", lab, "}");
  absl::StrAppend(&out, n, "_sum", braces, " ", absl::StrFormat("%.9g", sum_),
                  "\n", n, "_count", braces, " ", count_, "\n");
  return out;
}

struct NodeReconciler::Watched {
  AttachmentRecord record;
  std::string network;
  std::string ns_id;
  std::unique_ptr<Engine> engine;
  std::thread thread;
  std::atomic<bool> done{false};
  std::atomic<bool> stop{false};
  std::mutex mu;  // guards `engine` while it is published

  void Stop() {
    stop = true;
    std::lock_guard<std::mutex> l(mu);
    if (engine) engine->StopWatch();
  }
};

NodeReconciler::NodeReconciler(std::string state_dir,
                               std::chrono::milliseconds interval, Log log)
    : state_dir_(std::move(state_dir)),
      interval_(interval),
      log_(std::move(log)) {}

NodeReconciler::~NodeReconciler() {
  for (auto& [id, w] : watched_) w->Stop();
  for (auto& [id, w] : watched_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void NodeReconciler::Forget(const AttachmentRecord& record,
                            const std::string& network, std::string_view why) {
  absl::StatusOr<AttachmentStore> store =
      AttachmentStore::Open(state_dir_, network, false);
  if (!store.ok()) return;
  const std::string id = record.NamespaceId();
  absl::StatusOr<internal::FileLock> lock =
      store->LockNamespace(id, std::chrono::seconds(1));
  if (!lock.ok()) return;  // an ADD or DEL is at work: the next pass
  // Still the same record (a DEL and a new ADD may have come between).
  LoadedRecord now = store->Load(record.attachment);
  if (!now.record.has_value() || now.record->NamespaceId() != id) return;
  std::vector<std::string> removed;
  (void)store->Forget(record.attachment, id, &removed);
  store->ForgetIfUnused(id, *lock, &removed);
  ++forgotten_;
  log_(absl::StrCat("forgot container ",
                    internal::Quote(record.attachment.container_id), " on ",
                    internal::Quote(record.attachment.ifname), ": ",
                    std::string(why)));
}

void NodeReconciler::Run(Watched* w) {
  const AttachmentRecord& rec = w->record;
  const std::string where =
      absl::StrCat("pod namespace ", internal::Quote(rec.netns), " (",
                   internal::Quote(rec.attachment.container_id), ")");
  EngineOptions o;
  o.backend = rec.backend;
  o.netns_path = rec.netns;
  o.state_dir = state_dir_;
  o.lock_timeout = std::chrono::seconds(5);
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(o);
  if (!engine.ok()) {
    if (absl::IsNotFound(engine.status()) ||
        absl::IsInvalidArgument(engine.status())) {
      Forget(rec, w->network, "its namespace is gone");
    } else {
      log_(absl::StrCat("cannot watch ", where, ": ",
                        engine.status().message()));
    }
    w->done = true;
    return;
  }
  if (rec.netns_cookie != 0 &&
      internal::EnginePeer::NetnsCookie(**engine) != rec.netns_cookie) {
    Forget(rec, w->network,
           "its namespace is gone (the path names another one now)");
    w->done = true;
    return;
  }
  if (rec.policy_json.empty()) {
    ++unhealable_;
    log_(absl::StrCat("cannot heal ", where,
                      ": its record holds no policy (too big to record)"));
    w->done = true;
    return;
  }
  absl::StatusOr<CapturePolicy> policy = PolicyFromJson(rec.policy_json);
  if (!policy.ok()) {
    ++unhealable_;
    log_(absl::StrCat("cannot heal ", where,
                      ": its recorded policy: ", policy.status().message()));
    w->done = true;
    return;
  }
  {
    // Published for Stop before the watch starts (a stop that comes
    // first is kept by the Engine for its Watch).
    std::lock_guard<std::mutex> l(w->mu);
    w->engine = *std::move(engine);
  }
  if (w->stop) {
    w->done = true;
    return;
  }
  ++pods_captured_;
  WatchOptions wo;
  wo.interval = interval_;
  wo.around = [&](const std::function<absl::Status()>& apply) {
    absl::StatusOr<AttachmentStore> store =
        AttachmentStore::Open(state_dir_, w->network, false);
    if (!store.ok()) return store.status();
    absl::StatusOr<internal::FileLock> lock =
        store->LockNamespace(w->ns_id, std::chrono::seconds(5));
    if (!lock.ok()) return lock.status();
    LoadedRecord now = store->Load(rec.attachment);
    if (!now.record.has_value() || now.record->policy != rec.policy ||
        now.record->NamespaceId() != w->ns_id) {
      return absl::CancelledError("the attachment's record is gone");
    }
    return apply();
  };
  absl::Status s = w->engine->Watch(*policy, wo, [&](const WatchEvent& e) {
    switch (e.kind) {
      case WatchEvent::Kind::kApplied:
        if (!e.changes.empty()) {
          ++drifts_found_;
          ++drifts_healed_;
          log_(absl::StrCat(where, ": found drifted, ", e.message));
        }
        return;
      case WatchEvent::Kind::kWaiting:
        log_(absl::StrCat(where, ": ", e.message));
        return;
      case WatchEvent::Kind::kHealed:
        ++drifts_found_;
        ++drifts_healed_;
        heal_.Observe(std::chrono::duration<double>(e.elapsed).count());
        log_(absl::StrCat(where, ": ", e.message));
        return;
      case WatchEvent::Kind::kHealFailed:
        ++drifts_found_;
        ++heal_failures_;
        log_(absl::StrCat(where, ": ", e.message));
        return;
    }
  });
  --pods_captured_;
  if (!s.ok() && !absl::IsCancelled(s)) {
    log_(absl::StrCat("stopped watching ", where, ": ", s.message()));
  }
  w->done = true;
}

namespace {

// Whether the record's namespace path still opens the namespace it named
// at ADD (by its key, netns-<dev>-<ino>).
bool PathStillLeadsThere(const AttachmentRecord& rec) {
  struct stat st;
  if (stat(rec.netns.c_str(), &st) != 0) return errno != ENOENT;
  return absl::StrCat("netns-", st.st_dev, "-", st.st_ino) == rec.netns_key;
}

}  // namespace

void NodeReconciler::Pass() {
  const auto t0 = std::chrono::steady_clock::now();
  std::set<std::string> live;
  absl::StatusOr<std::vector<std::string>> networks =
      AttachmentStore::Networks(state_dir_);
  if (networks.ok()) {
    for (const std::string& network : *networks) {
      absl::StatusOr<AttachmentStore> store =
          AttachmentStore::Open(state_dir_, network, false);
      if (!store.ok()) continue;
      for (AttachmentRecord& rec : store->Records()) {
        const std::string id = rec.NamespaceId();
        live.insert(id);
        auto it = watched_.find(id);
        if (it != watched_.end() && it->second->done &&
            it->second->record.policy != rec.policy) {
          // Re-added with another policy after its watch ended.
          it->second->thread.join();
          watched_.erase(it);
          it = watched_.end();
        }
        if (it != watched_.end()) continue;
        auto w = std::make_unique<Watched>();
        w->record = std::move(rec);
        w->network = network;
        w->ns_id = id;
        Watched* raw = w.get();
        watched_.emplace(id, std::move(w));
        raw->thread = std::thread([this, raw] { Run(raw); });
      }
    }
  }
  // Namespaces whose records are gone, or whose path no longer leads to
  // them (the runtime unmounted it without a DEL; the watch's own Engine
  // keeps the namespace alive, so only the path can tell): stop.
  for (auto it = watched_.begin(); it != watched_.end();) {
    Watched& w = *it->second;
    if (live.count(it->first) != 0 && !PathStillLeadsThere(w.record)) {
      w.Stop();
      if (w.thread.joinable()) w.thread.join();
      Forget(w.record, w.network, "its namespace is gone");
      it = watched_.erase(it);
      continue;
    }
    if (live.count(it->first) != 0 && !w.done) {
      ++it;
      continue;
    }
    if (live.count(it->first) != 0 && w.done) {
      // Ended (an error, or unhealable): retried by a later pass only if
      // the record changes; keep it so that it is not restarted each pass.
      ++it;
      continue;
    }
    w.Stop();
    if (w.thread.joinable()) w.thread.join();
    it = watched_.erase(it);
  }
  ++passes_;
  last_pass_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  last_pass_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
}

void NodeReconciler::Report(std::string_view datagram) {
  std::vector<std::string> f =
      absl::StrSplit(internal::ToAbsl(datagram), ' ', absl::SkipEmpty());
  if (f.size() != 3) return;
  double seconds = 0;
  if (!absl::SimpleAtod(f[2], &seconds) || seconds < 0) return;
  const bool ok = f[1] == "1";
  if (f[0] == "ADD") {
    add_.Observe(seconds);
    if (!ok) ++add_failed_;
  } else if (f[0] == "DEL") {
    del_.Observe(seconds);
    if (!ok) ++del_failed_;
  }
}

std::string NodeReconciler::Metrics() const {
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name,
                    " counter\n", name, " ", v, "\n");
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name,
                    " gauge\n", name, " ", absl::StrFormat("%.9g", v), "\n");
  };
  gauge("meshcap_cni_pods_captured",
        "Pod namespaces whose capture is being held.",
        static_cast<double>(pods_captured_.load()));
  gauge("meshcap_cni_pods_unhealable",
        "Pod namespaces whose record holds no usable policy.",
        static_cast<double>(unhealable_.load()));
  counter("meshcap_cni_drifts_found_total",
          "Captures found different from their policy.", drifts_found_);
  counter("meshcap_cni_drifts_healed_total", "Drifted captures re-applied.",
          drifts_healed_);
  counter("meshcap_cni_heal_failures_total",
          "Re-applies that failed (retried).", heal_failures_);
  counter("meshcap_cni_records_forgotten_total",
          "Attachment records forgotten because their namespace was gone.",
          forgotten_);
  counter("meshcap_cni_reconcile_passes_total", "Full passes over the records.",
          passes_);
  const int64_t last = last_pass_ns_;
  const double since =
      last == 0 ? -1
                : std::chrono::duration<double>(
                      std::chrono::steady_clock::now().time_since_epoch() -
                      std::chrono::nanoseconds(last))
                      .count();
  gauge("meshcap_cni_seconds_since_last_full_pass",
        "Seconds since the last full pass ended (-1: none yet).", since);
  gauge("meshcap_cni_last_full_pass_duration_seconds",
        "How long the last full pass took.", last_pass_seconds_);
  absl::StrAppend(
      &out,
      "# HELP meshcap_cni_command_duration_seconds ADD and DEL "
      "as the plugin measured them.\n"
      "# TYPE meshcap_cni_command_duration_seconds histogram\n",
      add_.Text("meshcap_cni_command_duration_seconds", "verb=\"ADD\""),
      del_.Text("meshcap_cni_command_duration_seconds", "verb=\"DEL\""));
  absl::StrAppend(&out,
                  "# HELP meshcap_cni_command_failures_total ADD and DEL "
                  "that failed.\n"
                  "# TYPE meshcap_cni_command_failures_total counter\n"
                  "meshcap_cni_command_failures_total{verb=\"ADD\"} ",
                  add_failed_.load(),
                  "\nmeshcap_cni_command_failures_total{verb=\"DEL\"} ",
                  del_failed_.load(), "\n");
  absl::StrAppend(&out,
                  "# HELP meshcap_cni_heal_duration_seconds From noticing a "
                  "drift to the capture verified whole.\n"
                  "# TYPE meshcap_cni_heal_duration_seconds histogram\n",
                  heal_.Text("meshcap_cni_heal_duration_seconds", ""));
  return out;
}

}  // namespace meshcap::cni
