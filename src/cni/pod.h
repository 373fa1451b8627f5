// SPDX-License-Identifier: GPL-2.0-or-later
// A pod as istio-cni sees it (PodInfo in Istio's cni/pkg/plugin/
// kubernetes.go), read from a Kubernetes API object or from the
// annotations a container runtime hands over; a namespace's labels; and
// Kubernetes label selectors (ambient's enablement_selectors).
//
// Everything here comes from a pod's author (annotations, env, args) or a
// configuration file, and is untrusted: sizes are bounded and types are
// checked, and every error names the field and the value.

#ifndef MESHCAP_SRC_CNI_POD_H_
#define MESHCAP_SRC_CNI_POD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/json.h"

namespace meshcap::cni {

struct PodInfo {
  std::string namespace_name;
  std::string name;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool host_network = false;
  // Names of the init and regular containers; with only the runtime's
  // annotations, those `sidecar.istio.io/status` lists, when it is the
  // injector's JSON (containers_known).
  std::set<std::string> containers;
  bool containers_known = true;
  // The `istio-proxy` container's environment (literal values only, as
  // istio-cni reads it), its proxy type (`proxy sidecar` -> "sidecar") and
  // its container-level runAsUser/runAsGroup.
  std::map<std::string, std::string> proxy_env;
  std::string proxy_type;
  std::optional<int64_t> proxy_uid;
  std::optional<int64_t> proxy_gid;
  // False when only the runtime's annotations were seen: containers are
  // then what `sidecar.istio.io/status` lists, and the istio-proxy fields
  // and labels are unknown (empty).
  bool spec_known = true;
};

// The most a pod object may weigh (etcd's default request limit is
// 1.5 MiB), and each annotation value, label value and env value meshcap
// reads (Kubernetes caps all annotations together at 256 KiB).
inline constexpr size_t kMaxPodBytes = 4 << 20;
inline constexpr size_t kMaxFieldBytes = 64 << 10;

// A v1 Pod as the API server returns it (JSON).
[[nodiscard]] absl::StatusOr<PodInfo> PodFromApiJson(std::string_view json);

// A v1 Namespace's labels.
[[nodiscard]] absl::StatusOr<std::map<std::string, std::string>>
NamespaceLabelsFromApiJson(std::string_view json);

// What a runtime's `io.kubernetes.cri.pod-annotations` tells of a pod.
PodInfo PodFromRuntimeAnnotations(
    std::string namespace_name, std::string name,
    std::map<std::string, std::string> annotations);

// A metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn,
// Exists, DoesNotExist), all of which must hold. An empty selector matches
// everything.
struct LabelSelector {
  struct Requirement {
    enum class Op { kIn, kNotIn, kExists, kDoesNotExist };
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements;

  bool Matches(const std::map<std::string, std::string>& labels) const;
};

// One of ambient's `enablement_selectors`: a pod is ambient when both of
// some entry's selectors match (its labels, its namespace's labels).
struct EnablementSelector {
  LabelSelector pod;
  LabelSelector ns;
};

// Parses a selector object; `where` names it in errors
// ("enablement_selectors[0].podSelector").
[[nodiscard]] absl::StatusOr<LabelSelector> ParseLabelSelector(
    const internal::Json& v, const std::string& where);
[[nodiscard]] absl::StatusOr<std::vector<EnablementSelector>>
ParseEnablementSelectors(const internal::Json& v, const std::string& where);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_POD_H_
