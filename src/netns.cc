// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"

namespace meshcap::internal {

absl::StatusOr<int> OpenNetns(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("cannot open network namespace ", path,
                                         ": ", strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::InvalidArgumentError(msg);
  }
  // A namespace file lives on nsfs; anything else is a mistake in the path.
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0 || fs.f_type != NSFS_MAGIC) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a network namespace file"));
  }
  return fd;
}

absl::Status RunInNetns(int netns_fd, const std::function<absl::Status()>& fn) {
  if (netns_fd < 0) return fn();
  absl::Status result;
  // setns() on a fresh thread: the thread ends with the work, so no thread
  // of the caller is ever left in the target namespace.
  std::thread worker([&] {
    if (setns(netns_fd, CLONE_NEWNET) != 0) {
      const int err = errno;
      const std::string msg = absl::StrCat(
          "cannot enter the network namespace (setns): ", strerror(err));
      result = err == EPERM ? absl::PermissionDeniedError(
                                  absl::StrCat(msg, "; CAP_SYS_ADMIN needed"))
                            : absl::InvalidArgumentError(msg);
      return;
    }
    result = fn();
  });
  worker.join();
  return result;
}

}  // namespace meshcap::internal
