// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kNone:
      break;
  }
  return "none";
}

}  // namespace

Logger::Logger(LogLevel level, std::string file) {
  Configure(level, std::move(file));
}

Logger::~Logger() {
  if (fd_ > STDERR_FILENO) close(fd_);
}

void Logger::Configure(LogLevel level, std::string file) {
  level_ = level;
  if (file != file_) {
    if (fd_ > STDERR_FILENO) close(fd_);
    fd_ = -1;
    opened_ = false;
    file_ = std::move(file);
  }
}

int Logger::Fd() {
  if (opened_) return fd_;
  opened_ = true;
  fd_ = STDERR_FILENO;
  if (!file_.empty()) {
    const int fd =
        open(file_.c_str(),
             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd >= 0) {
      fd_ = fd;
    } else {
      const std::string line = absl::StrFormat(
          "meshcap-cni: cannot open the log file %s: %s; logging to stderr\n",
          internal::Quote(file_), strerror(errno));
      (void)!write(STDERR_FILENO, line.data(), line.size());
    }
  }
  return fd_;
}

void Logger::Log(LogLevel level, std::string_view message) {
  if (!Enabled(level)) return;
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm utc;
  gmtime_r(&tv.tv_sec, &utc);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  // One write per line, so that lines of concurrent plugins never mix.
  const std::string line = absl::StrFormat(
      "%s.%06dZ meshcap-cni[%d] %s %s%s%s\n", when,
      static_cast<int>(tv.tv_usec), getpid(), LevelName(level), context_,
      context_.empty() ? "" : ": ", internal::PrintableLine(message));
  (void)!write(Fd(), line.data(), line.size());
}

}  // namespace meshcap::cni
