// SPDX-License-Identifier: GPL-2.0-or-later
// The per-namespace critical section: every Engine operation that changes a
// namespace (and every verify, shared) holds an flock on
// <state_dir>/<netns key>.lock, whichever process or Engine it comes from.

#ifndef MESHCAP_SRC_NETNS_LOCK_H_
#define MESHCAP_SRC_NETNS_LOCK_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "src/unique_fd.h"

namespace meshcap::internal {

// $MESHCAP_STATE_DIR when set, else /run/meshcap.
std::string DefaultStateDir();

class NetnsLock {
 public:
  // Waits up to `timeout` for the lock of `key` in `state_dir` (created,
  // mode 0700, when missing). A lock still held then is kUnavailable naming
  // the file and the holder's pid; nothing was changed.
  static absl::StatusOr<NetnsLock> Acquire(const std::string& state_dir,
                                           const std::string& key,
                                           bool exclusive,
                                           std::chrono::milliseconds timeout);

  NetnsLock(NetnsLock&&) = default;
  NetnsLock& operator=(NetnsLock&&) = default;
  ~NetnsLock();

  // Removes the lock file when the lock is released (the namespace holds
  // nothing of ours any more). Waiters notice and start over on a new file.
  void UnlinkOnRelease() { unlink_ = true; }
  const std::string& path() const { return path_; }

 private:
  NetnsLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(path) {}
  UniqueFd fd_;
  std::string path_;
  bool unlink_ = false;
};

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETNS_LOCK_H_
