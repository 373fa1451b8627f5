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

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meshcap/engine.h"
#include "meshcap/validate.h"
#include "src/cni/attachment_store.h"
#include "src/cni/pod_policy.h"
#include "src/cni/version.h"
#include "src/errno_status.h"
#include "src/netns.h"
#include "src/netns_lock.h"
#include "src/text.h"
#include "src/unique_fd.h"

namespace meshcap::cni {
namespace {

using internal::Quote;
using internal::UniqueFd;

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

// Opens CNI_NETNS for ADD and CHECK.
CniOr<UniqueFd> OpenPodNetns(const std::string& path) {
  absl::StatusOr<UniqueFd> fd = internal::OpenNetns(path);
  if (!fd.ok()) {
    if (absl::IsPermissionDenied(fd.status())) {
      return CniError{kErrPermission, "cannot open CNI_NETNS " + Quote(path),
                      std::string(fd.status().message())};
    }
    return CniError{
        kErrInvalidEnvironment,
        "invalid CNI_NETNS " + Quote(path) +
            (absl::IsNotFound(fd.status()) ? ": no such network namespace"
                                           : ": not a network namespace"),
        std::string(fd.status().message())};
  }
  if (SameNamespace(fd->get())) {
    return CniError{kErrInvalidEnvironment,
                    "invalid CNI_NETNS " + Quote(path) +
                        ": it is the plugin's own network namespace",
                    "meshcap-cni captures a pod's traffic and refuses to "
                    "change the node's own namespace"};
  }
  return *std::move(fd);
}

struct PodContext {
  UniqueFd netns;
  std::string netns_key;
};

CniOr<PodContext> OpenPod(const CniEnvironment& env) {
  CniOr<UniqueFd> fd = OpenPodNetns(env.netns);
  if (!fd.ok()) return fd.error();
  PodContext pod;
  pod.netns = std::move(*fd);
  absl::StatusOr<std::string> key = internal::NetnsKey(pod.netns.get());
  if (!key.ok()) {
    return CniError{kErrInvalidEnvironment,
                    "invalid CNI_NETNS " + Quote(env.netns),
                    std::string(key.status().message())};
  }
  pod.netns_key = *std::move(key);
  return pod;
}

CniOr<std::unique_ptr<Engine>> OpenEngine(const std::string& backend,
                                          int netns_fd,
                                          const std::string& xtables_lock,
                                          const std::string& state_dir) {
  EngineOptions o;
  o.backend = backend;
  o.netns_fd = netns_fd;
  // Pod-scoped: the pod's legacy tables are written only by meshcap, under
  // the Engine's per-namespace lock; the node's /run/xtables.lock would
  // only make pods wait for kube-proxy (README "xtables lock").
  o.xtables_lock_path = xtables_lock;
  o.state_dir = state_dir;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(o);
  if (!engine.ok()) {
    return ErrorFromStatus(engine.status(),
                           "preparing the " + backend + " backend");
  }
  return *std::move(engine);
}

std::string Name(const Engine& engine) {
  return std::string(engine.backend_name());
}

std::string Changes(const ApplyResult& r) {
  return r.changed() ? absl::StrJoin(r.changes, "; ") : "unchanged";
}

// Keeps `engine` in `retained` when there is one.
void Retain(CniOr<std::unique_ptr<Engine>>& engine, Retained* retained) {
  if (retained != nullptr && engine.ok()) {
    retained->engines.push_back(std::move(*engine));
  }
}

PluginOutput Add(const CniEnvironment& env, const PluginConfig& config,
                 Logger& log, Retained* retained) {
  const std::string& v = config.cni_version;
  CniOr<PodDecision> decision = DecidePod(config, env, true);
  if (!decision.ok()) return Fail(decision.error(), v, log);
  if (decision->skip) {
    log.Info("left alone: " + decision->reason);
    return PluginOutput{0, AddResult(config)};
  }
  CniOr<PodContext> pod = OpenPod(env);
  if (!pod.ok()) return Fail(pod.error(), v, log);
  const std::string state_dir = internal::DefaultStateDir();
  const AttachmentStore store(state_dir, config.name);
  const Attachment attachment{env.container_id, env.ifname};
  CniOr<std::unique_ptr<Engine>> engine =
      OpenEngine(config.backend, pod->netns.get(),
                 store.XtablesLockPath(attachment), state_dir);
  if (!engine.ok()) return Fail(engine.error(), v, log);
  // The record first: whatever this ADD leaves, DEL and GC can find.
  absl::Status saved = store.Save(
      AttachmentRecord{attachment, env.netns, pod->netns_key, Name(**engine)});
  if (!saved.ok()) {
    return Fail(CniError{kErrState, "cannot record the attachment",
                         std::string(saved.message())},
                v, log);
  }
  absl::StatusOr<ApplyResult> applied = (*engine)->Apply(*decision->policy);
  if (!applied.ok()) {
    return Fail(ErrorFromStatus(applied.status(), "applying the capture"), v,
                log);
  }
  log.Info(absl::StrCat("applied (", Name(**engine), ") in ", env.netns, ": ",
                        Changes(*applied)));
  Retain(engine, retained);
  return PluginOutput{0, AddResult(config)};
}

PluginOutput Check(const CniEnvironment& env, const PluginConfig& config,
                   Logger& log, Retained* retained) {
  const std::string& v = config.cni_version;
  CniOr<PodDecision> decision = DecidePod(config, env, true);
  if (!decision.ok()) return Fail(decision.error(), v, log);
  if (decision->skip) {
    log.Debug("left alone: " + decision->reason);
    return PluginOutput{};
  }
  CniOr<PodContext> pod = OpenPod(env);
  if (!pod.ok()) return Fail(pod.error(), v, log);
  const std::string state_dir = internal::DefaultStateDir();
  const AttachmentStore store(state_dir, config.name);
  CniOr<std::unique_ptr<Engine>> engine = OpenEngine(
      config.backend, pod->netns.get(),
      store.XtablesLockPath({env.container_id, env.ifname}), state_dir);
  if (!engine.ok()) return Fail(engine.error(), v, log);
  absl::StatusOr<VerifyReport> report = (*engine)->Verify(*decision->policy);
  if (!report.ok()) {
    return Fail(ErrorFromStatus(report.status(), "verifying the capture"), v,
                log);
  }
  if (report->matches()) {
    log.Debug(absl::StrCat("verified (", Name(**engine), ")"));
    Retain(engine, retained);
    return PluginOutput{};
  }
  std::vector<std::string> lines;
  for (const Difference& d : report->differences) lines.push_back(d.ToString());
  const size_t n = lines.size();
  CniError drift{
      kErrDrift,
      absl::StrCat("the capture in ", env.netns, " has drifted (",
                   Name(**engine), "): ", lines.front(),
                   n > 1 ? absl::StrCat(" (and ", n - 1, " more)") : ""),
      absl::StrJoin(lines, "\n")};
  // The first line only in msg: a "changed" difference spans lines.
  drift.msg = drift.msg.substr(0, drift.msg.find('\n'));
  return Fail(drift, v, log);
}

PluginOutput Del(const CniEnvironment& env, const PluginConfig& config,
                 Logger& log, Retained* retained) {
  const std::string& v = config.cni_version;
  const std::string state_dir = internal::DefaultStateDir();
  const AttachmentStore store(state_dir, config.name);
  const Attachment attachment{env.container_id, env.ifname};
  const std::optional<AttachmentRecord> record = store.Load(attachment);

  bool gone = env.netns.empty();
  UniqueFd netns;
  if (!gone) {
    absl::StatusOr<UniqueFd> fd = internal::OpenNetns(env.netns);
    if (fd.ok()) {
      netns = *std::move(fd);
    } else if (absl::IsNotFound(fd.status()) ||
               absl::IsInvalidArgument(fd.status())) {
      // Deleted, or its bind mount is gone and the file left is empty.
      gone = true;
    } else {
      return Fail(ErrorFromStatus(fd.status(), "opening CNI_NETNS"), v, log);
    }
  }
  if (!gone) {
    if (SameNamespace(netns.get())) {
      return Fail(CniError{kErrInvalidEnvironment,
                           "invalid CNI_NETNS " + Quote(env.netns) +
                               ": it is the plugin's own network namespace",
                           "meshcap-cni refuses to change the node's own "
                           "namespace"},
                  v, log);
    }
    // The backend ADD used, else the configured one; any backend's Remove
    // takes ours out of both, so fall back to "auto" if that one cannot
    // start here.
    std::string backend = record.has_value() && !record->backend.empty()
                              ? record->backend
                              : config.backend;
    const std::string lock = store.XtablesLockPath(attachment);
    // The lock's directory may be gone with an earlier DEL.
    if (absl::Status s = store.MakeDirs(); !s.ok()) {
      return Fail(CniError{kErrState, "cannot prepare the state directory",
                           std::string(s.message())},
                  v, log);
    }
    CniOr<std::unique_ptr<Engine>> engine =
        OpenEngine(backend, netns.get(), lock, state_dir);
    if (!engine.ok() && backend != "auto") {
      log.Warn(absl::StrCat("backend ", backend, ": ", engine.error().details,
                            "; trying auto"));
      engine = OpenEngine("auto", netns.get(), lock, state_dir);
    }
    if (!engine.ok()) return Fail(engine.error(), v, log);
    absl::StatusOr<ApplyResult> removed = (*engine)->Remove();
    if (!removed.ok() && store.MakeDirs().ok()) {
      // The DEL of this network's last other attachment may have taken the
      // xtables lock's directory away meanwhile: once more.
      removed = (*engine)->Remove();
    }
    if (!removed.ok()) {
      return Fail(ErrorFromStatus(removed.status(), "removing the capture"), v,
                  log);
    }
    log.Info(absl::StrCat("removed (", Name(**engine), ") from ", env.netns,
                          ": ", Changes(*removed)));
    Retain(engine, retained);
  } else {
    log.Info(absl::StrCat("the network namespace ",
                          env.netns.empty() ? "(none given)" : env.netns,
                          " is gone; forgetting the attachment"));
  }
  std::vector<std::string> files;
  absl::Status forgotten = store.Forget(attachment, &files);
  if (!files.empty()) log.Debug("removed " + absl::StrJoin(files, ", "));
  if (!forgotten.ok()) {
    return Fail(CniError{kErrState, "cannot remove the attachment's records",
                         std::string(forgotten.message())},
                v, log);
  }
  return PluginOutput{};
}

PluginOutput Gc(const PluginConfig& config, Logger& log) {
  const std::string& v = config.cni_version;
  if (!config.valid_attachments.has_value()) {
    return Fail(
        CniError{kErrInvalidConfig, "GC without 'cni.dev/valid-attachments'",
                 "the runtime lists the attachments still valid; "
                 "without the list nothing can be told stale"},
        v, log);
  }
  const AttachmentStore store(internal::DefaultStateDir(), config.name);
  std::vector<std::string> files;
  absl::Status s = store.Collect(*config.valid_attachments, &files);
  log.Info(
      absl::StrCat("gc: ", config.valid_attachments->size(),
                   " valid attachment(s); removed ", files.size(), " file(s)",
                   files.empty() ? "" : ": " + absl::StrJoin(files, ", ")));
  if (!s.ok()) {
    return Fail(CniError{kErrState, "cannot remove stale records",
                         std::string(s.message())},
                v, log);
  }
  return PluginOutput{};
}

// --- STATUS -----------------------------------------------------------------

// A network namespace of our own with lo up, held by an fd and gone when it
// is closed; made on a short-lived thread, so that no thread of the caller
// changes namespace.
absl::StatusOr<UniqueFd> ScratchNetns() {
  absl::Status status;
  UniqueFd fd;
  std::thread worker([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      status = internal::ErrnoStatus(
          errno, "cannot create a scratch network namespace (unshare)",
          "meshcap-cni needs CAP_SYS_ADMIN (to enter pod namespaces) and "
          "CAP_NET_ADMIN");
      return;
    }
    fd.reset(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (!fd || !sock || ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) {
      status =
          internal::ErrnoStatus(errno, "cannot set up a scratch namespace");
      return;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) {
      status = internal::ErrnoStatus(errno, "cannot set lo up");
    }
  });
  worker.join();
  if (!status.ok()) return status;
  return fd;
}

// The Engine's options for a scratch namespace: a throwaway xtables lock
// of our own, never the node's.
EngineOptions ScratchOptions(const std::string& backend, int fd,
                             const std::string& lock) {
  EngineOptions o;
  o.backend = backend;
  o.netns_fd = fd;
  o.xtables_lock_path = lock;
  o.state_dir = internal::DefaultStateDir();
  return o;
}

// <state>/cni/.status-<pid>.xtables.lock, its directories made.
absl::StatusOr<std::string> ScratchLock() {
  const std::string state = internal::DefaultStateDir();
  for (const std::string& d : {state, state + "/cni"}) {
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
      return internal::ErrnoStatus(
          errno, "cannot create the state directory " + Quote(d),
          "meshcap-cni needs write access to its state directory");
    }
  }
  return absl::StrCat(state, "/cni/.status-", getpid(), ".xtables.lock");
}

// Removes the scratch xtables lock, and cni/ when it is left empty.
void DropScratchLock(const std::string& lock) {
  unlink(lock.c_str());
  rmdir((internal::DefaultStateDir() + "/cni").c_str());
}

absl::Status ApplyInScratch(const CapturePolicy& policy,
                            const std::string& backend) {
  absl::StatusOr<std::string> lock = ScratchLock();
  if (!lock.ok()) return lock.status();
  absl::StatusOr<UniqueFd> ns = ScratchNetns();
  if (!ns.ok()) return ns.status();
  absl::Status result = [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Create(ScratchOptions(backend, ns->get(), *lock));
    if (!engine.ok()) return engine.status();
    absl::StatusOr<ApplyResult> applied = (*engine)->Apply(policy);
    if (!applied.ok()) return applied.status();
    absl::StatusOr<VerifyReport> report = (*engine)->Verify(policy);
    if (!report.ok()) return report.status();
    if (!report->matches()) {
      return absl::InternalError(
          absl::StrCat("the kernel did not keep the rules: ",
                       report->differences.front().ToString()));
    }
    return absl::OkStatus();
  }();
  DropScratchLock(*lock);
  return result;
}

absl::Status CaptureWorks(const std::string& backend) {
  absl::StatusOr<std::string> lock = ScratchLock();
  if (!lock.ok()) return lock.status();
  absl::StatusOr<UniqueFd> ns = ScratchNetns();
  if (!ns.ok()) return ns.status();
  absl::Status result = [&]() -> absl::Status {
    // istio-init's rules: the probe proves outbound and inbound capture.
    PolicyBuilder b;
    b.SetOutboundCidrsInclude("*").SetInboundPorts("*");
    absl::StatusOr<CapturePolicy> policy = b.Build();
    if (!policy.ok()) return policy.status();
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Create(ScratchOptions(backend, ns->get(), *lock));
    if (!engine.ok()) return engine.status();
    absl::StatusOr<ApplyResult> applied = (*engine)->Apply(*policy);
    if (!applied.ok()) return applied.status();
    ValidateOptions v;
    v.netns_fd = ns->get();
    v.timeout = std::chrono::milliseconds(2000);
    return ValidateCapture(v);
  }();
  DropScratchLock(*lock);
  return result;
}

}  // namespace

