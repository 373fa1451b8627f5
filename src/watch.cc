// SPDX-License-Identifier: GPL-2.0-or-later
// Engine::Watch: apply, then hold the capture.
//
// What it listens to, in the target namespace (sockets opened on the
// Engine's thread, which is there, and polled from the caller's):
//   - nfnetlink's nftables group (NFNLGRP_NFTABLES): every nf_tables
//     commit, anybody's, for the nftables and iptables-nft backends;
//   - rtnetlink's rule, route and address groups, IPv4 and IPv6: policy
//     routing and `::6`, for every backend.
// An event (or, with none, `interval` on iptables-legacy and `resync`
// elsewhere) triggers a Verify; only a difference triggers an Apply. Our
// own apply's events trigger one more Verify, which matches. A socket that
// overran (ENOBUFS) means events were lost: a Verify covers them.
//
// One watcher per namespace: an flock on <state_dir>/watch/<netns key>.lock
// (not the namespace's own lock, which every apply takes and which a
// watcher must not hold between applies). A second watcher waits for it,
// polling every 100 ms so that StopWatch still reaches it; a SIGKILLed
// holder's lock goes with it, and the waiter adopts the namespace.

#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "meshcap/engine.h"
#include "src/engine_peer.h"
#include "src/errno_status.h"
#include "src/state_dir.h"
#include "src/status_macros.h"
#include "src/unique_fd.h"

namespace meshcap::internal {
namespace {

using Clock = std::chrono::steady_clock;

absl::StatusOr<UniqueFd> Subscribe(int protocol,
                                   const std::vector<unsigned>& groups) {
  UniqueFd fd(
      socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol));
  if (!fd.ok()) return ErrnoStatus(errno, "netlink socket for events");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return ErrnoStatus(errno, "binding a netlink socket for events");
  }
  // Room for a burst (a large commit sends a message per object).
  const int size = 1 << 20;
  (void)setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  for (unsigned g : groups) {
    if (setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g,
                   sizeof(g)) != 0) {
      return ErrnoStatus(errno, absl::StrCat("joining netlink group ", g));
    }
  }
  return fd;
}

// Reads everything pending; true if anything (or an overrun) was there.
bool Drain(int fd) {
  if (fd < 0) return false;
  bool any = false;
  alignas(nlmsghdr) char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      any = true;  // events were lost: verify
      continue;
    }
    return any;
  }
}

// What drifted, on one line of a sensible length: a flushed chain is a
// dozen missing rules.
std::string Summary(const std::vector<std::string>& drifted) {
  constexpr size_t kShown = 3;
  if (drifted.size() <= kShown) return absl::StrJoin(drifted, "; ");
  return absl::StrCat(
      absl::StrJoin(drifted.begin(), drifted.begin() + kShown, "; "), "; and ",
      drifted.size() - kShown, " more");
}

std::string Ms(Clock::duration d) {
  return absl::StrFormat("%.1f ms",
                         std::chrono::duration<double, std::milli>(d).count());
}

}  // namespace

