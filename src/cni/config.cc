// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/config.h"

#include <set>
#include <vector>

#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "nlohmann/json.hpp"
#include "src/cni/version.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using Json = nlohmann::ordered_json;
using internal::Quote;

constexpr size_t kMaxValueText = 200;

std::string Dump(const Json& v) {
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A value as error messages show it: its JSON, cut short.
std::string ValueText(const Json& v) {
  std::string text = Dump(v);
  if (text.size() > kMaxValueText) {
    text.resize(kMaxValueText);
    text += "...";
  }
  return internal::Escape(text);
}

CniError Unsupported(const std::string& key, const Json& value,
                     const std::string& details = {}) {
  return CniError{
      kErrUnsupportedField,
      "unsupported field " + Quote(key) + " with value " + ValueText(value),
      details};
}

CniError Invalid(const std::string& key, const Json& value,
                 const std::string& expected) {
  return CniError{kErrInvalidConfig,
                  "invalid " + Quote(key) + ": " + ValueText(value),
                  "expected " + expected};
}

// Parses, rejecting a key given twice in any object: the last would win
// silently, and a policy must not change meaning by accident.
CniOr<Json> Decode(std::string_view text) {
  std::vector<std::set<std::string>> keys;
  std::string repeated;
  auto on_event = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() &&
            !keys.back().insert(parsed.get<std::string>()).second &&
            repeated.empty()) {
          repeated = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), on_event);
  } catch (const Json::exception& e) {
    std::string_view what = e.what();
    if (what.substr(0, 1) == "[" && what.find("] ") != std::string_view::npos) {
      what.remove_prefix(what.find("] ") + 2);
    }
    return CniError{kErrDecodingFailure,
                    "the network configuration is not valid JSON",
                    internal::Escape(what)};
  }
  if (!doc.is_object()) {
    return CniError{kErrDecodingFailure,
                    "the network configuration is not a JSON object",
                    std::string("got ") + doc.type_name()};
  }
  if (!repeated.empty()) {
    return CniError{
        kErrInvalidConfig,
        "the network configuration gives key " + Quote(repeated) + " twice",
        "each key may appear once per object"};
  }
  return doc;
}

std::optional<CniError> CheckProfile(const std::string& key, const Json& v) {
  if (v.is_string() && (v.get<std::string>() == "sidecar" ||
                        v.get<std::string>() == "ambient")) {
    return std::nullopt;
  }
  return Invalid(key, v, "\"sidecar\" or \"ambient\"");
}

// A policy object: every key a knob; values are checked by the builder.
CniOr<std::string> PolicyText(const std::string& key, const Json& v) {
  if (!v.is_object()) {
    return Invalid(key, v,
                   "a JSON object of Istio's policy fields, as `meshcap "
                   "--policy` takes");
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    bool known = false;
    for (const KnobInfo& k : PolicyKnobs()) {
      if (it.key() == k.key) known = true;
    }
    if (!known) {
      return Unsupported(key + "." + it.key(), it.value(),
                         "not a policy field; the fields are Istio's "
                         "(ProxyPort, InboundPortsInclude, ...), see "
                         "meshcap/policy_json.h");
    }
  }
  return Dump(v);
}

CniOr<PodOverride> ParseOverride(const std::string& origin, const Json& v) {
  PodOverride o;
  o.origin = origin;
  if (!v.is_object()) {
    return Invalid(origin, v,
                   "an object with \"skip\", \"profile\" and \"policy\"");
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string key = origin + "." + it.key();
    const Json& value = it.value();
    if (it.key() == "skip") {
      if (!value.is_boolean()) return Invalid(key, value, "true or false");
      o.skip = value.get<bool>();
    } else if (it.key() == "profile") {
      if (auto e = CheckProfile(key, value)) return *e;
      o.profile = value.get<std::string>();
    } else if (it.key() == "policy") {
      CniOr<std::string> text = PolicyText(key, value);
      if (!text.ok()) return text.error();
      o.policy_json = *text;
    } else {
      return Unsupported(key, value,
                         "a per-pod override has \"skip\", \"profile\" and "
                         "\"policy\"");
    }
  }
  return o;
}

