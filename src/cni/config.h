// SPDX-License-Identifier: GPL-2.0-or-later
// meshcap-cni's network configuration: the plugin's entry of a conflist as
// the runtime hands it over on stdin, with the keys the runtime adds
// (prevResult, runtimeConfig, args, cni.dev/valid-attachments).
//
//   {
//     "cniVersion": "1.0.0", "name": "pods", "type": "meshcap-cni",
//     "profile": "sidecar",                  // or "ambient"
//     "backend": "auto",                     // "nftables", "iptables-legacy"
//     "policy": {"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*"},
//     "excludeNamespaces": ["kube-system"],
//     "logLevel": "info", "logFile": "/var/log/meshcap-cni.log",
//     "capabilities": {"meshcap": true}      // runtimeConfig.meshcap overrides
//   }
//
// Per-pod overrides come from `args.cni.meshcap` and
// `runtimeConfig.meshcap` (see PodOverride). Every error names the key and
// the value at fault.

#ifndef MESHCAP_SRC_CNI_CONFIG_H_
#define MESHCAP_SRC_CNI_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/cni/environment.h"
#include "src/cni/error.h"

namespace meshcap::cni {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kNone };

// One attachment of a container to the network: what the runtime lists in
// `cni.dev/valid-attachments` for GC.
struct Attachment {
  std::string container_id;
  std::string ifname;

  friend bool operator==(const Attachment&, const Attachment&) = default;
};

// One source of per-pod settings. Sources apply in order over the
// configuration's own settings; a later one wins per key:
//   1. the configuration (`profile`, `policy`, `excludeNamespaces`);
//   2. `args.cni.meshcap` (CNI CONVENTIONS "args in network config");
//   3. `runtimeConfig.meshcap` (the runtime's capability arguments, when
//      the configuration declares `"capabilities": {"meshcap": true}`).
// A later source (pod annotations read from the Kubernetes API) slots in
// as another PodOverride; see pod_policy.h.
struct PodOverride {
  // "args.cni.meshcap": what error messages call it.
  std::string origin;
  // Leave this pod alone (true) or capture it although its namespace is
  // excluded (false).
  std::optional<bool> skip;
  // "sidecar" or "ambient".
  std::optional<std::string> profile;
  // A policy object (Istio's field names) whose keys replace the
  // configuration's, as text; empty when absent.
  std::string policy_json;
};

struct PluginConfig {
  std::string cni_version;
  std::string name;
  std::string type;
  // "sidecar" or "ambient"; nullopt: the policy's `Profile`, else sidecar.
  std::optional<std::string> profile;
  // "auto", or a backend of this build.
  std::string backend = "auto";
  // The `policy` object as text ("{}" when absent): exactly what
  // `meshcap --policy` takes.
  std::string policy_json = "{}";
  // Pods whose K8S_POD_NAMESPACE is one of these are left alone.
  std::vector<std::string> exclude_namespaces;
  LogLevel log_level = LogLevel::kWarn;
  // Empty: stderr, which the runtime logs.
  std::string log_file;
  // The previous plugin's result, as text; passed through by ADD (given
  // the configuration's cniVersion if it has none).
  std::optional<std::string> prev_result_json;
  // args.cni.meshcap, then runtimeConfig.meshcap, when present.
  std::vector<PodOverride> overrides;
  // GC: the runtime's `cni.dev/valid-attachments` (or the spec 1.1.0
  // tag's `cni.dev/attachments`).
  std::optional<std::vector<Attachment>> valid_attachments;
};

// Parses and checks the configuration for `command`. Errors:
//   kErrDecodingFailure: not JSON, or not an object;
//   kErrIncompatibleVersion: cniVersion missing, unsupported, or too old
//     for the command (STATUS and GC need 1.1.0);
//   kErrUnsupportedField: a key meshcap-cni does not know (top level, in
//     `policy`, or in an override), named with its value;
//   kErrInvalidConfig: a known key with a bad value, named with it.
// `error_version` receives the cniVersion errors should carry as soon as
// it is known (the configuration's when supported).
CniOr<PluginConfig> ParseConfig(std::string_view text, Command command,
                                std::string* error_version);

// The cniVersion of `text` if it is a JSON object with a well-formed one
// (MAJOR.MINOR.PATCH), else kNewestVersion: what VERSION echoes.
std::string ConfigVersionOrNewest(std::string_view text);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_CONFIG_H_