absl::Status RunWatch(Engine& engine, const CapturePolicy& policy,
                      const WatchOptions& options,
                      const std::function<void(const WatchEvent&)>& on_event,
                      int stop_fd, const std::string& state_dir) {
  auto report = [&](WatchEvent e) {
    if (on_event) on_event(e);
  };
  auto stopped = [&](int timeout_ms) {
    pollfd p{stop_fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) > 0) {
      uint64_t v;
      (void)!read(stop_fd, &v, sizeof(v));
      return true;
    }
    return false;
  };

  // One watcher per namespace.
  absl::StatusOr<StateDir> watch_dir = [&]() -> absl::StatusOr<StateDir> {
    MESHCAP_ASSIGN_OR_RETURN(StateDir root, StateDir::Open(state_dir, true));
    return root.Sub("watch", true);
  }();
  if (!watch_dir.ok()) return watch_dir.status();
  StateDir& dir = *watch_dir;
  const std::string lock_name =
      absl::StrCat(EnginePeer::NetnsKey(engine), ".lock");
  std::optional<FileLock> lock;
  bool said = false;
  for (;;) {
    MESHCAP_ASSIGN_OR_RETURN(lock, dir.TryLock(lock_name));
    if (lock.has_value()) break;
    if (!said) {
      std::string holder = "another process";
      UniqueFd f(openat(dir.fd(), lock_name.c_str(),
                        O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (f.ok()) holder = LockHolder(f.get());
      WatchEvent e;
      e.kind = WatchEvent::Kind::kWaiting;
      e.message = absl::StrCat("another watcher (", holder,
                               ") holds this namespace; waiting for it");
      report(e);
      said = true;
    }
    if (stopped(100)) return absl::OkStatus();
  }

  // However the watch ends, its lock file goes with it (a waiter finds
  // the name gone and takes a new one: StateDir::Lock).
  struct Release {
    std::optional<FileLock>& held;
    ~Release() {
      if (held.has_value()) held->RemoveAndRelease();
    }
  } release{lock};

  // Subscribe before the first apply, so that nothing after it is missed.
  const bool nf_events = engine.backend_name() != "iptables-legacy";
  UniqueFd nf, rt;
  MESHCAP_RETURN_IF_ERROR(
      EnginePeer::RunInNamespace(engine, [&]() -> absl::Status {
        if (nf_events) {
          MESHCAP_ASSIGN_OR_RETURN(
              nf, Subscribe(NETLINK_NETFILTER, {NFNLGRP_NFTABLES}));
        }
        MESHCAP_ASSIGN_OR_RETURN(
            rt, Subscribe(NETLINK_ROUTE,
                          {RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE,
                           RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
                           RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR}));
        return absl::OkStatus();
      }));

  // The caller's wrapper around each apply (WatchOptions::around).
  auto guarded = [&](const std::function<absl::Status()>& apply) {
    return options.around ? options.around(apply) : apply();
  };
  {
    const Clock::time_point t0 = Clock::now();
    ApplyResult applied;
    MESHCAP_RETURN_IF_ERROR(guarded([&]() -> absl::Status {
      MESHCAP_ASSIGN_OR_RETURN(applied, engine.Apply(policy));
      return absl::OkStatus();
    }));
    WatchEvent e;
    e.kind = WatchEvent::Kind::kApplied;
    e.changes = applied.changes;
    e.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        Clock::now() - t0);
    e.message = absl::StrCat(
        applied.changed() ? "applied" : "already in place", " (",
        std::string(engine.backend_name()), ", ", Ms(Clock::now() - t0),
        "); watching ",
        nf_events ? "the kernel's events"
                  : absl::StrCat("every ", options.interval.count(), " ms"));
    report(e);
  }

  const int idle_ms = static_cast<int>(nf_events ? options.resync.count()
                                                 : options.interval.count());
  bool retrying = false;
  for (;;) {
    pollfd fds[3] = {{stop_fd, POLLIN, 0},
                     {rt.get(), POLLIN, 0},
                     {nf.ok() ? nf.get() : -1, POLLIN, 0}};
    const int timeout =
        retrying ? static_cast<int>(options.interval.count()) : idle_ms;
    const int n = poll(fds, 3, timeout);
    if (n < 0 && errno != EINTR) return ErrnoStatus(errno, "poll");
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!read(stop_fd, &v, sizeof(v));
      return absl::OkStatus();
    }
    const Clock::time_point noticed = Clock::now();
    Drain(rt.get());
    Drain(nf.ok() ? nf.get() : -1);
    absl::StatusOr<VerifyReport> v = engine.Verify(policy);
    if (v.ok() && v->matches()) {
      retrying = false;
      continue;
    }
    std::vector<std::string> drifted;
    if (v.ok()) {
      for (const Difference& d : v->differences) {
        drifted.push_back(d.ToString());
      }
    } else {
      drifted.push_back(absl::StrCat("verify failed: ", v.status().message()));
    }
    absl::StatusOr<ApplyResult> healed = absl::UnknownError("not applied");
    absl::StatusOr<VerifyReport> after = absl::UnknownError("not verified");
    // The caller's refusal ends the watch; an apply's failure is retried.
    MESHCAP_RETURN_IF_ERROR(guarded([&]() -> absl::Status {
      healed = engine.Apply(policy);
      // The heal is done when the capture verifies whole again.
      if (healed.ok()) after = engine.Verify(policy);
      return absl::OkStatus();
    }));
    if (healed.ok()) {
      if (after.ok() && after->matches()) {
        WatchEvent e;
        e.kind = WatchEvent::Kind::kHealed;
        e.drifted = drifted;
        e.changes = healed->changes;
        e.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
            Clock::now() - noticed);
        e.message = absl::StrCat("healed in ", Ms(Clock::now() - noticed), ": ",
                                 Summary(drifted));
        report(e);
        retrying = false;
        continue;
      }
      healed = after.ok() ? absl::InternalError(absl::StrCat(
                                "the capture still differs after the "
                                "re-apply: ",
                                after->differences.front().ToString()))
                          : after.status();
    }
    WatchEvent e;
    e.kind = WatchEvent::Kind::kHealFailed;
    e.drifted = drifted;
    e.status = healed.status();
    e.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        Clock::now() - noticed);
    e.message = absl::StrCat("could not heal (", healed.status().ToString(),
                             "), retrying in ", options.interval.count(),
                             " ms: ", Summary(drifted));
    report(e);
    retrying = true;
  }
}

}  // namespace meshcap::internal
