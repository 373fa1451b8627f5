// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/json.h"

#include <string.h>

#include <iterator>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/text.h"

namespace meshcap::internal {
namespace {

// An iterator over the input whose position the SAX handler can read: the
// parser advances a cursor they share. nlohmann's lexer reads a character
// at a time and, when it reads one too many (after a number), keeps it for
// the next token rather than stepping back, so when the handler hears of a
// '{' or '[' the cursor is just past it, and when it hears of the matching
// '}' or ']', just past that.
class CursorIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CursorIterator() = default;
  // The moving iterator, sharing `*cursor`.
  explicit CursorIterator(const char** cursor) : cursor_(cursor) {}
  // A fixed position (the end).
  explicit CursorIterator(const char* fixed) : fixed_(fixed) {}

  reference operator*() const { return *Pos(); }
  CursorIterator& operator++() {
    ++*cursor_;
    return *this;
  }
  CursorIterator operator++(int) {
    CursorIterator before = *this;
    ++*cursor_;
    return before;
  }
  bool operator==(const CursorIterator& o) const { return Pos() == o.Pos(); }

 private:
  const char* Pos() const { return cursor_ != nullptr ? *cursor_ : fixed_; }

  const char** cursor_ = nullptr;
  const char* fixed_ = nullptr;
};

// Builds the tree level by level on an explicit stack.
class Builder : public nlohmann::json_sax<Json> {
 public:
  Builder(std::string_view text, const char** cursor, const JsonLimits& limits,
          const std::vector<std::string_view>& raw_keys, bool raw_syntax_only)
      : text_(text),
        cursor_(cursor),
        limits_(limits),
        wanted_(raw_keys),
        raw_syntax_only_(raw_syntax_only) {}

  bool null() override { return Add(Json(nullptr)); }
  bool boolean(bool v) override { return Add(Json(v)); }
  bool number_integer(number_integer_t v) override { return Add(Json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Add(Json(v)); }
  bool number_float(number_float_t v, const string_t&) override {
    return Add(Json(v));
  }
  bool string(string_t& v) override { return Add(Json(std::move(v))); }
  bool binary(binary_t&) override { return Add(Json()); }

  bool start_object(std::size_t) override { return Open(true); }
  bool start_array(std::size_t) override { return Open(false); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }

  bool key(string_t& k) override {
    if (light_depth_ > 0) {
      if (light_depth_ == 1) member_keys_[frames_[0].key].push_back(k);
      return true;
    }
    Frame& f = frames_.back();
    if (InRaw() && frames_.size() == raw_depth_) {
      member_keys_[frames_[0].key].push_back(k);
    }
    if (!f.keys.insert(k).second) {
      duplicate_ = true;
      error_ = absl::StrCat("key ", Quote(k), " is given twice in ",
                            Path(frames_.size() - 1));
      return false;
    }
    f.key = std::move(k);
    return true;
  }

  bool duplicate() const { return duplicate_; }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    // "[json.exception.parse_error.101] parse error at line 1, column 5:
    // ...": the bracketed tag says nothing to a user.
    std::string_view what = e.what();
    if (what.substr(0, 1) == "[" && what.find("] ") != std::string_view::npos) {
      what.remove_prefix(what.find("] ") + 2);
    }
    error_ = absl::StrCat("not valid JSON: ", Escape(what));
    (void)position;
    return false;
  }

  const std::string& error() const { return error_; }
  Json& root() { return root_; }
  std::map<std::string, std::string_view, std::less<>>& raw() { return raw_; }
  std::map<std::string, std::vector<std::string>, std::less<>>& raw_keys() {
    return member_keys_;
  }

 private:
  struct Frame {
    Json value;  // the container being built; unused inside a raw member
    bool object = false;
    std::unordered_set<std::string> keys;  // objects: the keys seen
    std::string key;                       // objects: the current key
    size_t index = 0;                      // arrays: the next element's
  };

  // The path through the first `levels` frames: "a.b[2]" (each frame's
  // current key or index), or "the top level".
  std::string Path(size_t levels) const {
    std::string path;
    for (size_t i = 0; i < levels && i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.object) {
        absl::StrAppend(&path, path.empty() ? "" : ".", Escape(f.key));
      } else {
        absl::StrAppend(&path, "[", f.index, "]");
      }
    }
    return path.empty() ? "the top level" : path;
  }

  bool InRaw() const { return raw_depth_ != 0; }

  bool Open(bool object) {
    if (light_depth_ > 0) {
      ++light_depth_;
      return true;
    }
    if (frames_.size() + 1 > static_cast<size_t>(limits_.max_depth)) {
      error_ = absl::StrCat("nested deeper than ", limits_.max_depth,
                            " levels at ", Path(frames_.size()), " (byte ",
                            *cursor_ - text_.data() - 1, ")");
      return false;
    }
    // A member to keep raw: a top-level object's, whose key was asked for.
    if (!InRaw() && frames_.size() == 1 && frames_[0].object) {
      for (std::string_view k : wanted_) {
        if (frames_[0].key == k) {
          raw_depth_ = frames_.size() + 1;
          raw_start_ = *cursor_ - 1;
        }
      }
      if (InRaw() && raw_syntax_only_) {
        // Only its syntax is checked: a depth counter, no frames.
        light_depth_ = 1;
        light_object_ = object;
        return true;
      }
    }
    Frame f;
    f.object = object;
    if (!InRaw()) f.value = object ? Json::object() : Json::array();
    frames_.push_back(std::move(f));
    return true;
  }

