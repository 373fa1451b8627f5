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
#include <utility>

#include "absl/status/statusor.h"
#include "src/unique_fd.h"

namespace meshcap::internal {

// $MESHCAP_STATE_DIR when set, else /run/meshcap: where intent records of
// interrupted applies are kept.
std::string DefaultStateDir();

class NetnsLock {
 public:
  // A new open file description of the calling thread's namespace: what an
  // Engine locks, one per Engine (flock excludes open file descriptions,
  // so two Engines, even of one process, exclude each other).
  [[nodiscard]] static absl::StatusOr<UniqueFd> OpenNamespace();

  // Waits up to `timeout` for the lock on `ns` (from OpenNamespace(),
  // borrowed). A lock still held then is kDeadlineExceeded naming the
  // namespace and the holder's pid; nothing was changed. Released on
  // destruction.
  [[nodiscard]] static absl::StatusOr<NetnsLock> Acquire(
      int ns, bool exclusive, std::chrono::milliseconds timeout);

  NetnsLock(NetnsLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  NetnsLock& operator=(NetnsLock&&) = delete;
  ~NetnsLock();

 private:
  explicit NetnsLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETNS_LOCK_H_
