// SPDX-License-Identifier: GPL-2.0-or-later
// Working inside another network namespace without moving the caller.

#ifndef MESHCAP_SRC_NETNS_H_
#define MESHCAP_SRC_NETNS_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/unique_fd.h"

namespace meshcap::internal {

// Opens a network namespace file (`/proc/PID/ns/net`, `/var/run/netns/X`)
// and checks that it is one.
[[nodiscard]] absl::StatusOr<UniqueFd> OpenNetns(const std::string& path);

// "netns-<dev>-<inode>": the namespace's name for meshcap's state files.
// `netns_fd` < 0: the calling thread's namespace.
[[nodiscard]] absl::StatusOr<std::string> NetnsKey(int netns_fd);

// Runs work in one network namespace. With a namespace fd, a dedicated
// thread enters it once and runs every task; the calling thread never
// changes namespace (cgo and other runtimes rely on that). Without one,
// tasks run on the calling thread.
class NetnsExecutor {
 public:
  // `netns_fd` is borrowed; -1: the caller's namespace.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<NetnsExecutor>> Start(
      int netns_fd);
  ~NetnsExecutor();

  NetnsExecutor(const NetnsExecutor&) = delete;
  NetnsExecutor& operator=(const NetnsExecutor&) = delete;

  // Runs `fn` in the namespace and returns its status. One task at a time.
  [[nodiscard]] absl::Status Run(const std::function<absl::Status()>& fn);

 private:
  NetnsExecutor() = default;
  void Loop(int netns_fd, absl::Status* started);

  bool inline_ = true;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<absl::Status()>* task_ = nullptr;
  absl::Status result_;
  bool done_ = false;
  bool quit_ = false;
};

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETNS_H_