CniOr<std::vector<Attachment>> ParseAttachments(const std::string& key,
                                                const Json& v) {
  const std::string expected =
      "an array of {\"containerID\": ..., \"ifname\": ...}";
  if (!v.is_array()) return Invalid(key, v, expected);
  std::vector<Attachment> out;
  for (const Json& item : v) {
    if (!item.is_object() || !item.contains("containerID") ||
        !item["containerID"].is_string() ||
        (item.contains("ifname") && !item["ifname"].is_string())) {
      return Invalid(key, item, expected);
    }
    Attachment a;
    a.container_id = item["containerID"].get<std::string>();
    if (item.contains("ifname")) a.ifname = item["ifname"].get<std::string>();
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

std::string ConfigVersionOrNewest(std::string_view text) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_object() && doc.contains("cniVersion") &&
      doc["cniVersion"].is_string() &&
      ParseVersion(doc["cniVersion"].get<std::string>()).has_value()) {
    return doc["cniVersion"].get<std::string>();
  }
  return std::string(kNewestVersion);
}

CniOr<PluginConfig> ParseConfig(std::string_view text, Command command,
                                std::string* error_version) {
  *error_version = std::string(kNewestVersion);
  CniOr<Json> decoded = Decode(text);
  if (!decoded.ok()) return decoded.error();
  const Json& doc = *decoded;
  PluginConfig c;

  // The version first: nothing else means anything without it.
  std::string supported;
  for (const std::string& v : SupportedVersions()) {
    supported += (supported.empty() ? "" : ", ") + v;
  }
  if (!doc.contains("cniVersion")) {
    return CniError{kErrIncompatibleVersion, "incompatible CNI versions",
                    "the configuration has no cniVersion; meshcap-cni "
                    "supports " +
                        supported};
  }
  if (!doc["cniVersion"].is_string() ||
      !IsSupportedVersion(doc["cniVersion"].get<std::string>())) {
    return CniError{kErrIncompatibleVersion, "incompatible CNI versions",
                    "config is " + ValueText(doc["cniVersion"]) +
                        ", meshcap-cni supports " + supported};
  }
  c.cni_version = doc["cniVersion"].get<std::string>();
  *error_version = c.cni_version;
  if ((command == Command::kStatus || command == Command::kGc) &&
      !VersionAtLeast(c.cni_version, "1.1.0")) {
    return CniError{
        kErrIncompatibleVersion,
        "config version does not allow " + std::string(CommandName(command)),
        "STATUS and GC need cniVersion 1.1.0; the configuration "
        "has " +
            c.cni_version};
  }

  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    if (key == "cniVersion") {
      continue;
    } else if (key == "name") {
      if (!v.is_string() || !IsValidIdentifier(v.get<std::string>())) {
        return Invalid(key, v,
                       "a network name: an alphanumeric character, then "
                       "alphanumerics, '_', '.' or '-'");
      }
      c.name = v.get<std::string>();
    } else if (key == "type") {
      if (!v.is_string()) return Invalid(key, v, "a string");
      c.type = v.get<std::string>();
    } else if (key == "profile") {
      if (auto e = CheckProfile(key, v)) return *e;
      c.profile = v.get<std::string>();
    } else if (key == "backend") {
      std::vector<std::string> names = AvailableBackends();
      std::string expected = "\"auto\"";
      bool known = v.is_string() && v.get<std::string>() == "auto";
      for (const std::string& n : names) {
        expected += ", \"" + n + "\"";
        if (v.is_string() && v.get<std::string>() == n) known = true;
      }
      if (!known) {
        return Invalid(key, v, "one of " + expected + " (this build's)");
      }
      c.backend = v.get<std::string>();
    } else if (key == "policy") {
      CniOr<std::string> policy = PolicyText(key, v);
      if (!policy.ok()) return policy.error();
      c.policy_json = *policy;
    } else if (key == "excludeNamespaces") {
      if (!v.is_array()) return Invalid(key, v, "an array of namespace names");
      for (const Json& ns : v) {
        if (!ns.is_string() || ns.get<std::string>().empty()) {
          return Invalid(key, ns, "a namespace name");
        }
        c.exclude_namespaces.push_back(ns.get<std::string>());
      }
    } else if (key == "logLevel") {
      static constexpr std::pair<const char*, LogLevel> kLevels[] = {
          {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
          {"warn", LogLevel::kWarn},   {"error", LogLevel::kError},
          {"none", LogLevel::kNone},
      };
      bool known = false;
      for (const auto& [name, level] : kLevels) {
        if (v.is_string() && v.get<std::string>() == name) {
          c.log_level = level;
          known = true;
        }
      }
      if (!known) {
        return Invalid(key, v,
                       "\"debug\", \"info\", \"warn\", \"error\" or \"none\"");
      }
    } else if (key == "logFile") {
      if (!v.is_string() || v.get<std::string>().empty() ||
          v.get<std::string>()[0] != '/') {
        return Invalid(key, v, "an absolute file name");
      }
      c.log_file = v.get<std::string>();
    } else if (key == "capabilities") {
      // In a configuration file; runtimes leave it out of what plugins see.
      if (!v.is_object()) return Invalid(key, v, "an object");
    } else if (key == "prevResult") {
      if (!v.is_object()) return Invalid(key, v, "a result object");
      if (v.contains("cniVersion")) {
        c.prev_result_json = Dump(v);
      } else {
        // A result names its version; one without is not a result a runtime
        // could parse, so it gets the configuration's, first.
        Json result;
        result["cniVersion"] = c.cni_version;
        for (auto r = v.begin(); r != v.end(); ++r) result[r.key()] = r.value();
        c.prev_result_json = Dump(result);
      }
    } else if (key == "runtimeConfig") {
      if (!v.is_object()) return Invalid(key, v, "an object");
      // Other capabilities' arguments belong to other plugins.
      if (v.contains("meshcap")) {
        CniOr<PodOverride> o =
            ParseOverride("runtimeConfig.meshcap", v["meshcap"]);
        if (!o.ok()) return o.error();
        c.overrides.push_back(*std::move(o));
      }
    } else if (key == "args") {
      if (!v.is_object()) return Invalid(key, v, "an object");
      if (v.contains("cni") && v["cni"].is_object() &&
          v["cni"].contains("meshcap")) {
        CniOr<PodOverride> o =
            ParseOverride("args.cni.meshcap", v["cni"]["meshcap"]);
        if (!o.ok()) return o.error();
        // Before runtimeConfig's, whatever the key order.
        c.overrides.insert(c.overrides.begin(), *std::move(o));
      }
    } else if (key == "cni.dev/valid-attachments" ||
               key == "cni.dev/attachments") {
      // The spec 1.1.0 tag called it cni.dev/attachments; the errata and
      // libcni 1.2 say valid-attachments. Both mean the same list.
      if (key == "cni.dev/attachments" && c.valid_attachments.has_value()) {
        continue;
      }
      CniOr<std::vector<Attachment>> list = ParseAttachments(key, v);
      if (!list.ok()) return list.error();
      c.valid_attachments = *std::move(list);
    } else if (key.rfind("cni.dev/", 0) == 0) {
      continue;  // reserved for runtimes; nothing for us
    } else {
      return Unsupported(key, v);
    }
  }
  if (c.name.empty()) {
    return CniError{kErrInvalidConfig,
                    "the network configuration has no 'name'",
                    "the runtime copies the conflist's name into each "
                    "plugin's configuration"};
  }
  if (c.type.empty()) {
    return CniError{kErrInvalidConfig,
                    "the network configuration has no 'type'",
                    "\"type\": \"meshcap-cni\""};
  }
  return c;
}

}  // namespace meshcap::cni
