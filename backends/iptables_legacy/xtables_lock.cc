// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/xtables_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/errno_status.h"
#include "src/text.h"

namespace meshcap::ipt {

std::string XtablesLock::DefaultPath() {
  const char* env = getenv("XTABLES_LOCKFILE");
  return env != nullptr && *env != '\0' ? env : "/run/xtables.lock";
}

absl::StatusOr<XtablesLock> XtablesLock::Acquire(
    const std::string& path, std::chrono::milliseconds timeout) {
  const std::string file = path.empty() ? DefaultPath() : path;
  // As iptables opens it (O_CREAT, read-only: flock needs no more), so
  // that a lock file on a file system that became read-only still works.
  internal::UniqueFd fd(
      open(file.c_str(), O_CREAT | O_RDONLY | O_CLOEXEC, 0600));
  if (!fd) {
    return internal::ErrnoStatus(
        errno,
        absl::StrCat("cannot open the xtables lock ", internal::Quote(file)),
        "iptables and meshcap serialise on it and need write access (set "
        "$XTABLES_LOCKFILE or EngineOptions::xtables_lock_path elsewhere)");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    if (flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      return XtablesLock(std::move(fd));
    }
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return internal::ErrnoStatus(
          errno,
          absl::StrCat("cannot lock the xtables lock ", internal::Quote(file)));
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "the xtables lock ", file, " is held by another process; waited ",
      timeout.count(), " ms; nothing was changed"));
}

}  // namespace meshcap::ipt
