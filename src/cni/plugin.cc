// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "meshcap/engine.h"
#include "src/cni/attachment_store.h"
#include "src/cni/pod_policy.h"
#include "src/cni/pod_source.h"
#include "src/cni/version.h"
#include "src/engine_peer.h"
#include "src/local_addresses.h"
#include "src/netns.h"
#include "src/netns_lock.h"
#include "src/state_dir.h"
#include "src/text.h"
#include "src/unique_fd.h"

namespace meshcap::cni {
namespace {

using internal::Quote;
using internal::UniqueFd;

// How long a verb waits for another on the same pod namespace.
constexpr std::chrono::milliseconds kNamespaceLockTimeout{30000};

// What a failing invocation prints: the error JSON, exit status 1.
PluginOutput Fail(const CniError& e, std::string_view version, Logger& log) {
  log.Error(absl::StrCat("error ", e.code, ": ", e.msg,
                         e.details.empty() ? "" : " (", e.details,
                         e.details.empty() ? "" : ")"));
  return PluginOutput{1, e.ToJson(version) + "\n"};
}

// ADD's result: the previous plugin's, unchanged; without one (meshcap-cni
// first in a chain, which it is not meant to be), an empty result.
std::string AddResult(const PluginConfig& config) {
  if (config.prev_result_json.has_value()) {
    return *config.prev_result_json + "\n";
  }
  // The version is one of SupportedVersions(): nothing to escape.
  return R"({"cniVersion":")" + config.cni_version + "\"}\n";
}

// The calling thread's network namespace, for the same-namespace check.
bool SameNamespace(int fd) {
  struct stat ours, theirs;
  return stat("/proc/thread-self/ns/net", &ours) == 0 &&
         fstat(fd, &theirs) == 0 && ours.st_dev == theirs.st_dev &&
         ours.st_ino == theirs.st_ino;
}

CniError OwnNamespace(const std::string& path) {
  return CniError{kErrInvalidEnvironment,
                  "invalid CNI_NETNS " + Quote(path) +
                      ": it is the plugin's own network namespace",
                  "meshcap-cni captures a pod's traffic and refuses to "
                  "change the node's own namespace"};
}

std::string PolicyHash(const CapturePolicy& policy) {
  return absl::StrFormat("%016x", internal::StableHash(policy.fingerprint()));
}

// An attachment whose record could not be read back (over
// kMaxRecordBytes, which only a container ID or a CNI_NETNS of about
// 64 KiB makes): refused before anything changes, naming the variable at
// fault and the limit.
std::optional<CniError> RecordTooBig(const AttachmentRecord& record) {
  const size_t bytes = AttachmentStore::RecordBytes(record);
  if (bytes <= kMaxRecordBytes) return std::nullopt;
  const bool id = record.attachment.container_id.size() >= record.netns.size();
  return CniError{
      kErrInvalidEnvironment,
      absl::StrCat(
          "invalid ", id ? "CNI_CONTAINERID" : "CNI_NETNS", " of ",
          id ? record.attachment.container_id.size() : record.netns.size(),
          " bytes: the attachment's record would take ", bytes,
          " bytes, more than meshcap-cni's limit of ", kMaxRecordBytes),
      "meshcap-cni records each attachment it captures in at most " +
          std::to_string(kMaxRecordBytes) +
          " bytes, so that DEL and GC can read it back; nothing was changed"};
}

std::string Changes(const ApplyResult& r) {
  return r.changed() ? absl::StrJoin(r.changes, "; ") : "unchanged";
}

// What one invocation needs of the pod's namespace and the state
// directory, each made on first use: a pod left alone costs none of it.
class PodContext {
 public:
  PodContext(const PluginConfig& config, const CniEnvironment& env,
             Retained* retained)
      : config_(config), env_(env), retained_(retained) {}
  ~PodContext() {
    if (retained_ != nullptr && engine_ != nullptr) {
      retained_->engines.push_back(std::move(engine_));
    }
  }

