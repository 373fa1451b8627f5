// SPDX-License-Identifier: GPL-2.0-or-later
// meshcap-cni's network configuration: the plugin's entry of a conflist as
// the runtime hands it over on stdin, with the keys the runtime adds
// (prevResult, runtimeConfig, args, cni.dev/valid-attachments).
//
//   {
//     "cniVersion": "1.0.0", "name": "pods", "type": "meshcap-cni",
//     "podSelection": "istio",               // or "all"
//     "profile": "sidecar",                  // or "ambient" (with "all")
//     "backend": "auto",                     // "iptables", "nftables",
//                                            // "iptables-legacy",
//                                            "iptables-nft"
//     "policy": {"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*"},
//     "excludeNamespaces": ["kube-system"],
//     "kubeconfig": "/etc/meshcap/kubeconfig",
//     "logLevel": "info", "logFile": "/var/log/meshcap-cni.log",
//     "capabilities": {"meshcap": true,      // runtimeConfig.meshcap
//                      "io.kubernetes.cri.pod-annotations": true}
//   }
//
// istio-cni's own keys are taken as they are, so that an installed
// istio-cni entry works with "type" changed (README "CNI plugin" says what
// each means here): plugin_log_level, cni_agent_run_dir, ambient_enabled,
// enablement_selectors, exclude_namespaces, pod_namespace,
// native_nftables, enable_ambient_detection_retry, and the standard ipam
// and dns. Any other key is an error that names it.
//
// Per-pod overrides come from `args.cni.meshcap` and
// `runtimeConfig.meshcap` (see PodOverride). Every error names the key and
// the value at fault.

#ifndef MESHCAP_SRC_CNI_CONFIG_H_
#define MESHCAP_SRC_CNI_CONFIG_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/cni/environment.h"
#include "src/cni/error.h"
#include "src/cni/pod.h"

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

// Which pods ADD captures.
enum class PodSelection {
  // As istio-cni: the pods Istio injected a sidecar into (doAddRun), read
  // from the Kubernetes API or the runtime's pod annotations, with the
  // policy NewRedirect gives them laid over `policy`.
  kIstio,
  // Every pod whose namespace is not excluded, with `profile` and `policy`
  // (for runtimes without Kubernetes, or meshcap's own ambient rules).
  kAll,
};

struct PluginConfig {
  std::string cni_version;
  std::string name;
  std::string type;
  PodSelection pod_selection = PodSelection::kIstio;
  // "sidecar" or "ambient"; nullopt: the policy's `Profile`, else sidecar.
  std::optional<std::string> profile;
  // "auto", "iptables" (istio-cni's detection; what native_nftables: false
  // means), or a backend of this build.
  std::string backend = "auto";
  // The `policy` object as text ("{}" when absent): exactly what
  // `meshcap --policy` takes.
  std::string policy_json = "{}";
  // Pods whose K8S_POD_NAMESPACE is one of these are left alone
  // (excludeNamespaces and istio-cni's exclude_namespaces together).
  std::vector<std::string> exclude_namespaces;
  // istio-cni's keys. The kubeconfig is `kubeconfig` (meshcap's key), else
  // <cni_agent_run_dir>/istio-cni-kubeconfig where istio-cni's installer
  // writes it; see KubeconfigPath().
  std::string kubeconfig;
  std::string cni_agent_run_dir;
  // The node agent's namespace: its own pod is left alone.
  std::string pod_namespace;
  bool ambient_enabled = false;
  std::vector<EnablementSelector> enablement_selectors;
  bool enable_ambient_detection_retry = false;
  // How long ADD may spend reading the pod from the API, retries included.
  std::chrono::milliseconds kube_api_timeout{10000};
  // The pod's annotations, as the runtime hands them to a plugin that
  // declares the capability io.kubernetes.cri.pod-annotations.
  std::optional<std::map<std::string, std::string>> runtime_pod_annotations;
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

  // The kubeconfig to read pods with, or "" when none is configured.
  std::string KubeconfigPath() const;
};

// The most a configuration may weigh (what main.cc reads from stdin), and
// how deep it may nest.
inline constexpr size_t kMaxConfigBytes = 64 << 20;
inline constexpr int kMaxConfigDepth = 64;

// Parses and checks the configuration for `command`, in time linear in its
// size. Errors:
//   kErrDecodingFailure: not JSON (a NUL byte or anything after the value
//     included), nested deeper than kMaxConfigDepth, or not an object;
//   kErrIncompatibleVersion: cniVersion missing, unsupported, or too old
//     for the command (STATUS and GC need 1.1.0);
//   kErrUnsupportedField: a key meshcap-cni does not know (top level, in
//     `policy`, or in an override), named with its value;
//   kErrInvalidConfig: a known key with a bad value, named with it.
// For DEL the per-pod data (prevResult, args, runtimeConfig) need only be
// JSON, of any type (the document within kMaxConfigBytes; nothing is built
// of them, so their depth is not limited): DEL reads none of them, so a
// pod cannot make its own DEL fail. ADD and CHECK refuse a value of the
// wrong type naming its key. `error_version` receives the cniVersion
// errors should carry as soon as it is known (the configuration's when
// supported).
CniOr<PluginConfig> ParseConfig(std::string_view text, Command command,
                                std::string* error_version);

// The cniVersion of `text` if it is a JSON object with a well-formed one
// (MAJOR.MINOR.PATCH), else kNewestVersion: what VERSION echoes.
std::string ConfigVersionOrNewest(std::string_view text);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_CONFIG_H_
