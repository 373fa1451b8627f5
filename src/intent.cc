// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/intent.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/crash_point.h"
#include "src/errno_status.h"
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
    : path_(absl::StrCat(state_dir, "/", netns_key, ".intent")) {}

absl::Status IntentRecord::Begin(const std::string& what) {
  nlohmann::json doc = {
      {"meshcap_intent", 1}, {"netns_cookie", NetnsCookie()},
      {"pid", getpid()},     {"time", static_cast<int64_t>(time(nullptr))},
      {"what", what},
  };
  const std::string text = doc.dump() + "\n";
  const std::string tmp = absl::StrCat(path_, ".tmp");
  // The state directory, on first use (mode 0700: it is meshcap's alone).
  const std::string dir = path_.substr(0, path_.rfind('/'));
  if (!dir.empty() && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(
        errno, absl::StrCat("cannot make the state directory ", Quote(dir)),
        "set $MESHCAP_STATE_DIR or EngineOptions::state_dir to a directory "
        "meshcap may write");
  }
  {
    UniqueFd fd(
        open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) {
      return ErrnoStatus(
          errno, absl::StrCat("cannot write the intent record ", Quote(tmp)),
          "meshcap needs write access to its state directory");
    }
    if (write(fd.get(), text.data(), text.size()) !=
        static_cast<ssize_t>(text.size())) {
      return ErrnoStatus(errno, absl::StrCat("cannot write ", Quote(tmp)));
    }
  }
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot write ", Quote(path_)));
  }
  CrashPoint("intent written");
  return absl::OkStatus();
}

void IntentRecord::Clear() {
  if (unlink(path_.c_str()) == 0) CrashPoint("intent cleared");
}

std::optional<std::string> IntentRecord::Pending() {
  std::ifstream in(path_);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return "an unreadable intent record " + Quote(path_) +
           " (an interrupted apply)";
  }
  const uint64_t cookie = doc.value("netns_cookie", uint64_t{0});
  if (cookie != 0 && NetnsCookie() != 0 && cookie != NetnsCookie()) {
    Clear();  // another namespace's, long gone
    return std::nullopt;
  }
  return absl::StrCat(
      "an apply by process ", doc.value("pid", 0),
      " was interrupted: ", Escape(doc.value("what", std::string("?"))),
      "; the next apply or clean finishes it");
}

}  // namespace meshcap::internal
