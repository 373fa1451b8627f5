// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/policy_json.h"

#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap {
namespace {

using Json = nlohmann::json;
using internal::Quote;
using internal::ToAbsl;

absl::StatusOr<std::string> Scalar(const std::string& where, const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": expected a whole number or a string, got ", v.dump()));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": expected a string or a number, got ", v.type_name()));
}

absl::StatusOr<std::string> Text(const std::string& where, const Json& v) {
  if (!v.is_array()) return Scalar(where, v);
  std::string joined;
  for (const Json& item : v) {
    MESHCAP_ASSIGN_OR_RETURN(std::string s, Scalar(where, item));
    if (!joined.empty()) joined += ',';
    joined += s;
  }
  return joined;
}

}  // namespace

absl::Status ApplyPolicyJson(std::string_view json, PolicyBuilder& builder,
                             std::string_view source) {
  const std::string doc_name =
      source.empty() ? std::string("policy") : internal::Escape(source);
  // Repeated top-level keys: nlohmann keeps the last one silently.
  std::string repeated;
  std::set<std::string> seen;
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && parsed.is_string() &&
        !seen.insert(parsed.get<std::string>()).second && repeated.empty()) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(json.begin(), json.end(), on_event);
  } catch (const Json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, ...": the
    // bracketed tag says nothing to a user.
    std::string_view what = e.what();
    if (what.substr(0, 1) == "[" && what.find("] ") != std::string_view::npos) {
      what.remove_prefix(what.find("] ") + 2);
    }
    return absl::InvalidArgumentError(
        absl::StrCat(doc_name, ": not valid JSON: ", internal::Escape(what)));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        doc_name, ": expected a JSON object, got ", doc.type_name()));
  }
  if (!repeated.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(doc_name, ": key ", Quote(repeated), " is given twice"));
  }
  const auto& knobs = PolicyKnobs();
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string where = absl::StrCat(doc_name, ": key ", Quote(it.key()));
    const KnobInfo* knob = nullptr;
    for (const KnobInfo& k : knobs) {
      if (it.key() == k.key) knob = &k;
    }
    if (knob == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown policy key"));
    }
    if (knob->is_bool) {
      if (!it.value().is_boolean()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": expected true or false, got ", it.value().type_name()));
      }
      builder.Set(knob->key, it.value().get<bool>() ? "true" : "false", where);
      continue;
    }
    MESHCAP_ASSIGN_OR_RETURN(std::string text, Text(where, it.value()));
    if (text.empty()) {
      builder.Unset(knob->key);
    } else {
      builder.Set(knob->key, text, where);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CapturePolicy> PolicyFromJson(std::string_view json,
                                             std::string_view source) {
  PolicyBuilder builder;
  MESHCAP_RETURN_IF_ERROR(ApplyPolicyJson(json, builder, source));
  return builder.Build();
}

}  // namespace meshcap
