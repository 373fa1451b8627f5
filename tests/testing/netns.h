// SPDX-License-Identifier: GPL-2.0-or-later
// Kernel tests run each in a fresh network namespace. These helpers make
// one, run the standard tools inside it, and go back.

#ifndef MESHCAP_TESTS_TESTING_NETNS_H_
#define MESHCAP_TESTS_TESTING_NETNS_H_

#include <string>

namespace meshcap::testing {

// Moves the calling thread into a new network namespace, empty but for lo
// (set up, as in every pod), for its lifetime, and back on destruction. `ok()`
// is false (with `error()`) when the process may not create one; tests then
// skip.
class ScopedNetns {
 public:
  ScopedNetns();
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  // An fd for the new namespace (owned by this object).
  int fd() const { return fd_; }

 private:
  int saved_ = -1;
  int fd_ = -1;
  bool ok_ = false;
  std::string error_;
};

// An empty network namespace that nobody is in, held by an fd only: a
// target for "apply into that namespace" tests.
class DetachedNetns {
 public:
  DetachedNetns();
  ~DetachedNetns();
  DetachedNetns(const DetachedNetns&) = delete;
  DetachedNetns& operator=(const DetachedNetns&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // "/proc/PID/fd/N": a path that opens this namespace, also from a child
  // process.
  std::string path() const;

 private:
  int fd_ = -1;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `command` with /bin/sh in the calling thread's network namespace.
CommandResult Shell(const std::string& command);

// Runs `command` inside the namespace behind `netns_fd`.
CommandResult ShellIn(int netns_fd, const std::string& command);

// The inode of the calling thread's network namespace.
unsigned long CurrentNetnsInode();

// Whether `program` is on PATH.
bool HaveProgram(const std::string& program);

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_NETNS_H_
