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
#include "src/text.h"

namespace meshcap::internal {
namespace {

// Who holds the flock on `fd`'s inode, from the kernel's record
// (/proc/locks: "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END").
std::string Holder(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return "another process";
  const std::string id = absl::StrFormat("%02x:%02x:%u", major(st.st_dev),
                                         minor(st.st_dev), st.st_ino);
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // A waiter's line has "->" after the number: skip it.
    if (f.size() >= 6 && f[1] == "FLOCK" && f[5] == id) {
      return absl::StrCat("process ", f[4], f[3] == "READ" ? " (reading)" : "");
    }
  }
  return "another process";
}

}  // namespace

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
                       ") is held by ", Holder(ns), "; waited ",
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
