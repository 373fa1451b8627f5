// SPDX-License-Identifier: GPL-2.0-or-later
// What meshcap-cni does for one pod: leave it alone, or install which
// policy. The configuration gives the node's defaults; per-pod overrides
// (config.h PodOverride) are laid over them in order, key by key.
//
// Reading pod annotations from the Kubernetes API (as istio-cni does) is
// meant to become one more PodOverride source, translated from
// annotations (traffic.sidecar.istio.io/excludeOutboundIPRanges ->
// "OutboundIPRangesExclude", sidecar.istio.io/inject=false -> skip), placed
// between the configuration and args.cni.meshcap; nothing below changes.

#ifndef MESHCAP_SRC_CNI_POD_POLICY_H_
#define MESHCAP_SRC_CNI_POD_POLICY_H_

#include <optional>
#include <string>
#include <vector>

#include "meshcap/policy.h"
#include "src/cni/config.h"
#include "src/cni/environment.h"
#include "src/cni/error.h"

namespace meshcap::cni {

struct PodDecision {
  // Leave the pod alone; `reason` says why ("namespace 'kube-system' is in
  // excludeNamespaces", "runtimeConfig.meshcap.skip").
  bool skip = false;
  std::string reason;
  // The policy to install; set unless skipped or not asked for.
  std::optional<CapturePolicy> policy;
};

// Decides for the pod `env` describes. With `build_policy`, also builds
// the policy: the configuration's profile and policy, then each override's
// (kErrInvalidConfig naming the key and value when the builder refuses
// one, or when a source's `profile` and its policy's `Profile` disagree).
CniOr<PodDecision> DecidePod(const PluginConfig& config,
                             const CniEnvironment& env, bool build_policy);

// The policy of the configuration with `overrides` laid over it.
CniOr<CapturePolicy> BuildPolicy(const PluginConfig& config,
                                 const std::vector<PodOverride>& overrides);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_POD_POLICY_H_
