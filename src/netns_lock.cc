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

constexpr std::string_view kFilePermission =
    "meshcap keeps its per-namespace locks there and needs write access "
    "(set MESHCAP_STATE_DIR or EngineOptions::state_dir elsewhere)";

absl::Status MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    return absl::OkStatus();
  }
  return ErrnoStatus(
      errno, absl::StrCat("cannot create the state directory ", Quote(dir)),
      kFilePermission);
}

// The pid the holder wrote, for the message.
// Who holds the lock on `fd`'s file: the kernel's record (/proc/locks,
// "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE ..."), else the pid the last
// exclusive holder wrote into the file.
std::string Holder(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0) {
    const std::string id = absl::StrFormat("%02x:%02x:%u", major(st.st_dev),
                                           minor(st.st_dev), st.st_ino);
    std::ifstream locks("/proc/locks");
    std::string line;
    while (std::getline(locks, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // "1:" "FLOCK" "ADVISORY" "WRITE" "PID" "MAJ:MIN:INODE" "0" "EOF";
      // a waiter's line has "->" after the number.
      if (f.size() >= 6 && f[1] == "FLOCK" && f[5] == id) {
        return absl::StrCat("process ", f[4],
                            f[3] == "READ" ? " (reading)" : "");
      }
    }
  }
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "another process";
  std::string pid(buf, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
    pid.pop_back();
  }
  return absl::StrCat("process ", Escape(pid));
}

}  // namespace

std::string DefaultStateDir() {
  const char* env = secure_getenv("MESHCAP_STATE_DIR");
  return env != nullptr && *env != '\0' ? env : "/run/meshcap";
}

absl::StatusOr<NetnsLock> NetnsLock::Acquire(
    const std::string& state_dir, const std::string& key, bool exclusive,
    std::chrono::milliseconds timeout) {
  if (absl::Status s = MakeDir(state_dir); !s.ok()) return s;
  const std::string path = absl::StrCat(state_dir, "/", key, ".lock");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    UniqueFd fd(open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    if (!fd) {
      return ErrnoStatus(
          errno, absl::StrCat("cannot open the namespace lock ", Quote(path)),
          kFilePermission);
    }
    for (;;) {
      if (flock(fd.get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
        break;
      }
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return ErrnoStatus(errno, absl::StrCat("cannot lock ", Quote(path)));
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::UnavailableError(
            absl::StrCat("the meshcap lock of this network namespace (", path,
                         ") is held by ", Holder(fd.get()), "; waited ",
                         timeout.count(), " ms; nothing was changed"));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(10000));
    }
    // The holder before us may have removed the file: then ours is a lock
    // on nothing, and we start over on the new file.
    struct stat held, now;
    if (fstat(fd.get(), &held) == 0 && stat(path.c_str(), &now) == 0 &&
        held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
      if (exclusive) {
        const std::string pid = absl::StrCat(getpid(), "\n");
        if (ftruncate(fd.get(), 0) == 0) {
          (void)!pwrite(fd.get(), pid.data(), pid.size(), 0);
        }
      }
      NetnsLock lock(std::move(fd), path);
      lock.unlink_ = exclusive;
      return lock;
    }
  }
}

NetnsLock::~NetnsLock() {
  if (!fd_) return;
  if (!unlink_ && flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) return;
  // Exclusive now: nobody else can remove or replace the file, so it is
  // still ours if it is still there.
  struct stat held, now;
  if (fstat(fd_.get(), &held) == 0 && stat(path_.c_str(), &now) == 0 &&
      held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
    unlink(path_.c_str());
  }
}

}  // namespace meshcap::internal
