// SPDX-License-Identifier: GPL-2.0-or-later
// Small text helpers shared by the policy parser and the CLI.

#ifndef MESHCAP_SRC_TEXT_H_
#define MESHCAP_SRC_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace meshcap::internal {

// Abseil 20220623's string_view is its own type, not std::string_view.
inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Istio's `config.Split`: comma-separated, empty items dropped. Items are
// also trimmed of surrounding blanks.
std::vector<std::string> SplitList(std::string_view s);

// `s` split at every `sep`, empty items kept (Go's strings.Split): "a,,b"
// is {"a", "", "b"}, "" is {""}.
std::vector<std::string_view> Split(std::string_view s, char sep);

// `s` without leading and trailing blanks (Go's strings.TrimSpace for
// ASCII).
std::string_view TrimBlanks(std::string_view s);

// `s` with every byte that is not printable ASCII escaped (\n, \t, \x1b,
// \0, ...), so that a message quoting user input is always one printable
// line.
std::string Escape(std::string_view s);

// The last guard before a message is printed: like Escape, but leaves
// backslashes alone, so that text already escaped (by Quote) is unchanged
// and anything else becomes one printable line.
std::string PrintableLine(std::string_view s);

// The time now, UTC, to the millisecond, for log lines:
// "2026-12-06T08:13:19.288Z".
std::string UtcTimestamp();

// "'" + Escape(s) + "'": how messages quote a value the user gave.
std::string Quote(std::string_view s);

// Go's strconv.ParseBool, which Istio's flags, environment and pod
// variables use: 1, t, T, TRUE, true, True and their false forms; nullopt
// for anything else.
std::optional<bool> ParseGoBool(std::string_view s);
// The same as a status: kInvalidArgument "ORIGIN: 'x' is not a boolean (want
// true or false)" when `s` is not one.
absl::StatusOr<bool> ParseBoolAt(std::string_view origin, std::string_view s);

// A whole decimal number in [lo, hi], or nullopt.
std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t lo,
                                     uint64_t hi);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_TEXT_H_
