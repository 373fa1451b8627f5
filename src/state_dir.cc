// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/state_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/errno_status.h"
#include "src/text.h"

namespace meshcap::internal {
namespace {

constexpr char kStatePayload[] = "meshcap.dev/state-directory";

constexpr std::string_view kNeedsState =
    "meshcap needs write access to its state directory ($MESHCAP_STATE_DIR, "
    "default /run/meshcap)";

absl::Status Errno(int err, std::string_view what) {
  return StateError(ErrnoStatus(err, what, kNeedsState));
}

// The checks every directory of ours passes: see the header.
absl::Status CheckDir(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return Errno(errno, absl::StrCat("cannot inspect ", Quote(path)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return StateError(absl::FailedPreconditionError(absl::StrCat(
        "the state directory ", Quote(path), " is not a directory")));
  }
  if (st.st_uid != geteuid()) {
    return StateError(absl::FailedPreconditionError(
        absl::StrCat("the state directory ", Quote(path), " belongs to uid ",
                     st.st_uid, ", not to meshcap's user (uid ", geteuid(),
                     "); refusing a directory another user controls")));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return StateError(absl::FailedPreconditionError(absl::StrFormat(
        "the state directory %s has mode %04o: group or others may write to "
        "it; refusing it (chmod go-w)",
        Quote(path), st.st_mode & 07777)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status StateError(absl::Status s) {
  if (!s.ok()) s.SetPayload(kStatePayload, absl::Cord("1"));
  return s;
}

bool IsStateError(const absl::Status& s) {
  return s.GetPayload(kStatePayload).has_value();
}

uint64_t StableHash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string FileNameFor(std::string_view name, size_t max) {
  if (name.size() <= max) return std::string(name);
  // The records name their owner in full, so a collision is seen and
  // refused rather than mistaken.
  const std::string tail = absl::StrFormat("~%016x", StableHash(name));
  return absl::StrCat(ToAbsl(name.substr(0, max - tail.size())), tail);
}

absl::StatusOr<StateDir> StateDir::Open(const std::string& path, bool create) {
  if (path.empty() || path[0] != '/') {
    return StateError(absl::InvalidArgumentError(absl::StrCat(
        "the state directory ", Quote(path), " is not an absolute path")));
  }
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(open(path.c_str(), kFlags));
  if (!fd && errno == ENOENT && create) {
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return Errno(errno, absl::StrCat("cannot create the state directory ",
                                       Quote(path)));
    }
    fd.reset(open(path.c_str(), kFlags));
  }
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return StateError(absl::FailedPreconditionError(
          absl::StrCat("the state directory ", Quote(path),
                       " is a symbolic link or not a directory; refusing it")));
    }
    return Errno(errno,
                 absl::StrCat("cannot open the state directory ", Quote(path)));
  }
  if (absl::Status s = CheckDir(fd.get(), path); !s.ok()) return s;
  return StateDir(path, std::move(fd));
}

absl::StatusOr<StateDir> StateDir::Sub(std::string_view name,
                                       bool create) const {
  const std::string path = PathOf(name);
  const std::string n(name);
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(openat(fd_.get(), n.c_str(), kFlags));
  if (!fd && errno == ENOENT && create) {
    if (mkdirat(fd_.get(), n.c_str(), 0700) != 0 && errno != EEXIST) {
      return Errno(errno, absl::StrCat("cannot create ", Quote(path)));
    }
    fd.reset(openat(fd_.get(), n.c_str(), kFlags));
  }
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return StateError(absl::FailedPreconditionError(
          absl::StrCat(Quote(path),
                       " is a symbolic link or not a directory; refusing to "
                       "follow it")));
    }
    return Errno(errno, absl::StrCat("cannot open ", Quote(path)));
  }
  if (absl::Status s = CheckDir(fd.get(), path); !s.ok()) return s;
  return StateDir(path, std::move(fd));
}

std::string StateDir::PathOf(std::string_view name) const {
  return absl::StrCat(path_, "/", ToAbsl(name));
}

absl::StatusOr<std::optional<std::string>> StateDir::Read(
    std::string_view name, size_t max_bytes) const {
  const std::string n(name);
  UniqueFd fd(openat(fd_.get(), n.c_str(),
                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) {
      return StateError(absl::FailedPreconditionError(absl::StrCat(
          Quote(PathOf(name)), " is a symbolic link; refusing to follow it")));
    }
    return Errno(errno, absl::StrCat("cannot read ", Quote(PathOf(name))));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return Errno(errno, absl::StrCat("cannot read ", Quote(PathOf(name))));
  }
  if (!S_ISREG(st.st_mode)) {
    return StateError(absl::FailedPreconditionError(
        absl::StrCat(Quote(PathOf(name)), " is not a regular file")));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return StateError(absl::InvalidArgumentError(
        absl::StrCat(Quote(PathOf(name)), " has ", st.st_size,
                     " bytes, more than the ", max_bytes, " meshcap writes")));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t got = read(fd.get(), buf, sizeof(buf));
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      return Errno(errno, absl::StrCat("cannot read ", Quote(PathOf(name))));
    }
    out.append(buf, static_cast<size_t>(got));
    if (out.size() > max_bytes) {
      return StateError(absl::InvalidArgumentError(absl::StrCat(
          Quote(PathOf(name)), " has more than ", max_bytes, " bytes")));
    }
  }
  return std::optional<std::string>(std::move(out));
}

absl::Status StateDir::WriteAtomic(std::string_view name,
                                   std::string_view content) const {
  const std::string n(name);
  const std::string tmp = absl::StrCat(n, ".tmp");
  // The caller serialises writers of `name`; a temporary left by one that
  // was killed is overwritten (never followed: O_NOFOLLOW).
  constexpr int kFlags = O_CREAT | O_TRUNC | O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(openat(fd_.get(), tmp.c_str(), kFlags, 0600));
  if (!fd && errno == ELOOP) {
    // A link planted where the temporary goes: removed (unlinkat does not
    // follow it), never written through.
    unlinkat(fd_.get(), tmp.c_str(), 0);
    fd.reset(openat(fd_.get(), tmp.c_str(), kFlags | O_EXCL, 0600));
  }
  if (!fd) {
    return Errno(errno, absl::StrCat("cannot write ", Quote(PathOf(tmp))));
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n_written =
        write(fd.get(), content.data() + done, content.size() - done);
    if (n_written < 0 && errno == EINTR) continue;
    if (n_written <= 0) {
      const int err = n_written < 0 ? errno : EIO;
      unlinkat(fd_.get(), tmp.c_str(), 0);
      return Errno(err, absl::StrCat("cannot write ", Quote(PathOf(tmp))));
    }
    done += static_cast<size_t>(n_written);
  }
  fd.reset();
  if (renameat(fd_.get(), tmp.c_str(), fd_.get(), n.c_str()) != 0) {
    const int err = errno;
    unlinkat(fd_.get(), tmp.c_str(), 0);
    return Errno(err, absl::StrCat("cannot write ", Quote(PathOf(name))));
  }
  return absl::OkStatus();
}

absl::Status StateDir::Remove(std::string_view name,
                              std::vector<std::string>* removed) const {
  const std::string n(name);
  if (unlinkat(fd_.get(), n.c_str(), 0) == 0) {
    if (removed != nullptr) removed->push_back(PathOf(name));
    return absl::OkStatus();
  }
  if (errno == ENOENT) return absl::OkStatus();
  return Errno(errno, absl::StrCat("cannot remove ", Quote(PathOf(name))));
}

absl::StatusOr<UniqueFd> StateDir::OpenFile(std::string_view name,
                                            int flags) const {
  const std::string n(name);
  UniqueFd fd(
      openat(fd_.get(), n.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    if (errno == ELOOP) {
      return StateError(absl::FailedPreconditionError(absl::StrCat(
          Quote(PathOf(name)), " is a symbolic link; refusing to follow it")));
    }
    return Errno(errno, absl::StrCat("cannot open ", Quote(PathOf(name))));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return StateError(absl::FailedPreconditionError(
        absl::StrCat(Quote(PathOf(name)), " is not a regular file")));
  }
  return fd;
}

void StateDir::RemoveEmptyDir(std::string_view name,
                              std::vector<std::string>* removed) const {
  if (unlinkat(fd_.get(), std::string(name).c_str(), AT_REMOVEDIR) == 0 &&
      removed != nullptr) {
    removed->push_back(PathOf(name));
  }
}

absl::StatusOr<std::vector<std::string>> StateDir::List() const {
  // fdopendir takes the fd it is given: hand it a duplicate.
  const int dup_fd = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0)
    return Errno(errno, absl::StrCat("cannot list ", Quote(path_)));
  DIR* d = fdopendir(dup_fd);
  if (d == nullptr) {
    const int err = errno;
    close(dup_fd);
    return Errno(err, absl::StrCat("cannot list ", Quote(path_)));
  }
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool StateDir::Exists(std::string_view name) const {
  struct stat st;
  return fstatat(fd_.get(), std::string(name).c_str(), &st,
                 AT_SYMLINK_NOFOLLOW) == 0;
}

std::optional<std::chrono::system_clock::time_point> StateDir::ModifiedAt(
    std::string_view name) const {
  struct stat st;
  if (fstatat(fd_.get(), std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) !=
      0) {
    return std::nullopt;
  }
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) +
          std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

std::optional<uint64_t> StateDir::SizeOf(std::string_view name) const {
  const std::string n(name);
  struct stat st;
  if (fstatat(fd_.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(st.st_size);
}

absl::Status StateDir::SetModifiedAt(
    std::string_view name, std::chrono::system_clock::time_point when) const {
  const auto since_epoch = when.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  struct timespec times[2];
  times[0].tv_sec = seconds.count();
  times[0].tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         since_epoch - seconds)
                         .count();
  times[1] = times[0];
  const std::string n(name);
  if (utimensat(fd_.get(), n.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno(errno, absl::StrCat("cannot stamp ", Quote(PathOf(name))));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<FileLock>> StateDir::LockOnce(
    std::string_view name, bool nonblocking, bool create) const {
  const std::string n(name);
  for (;;) {
    // Read-only: flock needs no more, and a lock file that exists opens on
    // a file system that has become read-only.
    UniqueFd fd(openat(
        fd_.get(), n.c_str(),
        (create ? O_CREAT : 0) | O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
        0600));
    if (!fd) {
      if (errno == ENOENT && !create) {
        return StateError(absl::NotFoundError(
            absl::StrCat("no lock file ", Quote(PathOf(name)))));
      }
      if (errno == ELOOP) {
        return StateError(absl::FailedPreconditionError(
            absl::StrCat(Quote(PathOf(name)),
                         " is a symbolic link; refusing to follow it")));
      }
      return Errno(errno,
                   absl::StrCat("cannot open the lock ", Quote(PathOf(name))));
    }
    struct stat held;
    if (fstat(fd.get(), &held) != 0 || !S_ISREG(held.st_mode)) {
      return StateError(absl::FailedPreconditionError(absl::StrCat(
          "the lock ", Quote(PathOf(name)), " is not a regular file")));
    }
    if (flock(fd.get(), LOCK_EX | (nonblocking ? LOCK_NB : 0)) != 0) {
      if (errno == EWOULDBLOCK) return std::optional<FileLock>();
      if (errno == EINTR) continue;
      return Errno(errno, absl::StrCat("cannot lock ", Quote(PathOf(name))));
    }
    // Still the file the name leads to? A holder may have removed it on
    // release (FileLock::RemoveAndRelease) while this process waited.
    struct stat now;
    if (fstatat(fd_.get(), n.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
      return std::optional<FileLock>(FileLock(fd_.get(), n, std::move(fd)));
    }
    if (!create) {
      return StateError(absl::NotFoundError(
          absl::StrCat("no lock file ", Quote(PathOf(name)))));
    }
  }
}

absl::StatusOr<FileLock> StateDir::Lock(std::string_view name,
                                        std::chrono::milliseconds timeout,
                                        bool create) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    absl::StatusOr<std::optional<FileLock>> lock =
        LockOnce(name, /*nonblocking=*/true, create);
    if (!lock.ok()) return lock.status();
    if (lock->has_value()) return std::move(**lock);
    if (std::chrono::steady_clock::now() >= deadline) {
      const std::string n(name);
      UniqueFd fd(
          openat(fd_.get(), n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      return absl::DeadlineExceededError(absl::StrCat(
          "the lock ", Quote(PathOf(name)), " is held by ",
          fd ? LockHolder(fd.get()) : std::string("another process"),
          "; waited ", timeout.count(), " ms; nothing was changed"));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(10000));
  }
}

absl::StatusOr<std::optional<FileLock>> StateDir::TryLock(
    std::string_view name) const {
  return LockOnce(name, /*nonblocking=*/true, /*create=*/true);
}

std::string LockHolder(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return "another process";
  const std::string id = absl::StrFormat("%02x:%02x:%u", major(st.st_dev),
                                         minor(st.st_dev), st.st_ino);
  FILE* f = fopen("/proc/locks", "re");
  if (f == nullptr) return "another process";
  char line[256];
  std::string holder = "another process";
  while (fgets(line, sizeof(line), f) != nullptr) {
    char kind[16], mode[16], rw[16], dev[64];
    int pid = 0;
    // "1: FLOCK  ADVISORY  WRITE 1234 00:19:567 0 EOF"; waiters have "->".
    if (sscanf(line, "%*d: %15s %15s %15s %d %63s", kind, mode, rw, &pid,
               dev) == 5 &&
        std::string_view(kind) == "FLOCK" && id == dev) {
      holder = absl::StrCat("process ", pid);
      break;
    }
  }
  fclose(f);
  return holder;
}

void FileLock::RemoveAndRelease() {
  if (fd_) unlinkat(dir_fd_, name_.c_str(), 0);
  fd_.reset();
}

}  // namespace meshcap::internal