  bool Close() {
    if (light_depth_ > 0) {
      if (--light_depth_ > 0) return true;
      return EndRaw(light_object_);
    }
    Frame done = std::move(frames_.back());
    frames_.pop_back();
    if (InRaw()) {
      if (frames_.size() + 1 > raw_depth_) return Step();  // inside it
      return EndRaw(done.object);
    }
    return Add(std::move(done.value));
  }

  // The raw member ends here: [raw_start_, cursor) is its text.
  bool EndRaw(bool object) {
    const char* end = *cursor_;
    if (*raw_start_ != (object ? '{' : '[') ||
        end[-1] != (object ? '}' : ']')) {
      error_ = "internal error: lost track of a member's text";
      return false;
    }
    raw_[frames_.back().key] =
        std::string_view(raw_start_, static_cast<size_t>(end - raw_start_));
    raw_depth_ = 0;
    return Step();
  }

  // A value is complete in the current container (arrays count it).
  bool Step() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
    return true;
  }

  bool Add(Json&& v) {
    if (light_depth_ > 0) return true;
    if (frames_.empty()) {
      root_ = std::move(v);
      return true;
    }
    if (InRaw()) return Step();
    Frame& f = frames_.back();
    if (f.object) {
      // The key is new (key() checked), so append without ordered_map's
      // linear search for it: that search made big objects quadratic.
      auto& members = f.value.get_ref<Json::object_t&>();
      members.Json::object_t::Container::emplace_back(std::move(f.key),
                                                      std::move(v));
    } else {
      f.value.get_ref<Json::array_t&>().push_back(std::move(v));
    }
    return Step();
  }

  std::string_view text_;
  const char** cursor_;
  const JsonLimits& limits_;
  const std::vector<std::string_view>& wanted_;  // members to keep raw
  const bool raw_syntax_only_;
  // Inside a raw member checked for syntax only: its depth, and whether it
  // is an object.
  size_t light_depth_ = 0;
  bool light_object_ = false;
  std::vector<Frame> frames_;
  Json root_;
  std::string error_;
  bool duplicate_ = false;
  size_t raw_depth_ = 0;  // frames_.size() of the raw member's own frame
  const char* raw_start_ = nullptr;
  std::map<std::string, std::string_view, std::less<>> raw_;
  std::map<std::string, std::vector<std::string>, std::less<>> member_keys_;
};

absl::StatusOr<ParsedJson> Parse(std::string_view text,
                                 const JsonLimits& limits,
                                 const std::vector<std::string_view>& raw_keys,
                                 bool raw_syntax_only) {
  if (text.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the document is ", text.size(),
                     " bytes, more than the limit of ", limits.max_bytes));
  }
  if (const void* nul = memchr(text.data(), '\0', text.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid JSON: a NUL byte at offset ",
                     static_cast<const char*>(nul) - text.data()));
  }
  const char* cursor = text.data();
  Builder builder(text, &cursor, limits, raw_keys, raw_syntax_only);
  const bool ok = Json::sax_parse(CursorIterator(&cursor),
                                  CursorIterator(text.data() + text.size()),
                                  &builder, Json::input_format_t::json,
                                  /*strict=*/true);
  if (!ok) {
    const std::string& e = builder.error();
    if (builder.duplicate()) return absl::AlreadyExistsError(e);
    return absl::InvalidArgumentError(e.empty() ? "not valid JSON" : e);
  }
  ParsedJson out;
  out.doc = std::move(builder.root());
  out.raw = std::move(builder.raw());
  out.raw_keys = std::move(builder.raw_keys());
  return out;
}

}  // namespace

absl::StatusOr<Json> ParseJson(std::string_view text,
                               const JsonLimits& limits) {
  absl::StatusOr<ParsedJson> parsed = Parse(text, limits, {}, false);
  if (!parsed.ok()) return parsed.status();
  return std::move(parsed->doc);
}

absl::StatusOr<ParsedJson> ParseJsonKeepingRaw(
    std::string_view text, const JsonLimits& limits,
    const std::vector<std::string_view>& raw_keys, bool raw_syntax_only) {
  absl::StatusOr<ParsedJson> parsed =
      Parse(text, limits, raw_keys, raw_syntax_only);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->doc.is_object()) {
    return absl::FailedPreconditionError(
        absl::StrCat("expected a JSON object, got ", parsed->doc.type_name()));
  }
  return parsed;
}

std::string DumpJson(const Json& v) {
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const Json* GetMember(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<std::string> GetString(const Json& object, std::string_view key) {
  const Json* v = GetMember(object, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<int64_t> GetInt(const Json& object, std::string_view key) {
  const Json* v = GetMember(object, key);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  if (v->is_number_unsigned() &&
      v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return std::nullopt;
  }
  return v->get<int64_t>();
}

std::optional<uint64_t> GetUint(const Json& object, std::string_view key) {
  const Json* v = GetMember(object, key);
  if (v == nullptr || !v->is_number_unsigned()) return std::nullopt;
  return v->get<uint64_t>();
}

std::optional<bool> GetBool(const Json& object, std::string_view key) {
  const Json* v = GetMember(object, key);
  if (v == nullptr || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

}  // namespace meshcap::internal
