// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/text.h"

#include <stdio.h>
#include <time.h>

#include <cctype>

#include "absl/strings/str_cat.h"

namespace meshcap::internal {

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos
                                      ? std::string_view::npos
                                      : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  for (std::string_view item : Split(s, ',')) {
    item = TrimBlanks(item);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

namespace {

std::string EscapeBytes(std::string_view s, bool backslash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n':
        out += "\\n";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\\':
        out += backslash ? "\\\\" : "\\";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

std::string Escape(std::string_view s) { return EscapeBytes(s, true); }

std::string PrintableLine(std::string_view s) { return EscapeBytes(s, false); }

std::string UtcTimestamp() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[96];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, ts.tv_nsec / 1000000);
  return buf;
}

std::string Quote(std::string_view s) {
  // Appended, not `"'" + Escape(s) + "'"`: inserting at the front of the
  // temporary trips GCC 12's -Wrestrict false positive at -O3.
  std::string out = "'";
  out += Escape(s);
  out += '\'';
  return out;
}

std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t lo,
                                     uint64_t hi) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

absl::StatusOr<bool> ParseBoolAt(std::string_view origin, std::string_view s) {
  if (std::optional<bool> b = ParseGoBool(s)) return *b;
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(origin), ": ", Quote(s),
                   " is not a boolean (want true or false)"));
}

std::optional<bool> ParseGoBool(std::string_view s) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) return false;
  }
  return std::nullopt;
}

}  // namespace meshcap::internal
