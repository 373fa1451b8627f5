// SPDX-License-Identifier: GPL-2.0-or-later
// What meshcap's own programs (the CNI plugin) may ask of an Engine beyond
// its public API. Internal: not installed.

#ifndef MESHCAP_SRC_ENGINE_PEER_H_
#define MESHCAP_SRC_ENGINE_PEER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "meshcap/engine.h"

namespace meshcap::internal {

struct EnginePeer {
  // Runs `fn` on the Engine's thread, inside its namespace, without the
  // namespace's lock.
  [[nodiscard]] static absl::Status RunInNamespace(
      Engine& engine, const std::function<absl::Status()>& fn);
  // The namespace's cookie (SO_NETNS_COOKIE: unique while the system
  // runs; 0 where the kernel has none) and its key in the state directory
  // ("netns-<dev>-<ino>").
  static uint64_t NetnsCookie(const Engine& engine);
  static const std::string& NetnsKey(const Engine& engine);
};

// Engine::Watch's loop (src/watch.cc); `stop_fd` is the eventfd StopWatch
// writes.
[[nodiscard]] absl::Status RunWatch(
    Engine& engine, const CapturePolicy& policy, const WatchOptions& options,
    const std::function<void(const WatchEvent&)>& on_event, int stop_fd,
    const std::string& state_dir);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_ENGINE_PEER_H_