NodeChecks KernelNodeChecks() {
  return NodeChecks{ApplyInScratch, CaptureWorks};
}

std::optional<CniError> NodeStatus(const PluginConfig& config,
                                   const NodeChecks& checks, Logger& log) {
  CniOr<CapturePolicy> policy = BuildPolicy(config, {});
  if (!policy.ok()) return policy.error();
  const std::string& backend = config.backend;
  absl::Status applied = checks.apply_in_scratch(*policy, backend);
  if (!applied.ok()) {
    return CniError{kErrNotAvailable,
                    absl::StrCat("the ", backend,
                                 " backend cannot install the capture on "
                                 "this node"),
                    std::string(applied.message())};
  }
  absl::Status works = checks.capture_works(backend);
  if (absl::IsDeadlineExceeded(works)) {
    // 50 as well, never 51 (error.h).
    return CniError{kErrNotAvailable,
                    absl::StrCat("the ", backend,
                                 " backend installs the capture but it "
                                 "captures nothing on this node"),
                    std::string(works.message())};
  }
  if (absl::IsPermissionDenied(works)) {
    log.Warn(absl::StrCat("status: the capture probe could not run (",
                          works.message(), "); the rules install"));
    return std::nullopt;
  }
  if (!works.ok()) {
    return CniError{kErrNotAvailable,
                    absl::StrCat("the ", backend,
                                 " backend cannot install the capture on "
                                 "this node"),
                    std::string(works.message())};
  }
  return std::nullopt;
}

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