  const Attachment& attachment() const { return attachment_; }

  // The state directory's store for this network; kNotFound (without
  // `create`) when nothing was ever recorded on this node.
  absl::StatusOr<AttachmentStore*> Store(bool create) {
    if (!store_.has_value()) {
      absl::StatusOr<AttachmentStore> s = AttachmentStore::Open(
          internal::DefaultStateDir(), config_.name, create);
      if (!s.ok()) return s.status();
      store_.emplace(*std::move(s));
    }
    return &*store_;
  }

  // CNI_NETNS, opened and checked.
  CniOr<int> Netns() {
    if (!netns_) {
      absl::StatusOr<UniqueFd> fd = internal::OpenNetns(env_.netns);
      if (!fd.ok()) {
        if (absl::IsPermissionDenied(fd.status())) {
          return CniError{kErrPermission,
                          "cannot open CNI_NETNS " + Quote(env_.netns),
                          std::string(fd.status().message())};
        }
        return CniError{
            kErrInvalidEnvironment,
            "invalid CNI_NETNS " + Quote(env_.netns) +
                (absl::IsNotFound(fd.status()) ? ": no such network namespace"
                                               : ": not a network namespace"),
            std::string(fd.status().message())};
      }
      if (SameNamespace(fd->get())) return OwnNamespace(env_.netns);
      netns_ = *std::move(fd);
    }
    return netns_.get();
  }

  // An Engine in CNI_NETNS with `backend`; the pods' own xtables lock.
  CniOr<Engine*> GetEngine(const std::string& backend) {
    if (engine_ != nullptr) return engine_.get();
    CniOr<int> netns = Netns();
    if (!netns.ok()) return netns.error();
    absl::StatusOr<AttachmentStore*> store = Store(true);
    if (!store.ok()) {
      return ErrorFromStatus(store.status(), "the attachment records");
    }
    if (!xtables_lock_) {
      absl::StatusOr<UniqueFd> lock = (*store)->OpenXtablesLock();
      if (!lock.ok()) return ErrorFromStatus(lock.status(), "the xtables lock");
      xtables_lock_ = *std::move(lock);
    }
    EngineOptions o;
    o.backend = backend;
    o.netns_fd = *netns;
    // The pods' lock, reached through this process's fd: never the node's
    // /run/xtables.lock, which would make pods wait for kube-proxy, and
    // never a link planted in the state directory.
    o.xtables_lock_path = absl::StrCat("/proc/self/fd/", xtables_lock_.get());
    o.state_dir = internal::DefaultStateDir();
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(o);
    if (!engine.ok()) {
      return ErrorFromStatus(engine.status(),
                             "preparing the " + backend + " backend");
    }
    engine_ = *std::move(engine);
    return engine_.get();
  }

  // The namespace's name in the store.
  std::string NamespaceId() const {
    AttachmentRecord r;
    r.netns_cookie = internal::EnginePeer::NetnsCookie(*engine_);
    r.netns_key = internal::EnginePeer::NetnsKey(*engine_);
    return r.NamespaceId();
  }

  // Istio's IPv6 decision in the pod's namespace (pod_policy.h).
  CniOr<bool> DetectIpv6(bool dual_stack) {
    CniOr<Engine*> engine = GetEngine(config_.backend);
    if (!engine.ok()) return engine.error();
    internal::LocalAddresses found;
    absl::Status s =
        internal::EnginePeer::RunInNamespace(**engine, [&]() -> absl::Status {
          found = internal::DetectLocalAddresses(dual_stack);
          return absl::OkStatus();
        });
    if (!s.ok()) return ErrorFromStatus(s, "reading the pod's addresses");
    if (!found.any) {
      return CniError{kErrInvalidEnvironment,
                      "no address in CNI_NETNS " + Quote(env_.netns) +
                          " but loopback and link-local ones",
                      "istio-iptables decides IPv6 from the pod's first "
                      "address; run meshcap-cni after the plugin that "
                      "gives the pod its addresses"};
    }
    return found.ipv6;
  }

