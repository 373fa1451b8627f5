// SPDX-License-Identifier: GPL-2.0-or-later
// An owned file descriptor, closed on destruction.

#ifndef MESHCAP_SRC_UNIQUE_FD_H_
#define MESHCAP_SRC_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace meshcap::internal {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  explicit operator bool() const { return ok(); }

  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_UNIQUE_FD_H_
