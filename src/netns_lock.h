// SPDX-License-Identifier: GPL-2.0-or-later
// The per-namespace critical section: every Engine operation that changes a
// namespace (and every verify, shared) holds an flock on the namespace
// itself (its nsfs inode, the one `/proc/PID/ns/net` names), whichever
// process or Engine it comes from. The lock needs no file of its own, so
// nothing is left behind, and it goes with the namespace.

#ifndef MESHCAP_SRC_NETNS_LOCK_H_
#define MESHCAP_SRC_NETNS_LOCK_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "src/unique_fd.h"

namespace meshcap::internal {

// $MESHCAP_STATE_DIR when set, else /run/meshcap: where intent records of
// interrupted applies are kept.
std::string DefaultStateDir();

class NetnsLock {
 public:
  // Waits up to `timeout` for the lock of the namespace behind `netns_fd`
  // (-1: the calling thread's). A lock still held then is kUnavailable
  // naming the namespace and the holder's pid; nothing was changed.
  static absl::StatusOr<NetnsLock> Acquire(int netns_fd, bool exclusive,
                                           std::chrono::milliseconds timeout);

  NetnsLock(NetnsLock&&) = default;
  NetnsLock& operator=(NetnsLock&&) = default;
  ~NetnsLock() = default;

 private:
  explicit NetnsLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // its own open file description: flock belongs to it
};

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETNS_LOCK_H_
