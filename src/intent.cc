// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/intent.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "src/crash_point.h"
#include "src/json.h"
#include "src/state_dir.h"
#include "src/status_macros.h"
#include "src/text.h"
#include "src/unique_fd.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace meshcap::internal {

uint64_t NetnsCookie() {
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (!fd ||
      getsockopt(fd.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) {
    return 0;
  }
  return cookie;
}

IntentRecord::IntentRecord(std::string state_dir, std::string netns_key)
    : state_dir_(std::move(state_dir)),
      name_(absl::StrCat(netns_key, ".intent")) {}

std::string IntentRecord::path() const {
  return absl::StrCat(state_dir_, "/", name_);
}

absl::Status IntentRecord::Begin(const std::string& what) {
  Json doc = {
      {"meshcap_intent", 1}, {"netns_cookie", NetnsCookie()},
      {"pid", getpid()},     {"time", static_cast<int64_t>(time(nullptr))},
      {"what", what},
  };
  // The state directory, on first use (mode 0700: it is meshcap's alone).
  MESHCAP_ASSIGN_OR_RETURN(StateDir dir, StateDir::Open(state_dir_, true));
  MESHCAP_RETURN_IF_ERROR(dir.WriteAtomic(name_, DumpJson(doc) + "\n"));
  CrashPoint("intent written");
  return absl::OkStatus();
}

void IntentRecord::Clear() {
  absl::StatusOr<StateDir> dir = StateDir::Open(state_dir_, false);
  if (!dir.ok()) return;
  std::vector<std::string> removed;
  (void)dir->Remove(name_, &removed);
  (void)dir->Remove(absl::StrCat(name_, ".tmp"));
  if (!removed.empty()) CrashPoint("intent cleared");
}

absl::StatusOr<std::optional<std::string>> IntentRecord::Pending() {
  absl::StatusOr<StateDir> dir = StateDir::Open(state_dir_, false);
  if (!dir.ok()) {
    // No state directory: no record. One meshcap refuses: an error.
    if (absl::IsNotFound(dir.status())) return std::optional<std::string>();
    return dir.status();
  }
  absl::StatusOr<std::optional<std::string>> text = dir->Read(name_, 64 << 10);
  if (!text.ok() && !absl::IsInvalidArgument(text.status())) {
    return text.status();
  }
  if (text.ok() && !text->has_value()) return std::optional<std::string>();
  absl::StatusOr<Json> doc =
      text.ok() ? ParseJson(**text, {.max_bytes = 64 << 10, .max_depth = 8})
                : absl::StatusOr<Json>(text.status());
  const std::optional<uint64_t> cookie =
      doc.ok() ? GetUint(*doc, "netns_cookie") : std::nullopt;
  const std::optional<int64_t> pid =
      doc.ok() ? GetInt(*doc, "pid") : std::nullopt;
  const std::optional<std::string> what =
      doc.ok() ? GetString(*doc, "what") : std::nullopt;
  if (!doc.ok() || !doc->is_object() || !cookie.has_value() ||
      !pid.has_value() || !what.has_value()) {
    // Written by somebody else, or cut short: whatever it was, the next
    // apply or clean finishes it.
    return std::optional<std::string>(
        absl::StrCat("an unreadable intent record ", Quote(path()),
                     " (an interrupted apply; the next apply or clean "
                     "finishes it)"));
  }
  if (*cookie != 0 && NetnsCookie() != 0 && *cookie != NetnsCookie()) {
    Clear();  // another namespace's, long gone
    return std::optional<std::string>();
  }
  return std::optional<std::string>(absl::StrCat(
      "an apply by process ", *pid, " was interrupted: ", Escape(*what),
      "; the next apply or clean finishes it"));
}

}  // namespace meshcap::internal
