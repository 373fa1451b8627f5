// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/netns_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "src/errno_status.h"
#include "src/state_dir.h"
#include "src/text.h"

namespace meshcap::internal {
std::string DefaultStateDir() {
  const char* env = secure_getenv("MESHCAP_STATE_DIR");
  return env != nullptr && *env != '\0' ? env : "/run/meshcap";
}

absl::StatusOr<UniqueFd> NetnsLock::OpenNamespace() {
  UniqueFd fd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return ErrnoStatus(errno, "cannot open the network namespace to lock it",
                       "");
  }
  return fd;
}

absl::StatusOr<NetnsLock> NetnsLock::Acquire(
    int ns, bool exclusive, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    if (flock(ns, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
      return NetnsLock(ns);
    }
    struct stat st;
    const std::string name = fstat(ns, &st) == 0
                                 ? absl::StrCat("net:[", st.st_ino, "]")
                                 : std::string("?");
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return ErrnoStatus(errno,
                         absl::StrCat("cannot lock network namespace ", name));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the meshcap lock of this network namespace (", name,
                       ") is held by ", LockHolder(ns), "; waited ",
                       timeout.count(), " ms; nothing was changed"));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(10000));
  }
}

NetnsLock::~NetnsLock() {
  if (fd_ >= 0) flock(fd_, LOCK_UN);
}

}  // namespace meshcap::internal
