// SPDX-License-Identifier: GPL-2.0-or-later

#include "tests/testing/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace meshcap::testing {
namespace {

// Sets lo up in the calling thread's namespace, as it is in every pod.
bool LoopbackUp() {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  close(fd);
  return ok;
}

}  // namespace

ScopedNetns::ScopedNetns() {
  saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_ < 0) {
    error_ = std::string("open /proc/thread-self/ns/net: ") + strerror(errno);
    return;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    error_ = std::string("unshare(CLONE_NEWNET): ") + strerror(errno) +
             " (run as root, or under `unshare -rn`)";
    return;
  }
  fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  ok_ = fd_ >= 0 && LoopbackUp();
  if (!ok_) error_ = "cannot open the new namespace or set lo up";
}

ScopedNetns::~ScopedNetns() {
  if (fd_ >= 0) close(fd_);
  if (saved_ >= 0) {
    if (ok_ && setns(saved_, CLONE_NEWNET) != 0) {
      fprintf(stderr, "FATAL: cannot return to the original netns: %s\n",
              strerror(errno));
      abort();
    }
    close(saved_);
  }
}

DetachedNetns::DetachedNetns() {
  std::thread t([this] {
    if (unshare(CLONE_NEWNET) == 0 && LoopbackUp()) {
      fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    }
  });
  t.join();
}

DetachedNetns::~DetachedNetns() {
  if (fd_ >= 0) close(fd_);
}

std::string DetachedNetns::path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_);
}

CommandResult Shell(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CommandResult ShellIn(int netns_fd, const std::string& command) {
  CommandResult r;
  std::thread t([&] {
    if (setns(netns_fd, CLONE_NEWNET) != 0) {
      r.output = std::string("setns: ") + strerror(errno);
      return;
    }
    r = Shell(command);
  });
  t.join();
  return r;
}

unsigned long CurrentNetnsInode() {
  struct stat st;
  if (stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return st.st_ino;
}

bool HaveProgram(const std::string& program) {
  return Shell("command -v " + program + " >/dev/null").exit_code == 0;
}

}  // namespace meshcap::testing
