// SPDX-License-Identifier: GPL-2.0-or-later
// meshcap-cni's log: one line per event, to the file the configuration
// names (appended, created 0600) or to stderr, which the runtime keeps.
// Logging never fails a command: a file that cannot be opened sends the
// lines to stderr, with one line saying so.

#ifndef MESHCAP_SRC_CNI_LOG_H_
#define MESHCAP_SRC_CNI_LOG_H_

#include <string>
#include <string_view>

#include "src/cni/config.h"

namespace meshcap::cni {

class Logger {
 public:
  Logger() = default;
  Logger(LogLevel level, std::string file);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Lines before the configuration is read go to stderr at kWarn.
  void Configure(LogLevel level, std::string file);
  // Prefixes every line after the time and pid: "ADD default/web-1".
  void SetContext(std::string context) { context_ = std::move(context); }

  bool Enabled(LogLevel level) const {
    return level >= level_ && level_ != LogLevel::kNone;
  }
  void Log(LogLevel level, std::string_view message);
  void Debug(std::string_view m) { Log(LogLevel::kDebug, m); }
  void Info(std::string_view m) { Log(LogLevel::kInfo, m); }
  void Warn(std::string_view m) { Log(LogLevel::kWarn, m); }
  void Error(std::string_view m) { Log(LogLevel::kError, m); }

 private:
  int Fd();

  LogLevel level_ = LogLevel::kWarn;
  std::string file_;
  std::string context_;
  int fd_ = -1;  // opened at the first line
  bool opened_ = false;
};

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_LOG_H_
