// SPDX-License-Identifier: GPL-2.0-or-later
// meshcap's state directory (/run/meshcap, or $MESHCAP_STATE_DIR) and the
// directories under it, as open file descriptors: every file is reached
// relative to its directory's fd with O_NOFOLLOW, so a symbolic link
// planted anywhere under the directory is refused rather than followed,
// and a directory renamed or replaced meanwhile does not redirect a write.
//
// A directory is accepted only if it is a directory (not a link to one),
// owned by the effective user, and not writable by group or others: a
// directory somebody else can write to is one where they can plant files.
//
//   absl::StatusOr<StateDir> dir = StateDir::Open(DefaultStateDir(), true);
//   if (!dir.ok()) return dir.status();
//   absl::Status s = dir->WriteAtomic("x.json", text);
//
// Errors carry the state-directory mark (IsStateError), so that callers
// that must classify them (the CNI plugin: code 104) can, whatever their
// canonical code: kFailedPrecondition for a directory refused,
// kPermissionDenied, kResourceExhausted (ENOSPC) and the rest as
// ErrnoStatus maps them.

#ifndef MESHCAP_SRC_STATE_DIR_H_
#define MESHCAP_SRC_STATE_DIR_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/unique_fd.h"

namespace meshcap::internal {

// Marks `s` as a problem with the state directory.
[[nodiscard]] absl::Status StateError(absl::Status s);
[[nodiscard]] bool IsStateError(const absl::Status& s);

// FNV-1a (64 bits) of `s`: stable across processes and builds (absl::Hash
// is not). For names and change detection, not against a chosen collision.
uint64_t StableHash(std::string_view s);

// `name` when it has at most `max` bytes; else its first bytes, '~' and a
// 16-digit hash of the whole, `max` bytes in all: a file name for an
// identifier of any length (the CNI spec sets no limit on container IDs or
// network names, and a file name has at most 255 bytes).
std::string FileNameFor(std::string_view name, size_t max);

// Who holds an flock on `fd`'s file, from the kernel's record
// (/proc/locks): "process 1234", or "another process".
std::string LockHolder(int fd);

class FileLock;

class StateDir {
 public:
  // Opens the directory `path`; with `create`, makes it (mode 0700) when
  // missing. Its parent must exist.
  [[nodiscard]] static absl::StatusOr<StateDir> Open(const std::string& path,
                                                     bool create);
  // Opens `name` under this directory; with `create`, makes it (0700).
  [[nodiscard]] absl::StatusOr<StateDir> Sub(std::string_view name,
                                             bool create) const;

  StateDir(StateDir&&) = default;
  StateDir& operator=(StateDir&&) = default;

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  // path() + "/" + name, for messages.
  std::string PathOf(std::string_view name) const;

  // The contents of the regular file `name`, at most `max_bytes` (more is
  // kInvalidArgument); nullopt when there is no such file.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Read(
      std::string_view name, size_t max_bytes) const;
  // Replaces `name` with `content` atomically: `name`.tmp is written and
  // renamed over it; the temporary is removed when anything fails, and a
  // link planted in its place is removed, never written through.
  [[nodiscard]] absl::Status WriteAtomic(std::string_view name,
                                         std::string_view content) const;
  // Removes the file `name` (a link is removed, not followed); a missing
  // file is OK. Appends PathOf(name) to `removed` when one was removed.
  [[nodiscard]] absl::Status Remove(
      std::string_view name, std::vector<std::string>* removed = nullptr) const;
  // Opens (with O_CREAT among `flags`, makes, mode 0600) the regular file
  // `name`; O_NOFOLLOW and O_CLOEXEC are always added.
  [[nodiscard]] absl::StatusOr<UniqueFd> OpenFile(std::string_view name,
                                                  int flags) const;
  // Removes the empty directory `name`; a missing or non-empty one is OK.
  void RemoveEmptyDir(std::string_view name,
                      std::vector<std::string>* removed = nullptr) const;
  // The entries' names, sorted, without "." and "..".
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> List() const;
  // Whether `name` exists (as anything).
  bool Exists(std::string_view name) const;
  // Last modification of `name`, or nullopt when it does not exist.
  std::optional<std::chrono::system_clock::time_point> ModifiedAt(
      std::string_view name) const;
  // The size of the regular file `name` (a link is not followed), or
  // nullopt when there is no such file.
  std::optional<uint64_t> SizeOf(std::string_view name) const;
  // Sets the last modification (and access) of `name` to `when`, to the
  // nanosecond: the kernel's own stamp of a write is coarser (a clock
  // tick), so a write can look older than a time read just before it. A
  // link is not followed; a missing file is kNotFound.
  [[nodiscard]] absl::Status SetModifiedAt(
      std::string_view name, std::chrono::system_clock::time_point when) const;

  // Takes an exclusive flock on the lock file `name`, made when missing
  // (unless `create` is false: then a missing file is kNotFound), waiting
  // up to `timeout`; kDeadlineExceeded naming the holder after that. The
  // file is checked, once locked, to still be the one the name leads to,
  // so a holder that removes it on release (FileLock::RemoveAndRelease)
  // never lets two processes hold "the same" lock.
  [[nodiscard]] absl::StatusOr<FileLock> Lock(std::string_view name,
                                              std::chrono::milliseconds timeout,
                                              bool create = true) const;
  // The same without waiting: nullopt when somebody holds it.
  [[nodiscard]] absl::StatusOr<std::optional<FileLock>> TryLock(
      std::string_view name) const;

 private:
  StateDir(std::string path, UniqueFd fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}
  [[nodiscard]] absl::StatusOr<std::optional<FileLock>> LockOnce(
      std::string_view name, bool wait_nonblocking, bool create) const;

  std::string path_;
  UniqueFd fd_;
};

// An flock held on a file of a StateDir; released when destroyed.
class FileLock {
 public:
  FileLock(FileLock&&) = default;
  FileLock& operator=(FileLock&&) = default;
  ~FileLock() = default;  // closing the fd releases the lock

  // Removes the lock file while still holding it, then releases it: a
  // process waiting on the old file finds, once it gets it, that the name
  // no longer leads there and starts over.
  void RemoveAndRelease();

 private:
  friend class StateDir;
  FileLock(int dir_fd, std::string name, UniqueFd fd)
      : dir_fd_(dir_fd), name_(std::move(name)), fd_(std::move(fd)) {}

  int dir_fd_;  // borrowed from the StateDir, which outlives the lock
  std::string name_;
  UniqueFd fd_;
};

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_STATE_DIR_H_
