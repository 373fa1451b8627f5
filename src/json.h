// SPDX-License-Identifier: GPL-2.0-or-later
// The one way meshcap reads JSON it did not write itself: the CNI network
// configuration (with the previous plugin's result and the per-pod
// arguments inside it), JSON policies, Kubernetes objects, and the records
// under the state directory, which anybody with access to it may have
// tampered with.
//
// Every document is untrusted, so the reader:
//   - refuses a document over `max_bytes` before reading it, and one that
//     nests deeper than `max_depth` as soon as the parser gets there, so
//     that nothing later (building, dumping, destroying the tree) recurses
//     further than that;
//   - takes time linear in the size of the input: objects are built
//     without the per-key search of nlohmann::ordered_json (a repeated key
//     is found with a hash set instead, and is an error that names it and
//     where it is);
//   - refuses a NUL byte (nlohmann's lexer takes one for the end of the
//     input and would ignore the rest) and anything after the value;
//   - can keep chosen top-level members as their raw text instead of a
//     tree, for a plugin that hands the previous result on unchanged.
//
//   absl::StatusOr<Json> doc = ParseJson(text, {.max_bytes = 1 << 20});
//   if (!doc.ok()) return doc.status();  // INVALID_ARGUMENT, names the spot
//
// Errors say what is wrong and where (a byte offset, or the path of a
// repeated key: `prevResult.ips[2]`): kAlreadyExists for a key given twice
// in one object, kFailedPrecondition for a document that is not the object
// ParseJsonKeepingRaw wants, kInvalidArgument for everything else.
// Reading a tree is left to the callers, which must check each value's
// type before using it (see the `Get*` helpers).

#ifndef MESHCAP_SRC_JSON_H_
#define MESHCAP_SRC_JSON_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace meshcap::internal {

using Json = nlohmann::ordered_json;

struct JsonLimits {
  // Larger documents are refused unread.
  size_t max_bytes = 1 << 20;
  // Objects and arrays nested deeper than this are refused. The documents
  // meshcap reads are a handful of levels deep; Go's encoding/json, which
  // every other CNI plugin uses, stops at 10000.
  int max_depth = 64;
};

// What ParseJsonKeepingRaw returns: the tree, and the raw text of the
// top-level members it was asked to keep (absent from `doc`).
struct ParsedJson {
  Json doc;
  std::map<std::string, std::string_view, std::less<>> raw;
  // The keys directly inside each raw member that is an object.
  std::map<std::string, std::vector<std::string>, std::less<>> raw_keys;
};

// Parses `text`, one JSON value of any type.
[[nodiscard]] absl::StatusOr<Json> ParseJson(std::string_view text,
                                             const JsonLimits& limits);

// Parses `text`, which must be an object; the values of the top-level keys
// named in `raw_keys` are kept as their text, a view into `text`, rather
// than built. They are checked like the rest (depth, syntax, repeated
// keys), or, with `raw_syntax_only`, for syntax alone: a reader that will
// not look inside them (CNI DEL and the per-pod data) need not refuse a
// document for what they hold, and nothing is built or kept per level.
[[nodiscard]] absl::StatusOr<ParsedJson> ParseJsonKeepingRaw(
    std::string_view text, const JsonLimits& limits,
    const std::vector<std::string_view>& raw_keys,
    bool raw_syntax_only = false);

// `v` as compact JSON; bytes that are not UTF-8 are replaced (U+FFFD), so
// it never throws. `v` must have come through ParseJson or been built by
// meshcap (its depth is bounded).
std::string DumpJson(const Json& v);

// Typed reads of an object's member, for documents anybody may have
// written: nullopt when the member is missing or has another type (never
// an exception).
std::optional<std::string> GetString(const Json& object, std::string_view key);
std::optional<int64_t> GetInt(const Json& object, std::string_view key);
std::optional<uint64_t> GetUint(const Json& object, std::string_view key);
std::optional<bool> GetBool(const Json& object, std::string_view key);
// The member, whatever its type; nullptr when missing.
const Json* GetMember(const Json& object, std::string_view key);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_JSON_H_
