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

  // On release, the lock removes its file when no one else holds it (an
  // exclusive holder always; a shared one when it can take the lock
  // exclusively), so that the state directory does not fill with one file
  // per namespace ever served. Only a holder of the file's exclusive lock
  // removes it, so the path cannot change under it; waiters on the old file
  // notice and start over on a new one.
  const std::string& path() const { return path_; }

 private:
  NetnsLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(path) {}
  UniqueFd fd_;
  std::string path_;
  bool unlink_ = false;
};

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETNS_LOCK_H_