 private:
  const PluginConfig& config_;
  const CniEnvironment& env_;
  Retained* retained_;
  const Attachment attachment_{env_.container_id, env_.ifname};
  std::optional<AttachmentStore> store_;
  UniqueFd netns_;
  UniqueFd xtables_lock_;
  std::unique_ptr<Engine> engine_;
};

CniOr<PodDecision> Decide(const PluginConfig& config, const CniEnvironment& env,
                          PodContext& pod, Logger& log) {
  ClusterPodSource source(config, env);
  CniOr<PodDecision> d = DecidePod(
      config, env, &source,
      [&pod](bool dual_stack) { return pod.DetectIpv6(dual_stack); }, true);
  if (d.ok()) {
    for (const std::string& note : d->notes) log.Warn(note);
  }
  return d;
}

PluginOutput Add(const CniEnvironment& env, const PluginConfig& config,
                 Logger& log, Retained* retained) {
  const std::string& v = config.cni_version;
  PodContext pod(config, env, retained);
  CniOr<PodDecision> decision = Decide(config, env, pod, log);
  if (!decision.ok()) return Fail(decision.error(), v, log);
  if (decision->skip) {
    log.Info("left alone: " + decision->reason);
    return PluginOutput{0, AddResult(config)};
  }
  CniOr<Engine*> engine = pod.GetEngine(config.backend);
  if (!engine.ok()) return Fail(engine.error(), v, log);
  absl::StatusOr<AttachmentStore*> store = pod.Store(true);
  if (!store.ok()) {
    return Fail(ErrorFromStatus(store.status(), "the attachment records"), v,
                log);
  }
  const std::string policy = PolicyHash(*decision->policy);
  AttachmentRecord record{pod.attachment(),
                          env.netns,
                          internal::EnginePeer::NetnsKey(**engine),
                          internal::EnginePeer::NetnsCookie(**engine),
                          std::string((*engine)->backend_name()),
                          policy,
                          decision->policy->ToJson()};
  // A policy too big to record is applied all the same; only the node
  // agent's reconcile cannot heal it. (Without it, the record is too big
  // only for an identifier of about 64 KiB.)
  if (AttachmentStore::RecordBytes(record) > kMaxRecordBytes) {
    record.policy_json.clear();
    if (std::optional<CniError> e = RecordTooBig(record)) {
      return Fail(*e, v, log);
    }
  }
  const std::string ns_id = pod.NamespaceId();
  absl::StatusOr<internal::FileLock> lock =
      (*store)->LockNamespace(ns_id, kNamespaceLockTimeout);
  if (!lock.ok()) {
    return Fail(ErrorFromStatus(lock.status(), "locking the pod's namespace"),
                v, log);
  }
  (*store)->SweepTemporary(pod.attachment());
  for (const AttachmentRecord& other :
       (*store)->Sharing(ns_id, pod.attachment())) {
    if (other.policy != policy) {
      return Fail(
          CniError{kErrCapture,
                   absl::StrCat("the pod's network namespace already holds "
                                "another policy's capture, for container ",
                                Quote(other.attachment.container_id), " on ",
                                Quote(other.attachment.ifname)),
                   "a network namespace holds one capture; its attachments "
                   "must agree on the policy"},
          v, log);
    }
  }
  // The record first: whatever this ADD leaves, DEL and GC can find.
  if (absl::Status saved = (*store)->Save(record); !saved.ok()) {
    // Nothing of this ADD's is left to find: neither its lock file nor its
    // namespace's directory, unless another attachment needs them.
    (*store)->ForgetIfUnused(ns_id, *lock, nullptr);
    return Fail(ErrorFromStatus(saved, "recording the attachment"), v, log);
  }
  absl::StatusOr<ApplyResult> applied = (*engine)->Apply(*decision->policy);
  // Completed, whether applied or not: stamped while the lock is still
  // held, so that a GC started meanwhile spares the attachment (GC's rule:
  // AttachmentStore::Collect).
  const absl::Status stamped = (*store)->Stamp(pod.attachment());
  if (!applied.ok()) {
    return Fail(ErrorFromStatus(applied.status(), "applying the capture"), v,
                log);
  }
  if (!stamped.ok()) {
    // A GC running now might take the record and leave the capture: the
    // runtime's DEL of a failed ADD takes both.
    return Fail(ErrorFromStatus(stamped, "stamping the attachment's record"), v,
                log);
  }
  log.Info(absl::StrCat("applied (",
                        internal::ToAbsl((*engine)->backend_name()), ") in ",
                        env.netns, ": ", Changes(*applied)));
  return PluginOutput{0, AddResult(config)};
}

PluginOutput Check(const CniEnvironment& env, const PluginConfig& config,
                   Logger& log, Retained* retained) {
  const std::string& v = config.cni_version;
  PodContext pod(config, env, retained);
  CniOr<PodDecision> decision = Decide(config, env, pod, log);
  if (!decision.ok()) return Fail(decision.error(), v, log);
  if (decision->skip) {
    log.Debug("left alone: " + decision->reason);
    return PluginOutput{};
  }
  CniOr<Engine*> engine = pod.GetEngine(config.backend);
  if (!engine.ok()) return Fail(engine.error(), v, log);
  absl::StatusOr<VerifyReport> report = (*engine)->Verify(*decision->policy);
  if (!report.ok()) {
    return Fail(ErrorFromStatus(report.status(), "verifying the capture"), v,
                log);
  }
  if (report->matches()) {
    log.Debug(absl::StrCat("verified (",
                           internal::ToAbsl((*engine)->backend_name()), ")"));
    return PluginOutput{};
  }
  std::vector<std::string> lines;
  for (const Difference& d : report->differences) lines.push_back(d.ToString());
  const size_t n = lines.size();
  CniError drift{
      kErrDrift,
      absl::StrCat("the capture in ", env.netns, " has drifted (",
                   internal::ToAbsl((*engine)->backend_name()),
                   "): ", lines.front(),
                   n > 1 ? absl::StrCat(" (and ", n - 1, " more)") : ""),
      absl::StrJoin(lines, "\n")};
  // The first line only in msg: a "changed" difference spans lines.
  drift.msg = drift.msg.substr(0, drift.msg.find('\n'));
  return Fail(drift, v, log);
}

// Whether CNI_NETNS still names a namespace (DEL: a namespace that is gone
// took its rules with it).
CniOr<bool> NamespaceLives(const CniEnvironment& env) {
  if (env.netns.empty()) return false;
  absl::StatusOr<UniqueFd> fd = internal::OpenNetns(env.netns);
  if (fd.ok()) return true;
  // Deleted, or its bind mount is gone and the file left is empty.
  if (absl::IsNotFound(fd.status()) || absl::IsInvalidArgument(fd.status())) {
    return false;
  }
  return ErrorFromStatus(fd.status(), "opening CNI_NETNS");
}

PluginOutput Del(const CniEnvironment& env, const PluginConfig& config,
                 Logger& log, Retained* retained) {
  const std::string& v = config.cni_version;
  PodContext pod(config, env, retained);
  absl::StatusOr<AttachmentStore*> store = pod.Store(false);
  if (!store.ok()) {
    if (absl::IsNotFound(store.status())) {
      log.Info("nothing recorded on this node; nothing to remove");
      return PluginOutput{};
    }
    return Fail(ErrorFromStatus(store.status(), "the attachment records"), v,
                log);
  }
  const Attachment& a = pod.attachment();
  LoadedRecord loaded = (*store)->Load(a);
  if (!loaded.record.has_value() && loaded.unreadable.empty()) {
    // Never added (or left alone, or already deleted): changes nothing. A
    // record an ADD was killed writing goes once it is stale (an ADD in
    // flight may be writing it now).
    (*store)->SweepTemporary(a, /*stale_only=*/true);
    log.Info("nothing recorded for this attachment; nothing to remove");
    return PluginOutput{};
  }
  CniOr<bool> lives = NamespaceLives(env);
  if (!lives.ok()) return Fail(lives.error(), v, log);
  const std::string backend =
      loaded.record.has_value() && !loaded.record->backend.empty()
          ? loaded.record->backend
          : config.backend;
  std::string ns_id;
  if (loaded.record.has_value()) {
    ns_id = loaded.record->NamespaceId();
  } else {
    log.Warn("the attachment's record is unreadable (" + loaded.unreadable +
             "); removing it");
    if (*lives) {
      CniOr<Engine*> engine = pod.GetEngine(backend);
      if (!engine.ok()) return Fail(engine.error(), v, log);
      ns_id = pod.NamespaceId();
    }
  }
  std::optional<internal::FileLock> lock;
  if (!ns_id.empty()) {
    absl::StatusOr<internal::FileLock> l =
        (*store)->LockNamespace(ns_id, kNamespaceLockTimeout);
    if (!l.ok()) {
      return Fail(ErrorFromStatus(l.status(), "locking the pod's namespace"), v,
                  log);
    }
    lock.emplace(*std::move(l));
    (*store)->SweepTemporary(a);
    // Under the lock: another DEL or a GC may have been first.
    LoadedRecord again = (*store)->Load(a);
    if (!again.record.has_value() && again.unreadable.empty()) {
      log.Info("the attachment was forgotten meanwhile; nothing to remove");
      // The lock file this DEL made anew, if the one who forgot it took
      // the old one away.
      (*store)->ForgetIfUnused(ns_id, *lock, nullptr);
      return PluginOutput{};
    }
  }
  const std::vector<AttachmentRecord> sharing =
      ns_id.empty() ? std::vector<AttachmentRecord>()
                    : (*store)->Sharing(ns_id, a);
  if (!sharing.empty()) {
    log.Info(absl::StrCat("the capture stays: ", sharing.size(),
                          " other attachment(s) share the namespace"));
  } else if (!*lives) {
    log.Info(absl::StrCat("the network namespace ",
                          env.netns.empty() ? "(none given)" : env.netns,
                          " is gone; forgetting the attachment"));
  } else {
    CniOr<Engine*> engine = pod.GetEngine(backend);
    if (!engine.ok() && backend != "auto") {
      // Any backend's Remove takes ours out of every backend.
      log.Warn(absl::StrCat("backend ", backend, ": ", engine.error().details,
                            "; trying auto"));
      engine = pod.GetEngine("auto");
    }
    if (!engine.ok()) return Fail(engine.error(), v, log);
    const uint64_t recorded =
        loaded.record.has_value() ? loaded.record->netns_cookie : 0;
    const uint64_t actual = internal::EnginePeer::NetnsCookie(**engine);
    if (recorded != 0 && actual != 0 && recorded != actual) {
      log.Warn(
          "CNI_NETNS is not the namespace recorded at ADD (that one is "
          "gone); leaving CNI_NETNS as it is");
    } else {
      absl::StatusOr<ApplyResult> removed = (*engine)->Remove();
      if (!removed.ok()) {
        return Fail(ErrorFromStatus(removed.status(), "removing the capture"),
                    v, log);
      }
      log.Info(absl::StrCat("removed (",
                            internal::ToAbsl((*engine)->backend_name()),
                            ") from ", env.netns, ": ", Changes(*removed)));
    }
  }
  std::vector<std::string> files;
  absl::Status forgotten = (*store)->Forget(a, ns_id, &files);
  if (forgotten.ok() && sharing.empty() && lock.has_value()) {
    (*store)->ForgetNamespace(
        ns_id, loaded.record.has_value() ? loaded.record->netns_key : "", *lock,
        &files);
  }
  if (!files.empty()) log.Debug("removed " + absl::StrJoin(files, ", "));
  if (!forgotten.ok()) {
    return Fail(ErrorFromStatus(forgotten, "removing the attachment's records"),
                v, log);
  }
  return PluginOutput{};
}

PluginOutput Gc(const PluginConfig& config, Logger& log) {
  const std::string& v = config.cni_version;
  const auto since = std::chrono::system_clock::now();
  if (!config.valid_attachments.has_value()) {
    return Fail(
        CniError{kErrInvalidConfig, "GC without 'cni.dev/valid-attachments'",
                 "the runtime lists the attachments still valid; "
                 "without the list nothing can be told stale"},
        v, log);
  }
  absl::StatusOr<AttachmentStore> store =
      AttachmentStore::Open(internal::DefaultStateDir(), config.name, false);
  if (!store.ok()) {
    if (absl::IsNotFound(store.status())) {
      log.Info("gc: nothing recorded on this node");
      return PluginOutput{};
    }
    return Fail(ErrorFromStatus(store.status(), "the attachment records"), v,
                log);
  }
  std::vector<std::string> files;
  absl::Status s = store->Collect(*config.valid_attachments, since, &files);
  log.Info(
      absl::StrCat("gc: ", config.valid_attachments->size(),
                   " valid attachment(s); removed ", files.size(), " file(s)",
                   files.empty() ? "" : ": " + absl::StrJoin(files, ", ")));
  if (!s.ok()) {
    return Fail(ErrorFromStatus(s, "removing stale records"), v, log);
  }
  return PluginOutput{};
}

}  // namespace

