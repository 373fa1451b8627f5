// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/errno_status.h"
#include "src/netns.h"
#include "src/status_macros.h"
#include "src/unique_fd.h"

namespace meshcap {
namespace {

using Clock = std::chrono::steady_clock;

using internal::UniqueFd;

sockaddr_storage Address(bool v6, const char* ip, uint16_t port,
                         socklen_t* len) {
  sockaddr_storage ss{};
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    *len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    *len = sizeof(*a);
  }
  return ss;
}

absl::StatusOr<UniqueFd> Listen(bool v6, uint16_t port) {
  UniqueFd fd(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return internal::ErrnoStatus(errno, "validation: socket");
  const int on = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  socklen_t len;
  sockaddr_storage a = Address(v6, v6 ? "::1" : "127.0.0.1", port, &len);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      listen(fd.get(), 16) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "validation: cannot listen on ", v6 ? "[::1]" : "127.0.0.1", ":", port,
        ": ", strerror(errno), " (is a proxy already running?)"));
  }
  return fd;
}

// The original destination port of an accepted, redirected connection.
int OriginalPort(int fd, bool v6) {
  sockaddr_storage orig{};
  socklen_t len = sizeof(orig);
  if (v6) {
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig, &len) != 0) {
      return -1;
    }
    return ntohs(reinterpret_cast<sockaddr_in6*>(&orig)->sin6_port);
  }
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &len) != 0) return -1;
  return ntohs(reinterpret_cast<sockaddr_in*>(&orig)->sin_port);
}

absl::Status Probe(const ValidateOptions& o) {
  MESHCAP_ASSIGN_OR_RETURN(UniqueFd out, Listen(o.ipv6, o.outbound_port));
  MESHCAP_ASSIGN_OR_RETURN(UniqueFd in, Listen(o.ipv6, o.inbound_port));
  const auto deadline = Clock::now() + o.timeout;
  std::atomic<bool> done{false};
  std::string client_error = "no attempt";
  absl::Status identity;
  // The client takes the proxy's identity on its own thread only (raw
  // setresuid/setresgid change one thread's credentials), so that the
  // owner match sees the proxy; the thread ends with the probe.
  std::thread client([&] {
    if (syscall(SYS_setresgid, o.gid, o.gid, o.gid) != 0 ||
        syscall(SYS_setresuid, o.uid, o.uid, o.uid) != 0) {
      identity = absl::PermissionDeniedError(
          absl::StrCat("validation: cannot run the client as uid ", o.uid,
                       " gid ", o.gid, ": ", strerror(errno)));
      return;
    }
    while (!done && Clock::now() < deadline) {
      UniqueFd c(
          socket(o.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      socklen_t len;
      sockaddr_storage a =
          Address(o.ipv6, o.ipv6 ? "::6" : "127.0.0.6", o.probe_port, &len);
      if (connect(c.get(), reinterpret_cast<sockaddr*>(&a), len) == 0) {
        // Hold the connection until the listener side has looked at it.
        while (!done && Clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return;
      }
      client_error = strerror(errno);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  absl::Status result;
  bool captured = false;
  while (!captured && Clock::now() < deadline) {
    pollfd fds[2] = {{out.get(), POLLIN, 0}, {in.get(), POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (poll(fds, 2, static_cast<int>(std::max<int64_t>(left.count(), 0))) <=
        0) {
      continue;
    }
    for (const pollfd& p : fds) {
      if (!(p.revents & POLLIN)) continue;
      UniqueFd accepted(accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (accepted.get() >= 0 &&
          OriginalPort(accepted.get(), o.ipv6) == o.probe_port) {
        captured = true;
      }
    }
  }
  done = true;
  client.join();
  if (!identity.ok()) return identity;
  if (captured) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "validation failed: a connection from uid ", o.uid, " to ",
      o.ipv6 ? "[::6]" : "127.0.0.6", ":", o.probe_port,
      " was not captured to ports ", o.outbound_port, "/", o.inbound_port,
      " within ", o.timeout.count(), " ms (the client saw: ", client_error,
      "); the capture rules are missing or wrong"));
}

}  // namespace

absl::Status ValidateCapture(const ValidateOptions& options) {
  if (!options.netns_path.empty() && options.netns_fd >= 0) {
    return absl::InvalidArgumentError(
        "give the network namespace by path or by fd, not both");
  }
  int fd = options.netns_fd;
  internal::UniqueFd owned;
  if (!options.netns_path.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(owned, internal::OpenNetns(options.netns_path));
    fd = owned.get();
  }
  MESHCAP_ASSIGN_OR_RETURN(auto exec, internal::NetnsExecutor::Start(fd));
  return exec->Run([&] { return Probe(options); });
}

}  // namespace meshcap
