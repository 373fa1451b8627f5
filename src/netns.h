// SPDX-License-Identifier: GPL-2.0-or-later
// Running work inside another network namespace without moving the caller.

#ifndef MESHCAP_SRC_NETNS_H_
#define MESHCAP_SRC_NETNS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meshcap::internal {

// Opens a network namespace file (`/proc/PID/ns/net`, `/var/run/netns/X`)
// and checks that it is one. The caller owns the fd.
absl::StatusOr<int> OpenNetns(const std::string& path);

// Runs `fn` on the calling thread when `netns_fd` is -1, otherwise on a
// helper thread that first enters `netns_fd`. The calling thread's namespace
// never changes. Sockets opened by `fn` stay bound to that namespace.
absl::Status RunInNetns(int netns_fd, const std::function<absl::Status()>& fn);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETNS_H_
