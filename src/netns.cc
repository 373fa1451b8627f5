// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "absl/strings/str_cat.h"
#include "src/errno_status.h"
#include "src/text.h"

namespace meshcap::internal {

absl::StatusOr<UniqueFd> OpenNetns(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return ErrnoStatus(
        errno, absl::StrCat("cannot open network namespace ", Quote(path)),
        "opening it needs read access to the file");
  }
  // A namespace file lives on nsfs; anything else is a mistake in the path.
  struct statfs fs;
  if (fstatfs(fd.get(), &fs) != 0 || fs.f_type != NSFS_MAGIC) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(path), " is not a network namespace file"));
  }
  // ...and may be another kind of namespace (/proc/PID/ns/mnt).
  const int type = ioctl(fd.get(), NS_GET_NSTYPE);
  if (type >= 0 && type != CLONE_NEWNET) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(path), " is a namespace file, but not of a network namespace"));
  }
  return fd;
}

absl::StatusOr<std::string> NetnsKey(int netns_fd) {
  struct stat st;
  const int rc = netns_fd >= 0 ? fstat(netns_fd, &st)
                               : stat("/proc/thread-self/ns/net", &st);
  if (rc != 0) {
    return ErrnoStatus(errno, "cannot identify the network namespace");
  }
  return absl::StrCat("netns-", st.st_dev, "-", st.st_ino);
}

absl::StatusOr<std::unique_ptr<NetnsExecutor>> NetnsExecutor::Start(
    int netns_fd) {
  std::unique_ptr<NetnsExecutor> e(new NetnsExecutor);
  if (netns_fd < 0) return e;
  e->inline_ = false;
  absl::Status started;
  bool ready = false;
  {
    std::unique_lock<std::mutex> lock(e->mu_);
    e->worker_ = std::thread([&, self = e.get()] {
      absl::Status s;
      if (setns(netns_fd, CLONE_NEWNET) != 0) {
        const int err = errno;
        s = ErrnoStatus(err, "cannot enter the network namespace (setns)",
                        "entering it needs CAP_SYS_ADMIN");
      }
      {
        std::lock_guard<std::mutex> l(self->mu_);
        started = s;
        ready = true;
      }
      self->cv_.notify_all();
      if (s.ok()) self->Loop(netns_fd, nullptr);
    });
    e->cv_.wait(lock, [&] { return ready; });
  }
  if (!started.ok()) {
    e->worker_.join();
    return started;
  }
  return e;
}

void NetnsExecutor::Loop(int, absl::Status*) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return task_ != nullptr || quit_; });
    if (task_ == nullptr) return;
    const auto* task = task_;
    lock.unlock();
    absl::Status s = (*task)();
    lock.lock();
    result_ = std::move(s);
    task_ = nullptr;
    done_ = true;
    cv_.notify_all();
  }
}

absl::Status NetnsExecutor::Run(const std::function<absl::Status()>& fn) {
  if (inline_) return fn();
  std::unique_lock<std::mutex> lock(mu_);
  task_ = &fn;
  done_ = false;
  cv_.notify_all();
  cv_.wait(lock, [&] { return done_; });
  return std::move(result_);
}

NetnsExecutor::~NetnsExecutor() {
  if (inline_ || !worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

}  // namespace meshcap::internal
