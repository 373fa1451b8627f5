// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/config.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "meshcap/engine.h"
#include "meshcap/policy.h"
#include "src/cni/version.h"
#include "src/json.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Json;
using internal::Quote;

constexpr size_t kMaxValueText = 200;

// A value as error messages show it: its JSON, cut short.
std::string ValueText(const Json& v) {
  std::string text = internal::DumpJson(v);
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

// Parses, rejecting a key given twice in any object (the last would win
// silently, and a policy must not change meaning by accident), nesting
// deeper than kMaxConfigDepth, and anything after the value. The previous
// plugin's result is only checked and kept as its text: ADD hands it on
// unchanged, and it is most of a big configuration.
//
// The per-pod data: the previous plugin's result and the arguments a
// pod's author may fill (Multus copies annotations into args).
bool IsPodData(std::string_view key) {
  return key == "prevResult" || key == "args" || key == "runtimeConfig";
}

// With `lenient` (DEL, and reading the version), the per-pod data are
// checked for syntax alone and not read (ParseConfig skips them whatever
// their type): a pod must not be able to make its own DEL fail.
CniOr<internal::ParsedJson> Decode(std::string_view text, bool lenient) {
  static const std::vector<std::string_view> kResult = {"prevResult"};
  static const std::vector<std::string_view> kNotRead = {"prevResult", "args",
                                                         "runtimeConfig"};
  absl::StatusOr<internal::ParsedJson> parsed = internal::ParseJsonKeepingRaw(
      text, {.max_bytes = kMaxConfigBytes, .max_depth = kMaxConfigDepth},
      lenient ? kNotRead : kResult, /*raw_syntax_only=*/lenient);
  if (!parsed.ok()) {
    const std::string message(parsed.status().message());
    if (absl::IsAlreadyExists(parsed.status())) {
      return CniError{kErrInvalidConfig,
                      "the network configuration gives " + message,
                      "each key may appear once per object"};
    }
    if (absl::IsFailedPrecondition(parsed.status())) {
      return CniError{kErrDecodingFailure,
                      "the network configuration is not a JSON object",
                      message};
    }
    return CniError{kErrDecodingFailure,
                    "the network configuration is not valid JSON", message};
  }
  return *std::move(parsed);
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
  return internal::DumpJson(v);
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
    const std::optional<std::string> id =
        internal::GetString(item, "containerID");
    const Json* ifname = internal::GetMember(item, "ifname");
    if (!id.has_value() || (ifname != nullptr && !ifname->is_string())) {
      return Invalid(key, item, expected);
    }
    Attachment a;
    a.container_id = *id;
    if (ifname != nullptr) a.ifname = ifname->get<std::string>();
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

std::string ConfigVersionOrNewest(std::string_view text) {
  CniOr<internal::ParsedJson> parsed = Decode(text, /*lenient=*/true);
  if (parsed.ok()) {
    std::optional<std::string> v =
        internal::GetString(parsed->doc, "cniVersion");
    if (v.has_value() && ParseVersion(*v).has_value()) return *v;
  }
  return std::string(kNewestVersion);
}

std::string PluginConfig::KubeconfigPath() const {
  if (!kubeconfig.empty()) return kubeconfig;
  if (!cni_agent_run_dir.empty()) {
    return cni_agent_run_dir + "/istio-cni-kubeconfig";
  }
  return "";
}

namespace {

// A list of namespace names (null: none, as istio-cni's installer writes
// an empty exclude_namespaces).
std::optional<CniError> AppendNamespaces(const std::string& key, const Json& v,
                                         std::vector<std::string>& out) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_array()) return Invalid(key, v, "an array of namespace names");
  for (const Json& ns : v) {
    if (!ns.is_string() || ns.get<std::string>().empty()) {
      return Invalid(key, ns, "a namespace name");
    }
    out.push_back(ns.get<std::string>());
  }
  return std::nullopt;
}

std::optional<CniError> ReadBool(const std::string& key, const Json& v,
                                 bool& out) {
  if (!v.is_boolean()) return Invalid(key, v, "true or false");
  out = v.get<bool>();
  return std::nullopt;
}

// An absolute path, or (with `empty_ok`) "".
std::optional<CniError> ReadPath(const std::string& key, const Json& v,
                                 std::string& out, bool empty_ok) {
  if (!v.is_string() || (v.get_ref<const std::string&>().empty()
                             ? !empty_ok
                             : v.get<std::string>()[0] != '/')) {
    return Invalid(key, v, "an absolute file name");
  }
  out = v.get<std::string>();
  return std::nullopt;
}

// The runtime's pod annotations: an object of strings.
// (containerd hands over null for a pod without annotations.) Kubernetes
// caps a pod's annotations at 256 KiB in all; these bounds are wider.
CniOr<std::map<std::string, std::string>> ReadAnnotations(
    const std::string& key, const Json& v) {
  std::map<std::string, std::string> out;
  if (v.is_null()) return out;
  if (!v.is_object()) return Invalid(key, v, "an object of strings");
  if (v.size() > 4096) return Invalid(key, v, "at most 4096 annotations");
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_string() ||
        it.value().get_ref<const std::string&>().size() > kMaxFieldBytes) {
      return Invalid(key + "." + internal::Escape(it.key()), it.value(),
                     "a string of at most 64 KiB");
    }
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

struct LogLevelName {
  const char* name;
  LogLevel level;
};
constexpr LogLevelName kLevels[] = {
    {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
    {"warn", LogLevel::kWarn},   {"error", LogLevel::kError},
    {"none", LogLevel::kNone},
};

}  // namespace

CniOr<PluginConfig> ParseConfig(std::string_view text, Command command,
                                std::string* error_version) {
  *error_version = std::string(kNewestVersion);
  // DEL takes the capture away whatever the per-pod data say: it reads
  // none of them, so their type is not checked either (a scalar, null or
  // an array of any depth would otherwise refuse the DEL and wedge the
  // pod). ADD and CHECK refuse such values naming the key.
  const bool skip_pod_data = command == Command::kDel;
  CniOr<internal::ParsedJson> decoded = Decode(text, /*lenient=*/skip_pod_data);
  if (!decoded.ok()) return decoded.error();
  const Json& doc = decoded->doc;
  PluginConfig c;

  // The version first: nothing else means anything without it.
  std::string supported;
  for (const std::string& v : SupportedVersions()) {
    supported += (supported.empty() ? "" : ", ") + v;
  }
  const Json* version = internal::GetMember(doc, "cniVersion");
  if (version == nullptr) {
    return CniError{kErrIncompatibleVersion, "incompatible CNI versions",
                    "the configuration has no cniVersion; meshcap-cni "
                    "supports " +
                        supported};
  }
  if (!version->is_string() ||
      !IsSupportedVersion(version->get<std::string>())) {
    return CniError{kErrIncompatibleVersion, "incompatible CNI versions",
                    "config is " + ValueText(*version) +
                        ", meshcap-cni supports " + supported};
  }
  c.cni_version = version->get<std::string>();
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

  bool log_level_given = false;
  std::optional<bool> native_nftables;
  bool backend_given = false;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    std::optional<CniError> e;
    if (key == "cniVersion" || (skip_pod_data && IsPodData(key))) {
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
    } else if (key == "podSelection") {
      if (v == "istio") {
        c.pod_selection = PodSelection::kIstio;
      } else if (v == "all") {
        c.pod_selection = PodSelection::kAll;
      } else {
        return Invalid(key, v, "\"istio\" or \"all\"");
      }
    } else if (key == "profile") {
      e = CheckProfile(key, v);
      if (!e) c.profile = v.get<std::string>();
    } else if (key == "backend") {
      std::vector<std::string> names = AvailableBackends();
      std::string expected = "\"auto\", \"iptables\"";
      bool known = v.is_string() && (v.get<std::string>() == "auto" ||
                                     v.get<std::string>() == "iptables");
      for (const std::string& n : names) {
        expected += ", \"" + n + "\"";
        if (v.is_string() && v.get<std::string>() == n) known = true;
      }
      if (!known) {
        return Invalid(key, v, "one of " + expected + " (this build's)");
      }
      c.backend = v.get<std::string>();
      backend_given = true;
    } else if (key == "policy") {
      CniOr<std::string> policy = PolicyText(key, v);
      if (!policy.ok()) return policy.error();
      c.policy_json = *policy;
    } else if (key == "excludeNamespaces" || key == "exclude_namespaces") {
      e = AppendNamespaces(key, v, c.exclude_namespaces);
    } else if (key == "kubeconfig") {
      e = ReadPath(key, v, c.kubeconfig, /*empty_ok=*/false);
    } else if (key == "kubeApiTimeout") {
      if (!v.is_number() || v.get<double>() < 0.1 || v.get<double>() > 600) {
        return Invalid(key, v, "seconds, from 0.1 to 600");
      }
      c.kube_api_timeout = std::chrono::milliseconds(
          static_cast<int64_t>(v.get<double>() * 1000));
    } else if (key == "cni_agent_run_dir") {
      e = ReadPath(key, v, c.cni_agent_run_dir, /*empty_ok=*/true);
    } else if (key == "pod_namespace") {
      if (!v.is_string()) return Invalid(key, v, "a namespace name");
      c.pod_namespace = v.get<std::string>();
    } else if (key == "ambient_enabled") {
      e = ReadBool(key, v, c.ambient_enabled);
    } else if (key == "enable_ambient_detection_retry") {
      e = ReadBool(key, v, c.enable_ambient_detection_retry);
    } else if (key == "enablement_selectors") {
      absl::StatusOr<std::vector<EnablementSelector>> selectors =
          ParseEnablementSelectors(v, key);
      if (!selectors.ok()) {
        return CniError{kErrInvalidConfig,
                        "invalid " + Quote(key) + ": " +
                            std::string(selectors.status().message()),
                        ""};
      }
      c.enablement_selectors = *std::move(selectors);
    } else if (key == "native_nftables") {
      bool on = false;
      e = ReadBool(key, v, on);
      native_nftables = on;
    } else if (key == "logLevel" || key == "plugin_log_level") {
      if (log_level_given) {
        return Invalid(
            key, v, "one of \"logLevel\" and \"plugin_log_level\", not both");
      }
      log_level_given = true;
      bool known = false;
      for (const auto& [name, level] : kLevels) {
        if (v.is_string() && v.get<std::string>() == name) {
          c.log_level = level;
          known = true;
        }
      }
      if (key == "plugin_log_level" && v == "fatal") {
        c.log_level = LogLevel::kError;
        known = true;
      } else if (key == "plugin_log_level" && v.is_string() && !known) {
        // istio-cni silences a level it does not know; so does this.
        c.log_level = LogLevel::kNone;
        known = true;
      }
      if (!known) {
        return Invalid(key, v,
                       "\"debug\", \"info\", \"warn\", \"error\" or \"none\"");
      }
    } else if (key == "logFile") {
      e = ReadPath(key, v, c.log_file, /*empty_ok=*/false);
    } else if (key == "capabilities" || key == "ipam" || key == "dns") {
      // capabilities: what the entry asks of the runtime (containerd passes
      // it on to the plugin as written). ipam and dns: istio-cni's
      // installer writes them
      // empty; a chained plugin that captures traffic has no use for them.
      if (!v.is_object()) return Invalid(key, v, "an object");
    } else if (key == "prevResult") {
      // Kept as its text (Decode); here only when it is not an object.
      return Invalid(key, v, "a result object");
    } else if (key == "runtimeConfig") {
      if (!v.is_object()) return Invalid(key, v, "an object");
      // Other capabilities' arguments belong to other plugins.
      if (const Json* m = internal::GetMember(v, "meshcap")) {
        CniOr<PodOverride> o = ParseOverride("runtimeConfig.meshcap", *m);
        if (!o.ok()) return o.error();
        c.overrides.push_back(*std::move(o));
      }
      if (const Json* a =
              internal::GetMember(v, "io.kubernetes.cri.pod-annotations")) {
        CniOr<std::map<std::string, std::string>> annotations = ReadAnnotations(
            "runtimeConfig.io.kubernetes.cri.pod-annotations", *a);
        if (!annotations.ok()) return annotations.error();
        c.runtime_pod_annotations = *std::move(annotations);
      }
    } else if (key == "args") {
      if (!v.is_object()) return Invalid(key, v, "an object");
      const Json* cni = internal::GetMember(v, "cni");
      if (const Json* m =
              cni ? internal::GetMember(*cni, "meshcap") : nullptr) {
        CniOr<PodOverride> o = ParseOverride("args.cni.meshcap", *m);
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
    if (e.has_value()) return *e;
  }

  // The previous result, handed on as it came; one without a version gets
  // the configuration's first (a result names its version).
  if (auto raw = decoded->raw.find("prevResult");
      !skip_pod_data && raw != decoded->raw.end()) {
    if (raw->second.front() != '{') {
      return Invalid("prevResult", Json::array(), "a result object");
    }
    const std::vector<std::string>& keys = decoded->raw_keys["prevResult"];
    if (std::find(keys.begin(), keys.end(), "cniVersion") != keys.end()) {
      c.prev_result_json = std::string(raw->second);
    } else {
      std::string_view rest = raw->second.substr(1);
      c.prev_result_json =
          absl::StrCat("{\"cniVersion\":\"", c.cni_version, "\"",
                       keys.empty() ? "" : ",", internal::ToAbsl(rest));
    }
  }

  // istio-cni's native_nftables picks the backend as istio-cni does:
  // nftables, or its iptables detection (legacy when the legacy nat table
  // holds rules, else iptables-nft).
  if (native_nftables.has_value()) {
    const std::string want = *native_nftables ? "nftables" : "iptables";
    if (backend_given && c.backend != want && *native_nftables) {
      return CniError{
          kErrInvalidConfig,
          "'backend' is " + Quote(c.backend) + " but 'native_nftables' is true",
          "give one of them"};
    }
    if (!backend_given) c.backend = want;
  }
  if (c.pod_selection == PodSelection::kIstio && c.profile == "ambient") {
    return CniError{kErrInvalidConfig,
                    "'profile' is \"ambient\" but 'podSelection' is \"istio\"",
                    "istio-cni captures sidecar pods; the ambient profile's "
                    "in-pod rules go into every pod with \"podSelection\": "
                    "\"all\""};
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