PluginOutput RunPlugin(const GetEnv& getenv, std::string_view stdin_text,
                       Logger& log, const NodeChecks& checks,
                       Retained* retained) {
  CniOr<CniEnvironment> env = ReadEnvironment(getenv);
  if (!env.ok()) {
    const std::string version = ConfigVersionOrNewest(stdin_text);
    return Fail(env.error(),
                IsSupportedVersion(version) ? version : kNewestVersion, log);
  }
  if (env->command == Command::kVersion) {
    return PluginOutput{0,
                        VersionJson(ConfigVersionOrNewest(stdin_text)) + "\n"};
  }
  std::string version;
  CniOr<PluginConfig> config = ParseConfig(stdin_text, env->command, &version);
  if (!config.ok()) return Fail(config.error(), version, log);
  log.Configure(config->log_level, config->log_file);
  const bool pod_command = env->command == Command::kAdd ||
                           env->command == Command::kDel ||
                           env->command == Command::kCheck;
  std::string context =
      absl::StrCat(std::string(CommandName(env->command)), " ", config->name);
  if (pod_command) {
    absl::StrAppend(&context, " ", env->container_id, "/", env->ifname);
    if (const std::string pod = env->PodLabel(); pod != env->container_id) {
      absl::StrAppend(&context, " pod ", pod);
    }
  }
  log.SetContext(context);
  switch (env->command) {
    case Command::kAdd:
      return Add(*env, *config, log, retained);
    case Command::kDel:
      return Del(*env, *config, log, retained);
    case Command::kCheck:
      return Check(*env, *config, log, retained);
    case Command::kGc:
      return Gc(*config, log);
    case Command::kStatus: {
      std::optional<CniError> e = NodeStatus(*config, checks, log);
      if (e.has_value()) return Fail(*e, config->cni_version, log);
      log.Debug("ready");
      return PluginOutput{};
    }
    case Command::kVersion:
      break;
  }
  return PluginOutput{};
}

}  // namespace meshcap::cni
