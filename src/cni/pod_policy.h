// SPDX-License-Identifier: GPL-2.0-or-later
// What meshcap-cni does for one pod: leave it alone, or install which
// policy.
//
// With "podSelection": "istio" (the default) the pod is captured exactly
// when istio-cni's sidecar plugin would capture it (doAddRun), and with the
// policy istio-cni's NewRedirect would give it. The layers of the policy,
// each replacing what the ones before set, key by key:
//   1. istio-cni's defaults (NewRedirect), and EnableIPv6 as istio-iptables
//      detects it in the pod's namespace;
//   2. the configuration's `policy`: the node's own defaults;
//   3. what the pod sets: its annotations, the istio-proxy container's env
//      and securityContext;
//   4. the per-pod overrides, args.cni.meshcap then runtimeConfig.meshcap.
// With "podSelection": "all" every pod whose namespace is not excluded is
// captured with layers 2 and 4 only.
//
// The pod's facts come from a PodSource, asked only when the decision
// needs them: a pod in an excluded namespace costs no API request.

#ifndef MESHCAP_SRC_CNI_POD_POLICY_H_
#define MESHCAP_SRC_CNI_POD_POLICY_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "meshcap/policy.h"
#include "src/cni/config.h"
#include "src/cni/environment.h"
#include "src/cni/error.h"
#include "src/cni/istio.h"
#include "src/cni/pod.h"

namespace meshcap::cni {

// Where the facts about a pod come from.
class PodSource {
 public:
  virtual ~PodSource() = default;
  // The pod; an error names the pod and where it was to come from.
  virtual CniOr<PodInfo> Pod() = 0;
  // Its namespace's labels (ambient's selectors).
  virtual CniOr<std::map<std::string, std::string>> NamespaceLabels() = 0;
  // What the runtime said of the pod's annotations, when it did (read
  // without a request: a pod without Istio's status annotation needs
  // none).
  virtual const std::map<std::string, std::string>* RuntimeAnnotations()
      const = 0;
};

// Whether the pod's namespace holds IPv6 as istio-iptables decides it
// (getLocalIP): its first address that is neither loopback nor link-local
// is IPv6, or, with `dual_stack`, it has any such IPv6 address. An error
// when it has no such address at all (istio-cni fails ADD then too).
using Ipv6Detector = std::function<CniOr<bool>(bool dual_stack)>;

struct PodDecision {
  // Leave the pod alone; `reason` says why ("namespace 'kube-system' is in
  // excludeNamespaces", "Istio did not inject it").
  bool skip = false;
  std::string reason;
  // The policy to install; set unless skipped or not asked for.
  std::optional<CapturePolicy> policy;
  // What the log should say besides (a lookup that failed and was let
  // pass, as istio-cni lets it).
  std::vector<std::string> notes;
};

// Decides for the pod `env` describes. With `build_policy`, also builds
// its policy. Errors: what the source says (the pod could not be read),
// kErrInvalidConfig naming the annotation, key or override and its value.
CniOr<PodDecision> DecidePod(const PluginConfig& config,
                             const CniEnvironment& env, PodSource* source,
                             const Ipv6Detector& detect_ipv6,
                             bool build_policy);

// The policy a node's configuration gives a pod that sets nothing itself
// (layers 1 and 2, IPv6 off unless the configuration says otherwise): what
// STATUS proves the node can install.
CniOr<CapturePolicy> NodePolicy(const PluginConfig& config);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_POD_POLICY_H_
