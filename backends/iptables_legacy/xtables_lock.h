// SPDX-License-Identifier: GPL-2.0-or-later
// The xtables lock: the flock() every iptables binary takes before it
// touches a table, so that we and they never interleave.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_XTABLES_LOCK_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_XTABLES_LOCK_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "src/unique_fd.h"

namespace meshcap::ipt {

class XtablesLock {
 public:
  // `path` empty: $XTABLES_LOCKFILE when set, else /run/xtables.lock.
  static std::string DefaultPath();

  // Waits up to `timeout` for an exclusive flock on `path`. A lock still
  // held then is kDeadlineExceeded naming the path and the wait. Closing
  // the file (the object's end) releases it.
  [[nodiscard]] static absl::StatusOr<XtablesLock> Acquire(
      const std::string& path, std::chrono::milliseconds timeout);

 private:
  explicit XtablesLock(internal::UniqueFd fd) : fd_(std::move(fd)) {}
  internal::UniqueFd fd_;
};

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_XTABLES_LOCK_H_
