// SPDX-License-Identifier: GPL-2.0-or-later
// istio-cni's two decisions, as its sidecar plugin makes them
// (istio/istio cni/pkg/plugin, commit 86c9f01 of 2026-08-22):
//
//   - whether a pod is captured at all: the checks of doAddRun (plugin.go)
//     that look at the pod, in their order;
//   - how: NewRedirect (sidecar_redirect.go) and the istio-iptables
//     configuration it becomes (sidecar_iptables_linux.go), as settings of
//     meshcap's policy knobs, each naming the annotation, variable or field
//     it came from, so that the builder's errors name it too.
//
// Pod annotations are written by the pod's author: every value is bounded
// (kMaxAnnotationBytes, kMaxListItems) and checked by Istio's own
// validators before it reaches the policy; an error names the annotation
// and the value.

#ifndef MESHCAP_SRC_CNI_ISTIO_H_
#define MESHCAP_SRC_CNI_ISTIO_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/cni/error.h"
#include "src/cni/pod.h"

namespace meshcap::cni {

// The longest annotation value, and the most items in one of its lists,
// that meshcap-cni takes.
inline constexpr size_t kMaxAnnotationBytes = 16 << 10;
inline constexpr size_t kMaxListItems = 1024;

// One policy knob set by a layer (config.h PodOverride, istio's redirect):
// JSON key, value as text, and where it came from for error messages.
struct PolicySetting {
  std::string key;
  std::string value;
  std::string origin;
};

// Why istio-cni leaves `pod` alone (doAddRun, after the namespace checks),
// or nullopt when it captures it. With only the runtime's annotations
// (pod.spec_known false) the checks that need the spec are made as far as
// the annotations allow (README: what that mode cannot know).
std::optional<std::string> IstioLeavesAlone(const PodInfo& pod);

// Whether the pod is istio-cni's own node agent (isCNIPod): its name starts
// with "istio-cni-node-" (or meshcap's "meshcap-cni-node-") and it runs in
// `pod_namespace`.
bool IsAgentPod(std::string_view pod_name, std::string_view pod_namespace,
                std::string_view agent_namespace);

// Whether ambient's enablement selectors take the pod (Istio's
// CompiledEnablementSelectors.Matches): not host-network, no sidecar
// status annotation, and some selector matching both the pod's and its
// namespace's labels.
bool IsAmbientPod(const PodInfo& pod,
                  const std::map<std::string, std::string>& namespace_labels,
                  const std::vector<EnablementSelector>& selectors);

// NewRedirect for `pod`, as knob settings: Istio's defaults for every pod
// (which the configuration's `policy` replaces, as a node's own defaults),
// and what the pod itself sets (its annotations, the istio-proxy
// container's env and securityContext), which win over both. EnableIPv6,
// which istio-iptables detects in the pod's namespace, is the caller's.
// Errors: kErrInvalidConfig naming the annotation and its value.
struct IstioRedirect {
  std::vector<PolicySetting> defaults;
  std::vector<PolicySetting> from_pod;
};
CniOr<IstioRedirect> NewRedirect(const PodInfo& pod);

// Whether the proxy asks for dual-stack (ISTIO_DUAL_STACK), which widens
// the IPv6 detection the caller makes.
bool IstioDualStack(const PodInfo& pod);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_ISTIO_H_
