// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/status.h"

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

#include "absl/strings/str_cat.h"
#include "meshcap/engine.h"
#include "meshcap/validate.h"
#include "src/cni/pod_policy.h"
#include "src/errno_status.h"
#include "src/netns_lock.h"
#include "src/state_dir.h"
#include "src/text.h"
#include "src/unique_fd.h"

namespace meshcap::cni {
namespace {

using internal::Quote;
using internal::UniqueFd;

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

// The Engine's options for a scratch namespace: the xtables lock of
// meshcap-cni's pods (attachment_store.h), never the node's.
EngineOptions ScratchOptions(const std::string& backend, int fd,
                             const internal::UniqueFd& lock) {
  EngineOptions o;
  o.backend = backend;
  o.netns_fd = fd;
  o.xtables_lock_path = absl::StrCat("/proc/self/fd/", lock.get());
  o.state_dir = internal::DefaultStateDir();
  return o;
}

// <state>/cni/xtables.lock, opened without following links.
absl::StatusOr<UniqueFd> ScratchLock() {
  absl::StatusOr<internal::StateDir> state =
      internal::StateDir::Open(internal::DefaultStateDir(), true);
  if (!state.ok()) return state.status();
  absl::StatusOr<internal::StateDir> cni = state->Sub("cni", true);
  if (!cni.ok()) return cni.status();
  return cni->OpenFile("xtables.lock", O_CREAT | O_RDONLY);
}

absl::Status ApplyInScratch(const CapturePolicy& policy,
                            const std::string& backend) {
  absl::StatusOr<UniqueFd> lock = ScratchLock();
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
  return result;
}

absl::Status CaptureWorks(const std::string& backend) {
  absl::StatusOr<UniqueFd> lock = ScratchLock();
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
  return result;
}

}  // namespace

NodeChecks KernelNodeChecks() {
  return NodeChecks{ApplyInScratch, CaptureWorks};
}

std::optional<CniError> NodeStatus(const PluginConfig& config,
                                   const NodeChecks& checks, Logger& log) {
  CniOr<CapturePolicy> policy = NodePolicy(config);
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

}  // namespace meshcap::cni
