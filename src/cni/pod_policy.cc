// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/pod_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "meshcap/policy_json.h"
#include "src/json.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Quote;

// One layer of the configuration or an override: its profile, then its
// policy's keys.
std::optional<CniError> ApplyLayer(const std::string& origin,
                                   const std::optional<std::string>& profile,
                                   const std::string& policy_json,
                                   PolicyBuilder& builder) {
  const std::string policy_origin =
      origin.empty() ? "policy" : origin + ".policy";
  const std::string profile_origin =
      origin.empty() ? "profile" : origin + ".profile";
  if (profile.has_value() && !policy_json.empty()) {
    // Written by config.cc from a parsed object: it parses.
    absl::StatusOr<internal::Json> doc = internal::ParseJson(policy_json, {});
    const internal::Json* p =
        doc.ok() ? internal::GetMember(*doc, "Profile") : nullptr;
    if (p != nullptr && !(p->is_string() && *p == *profile)) {
      return CniError{kErrInvalidConfig,
                      "invalid policy: " + Quote(profile_origin) + " is " +
                          Quote(*profile) + " but " +
                          Quote(policy_origin + ".Profile") + " is " +
                          internal::Escape(internal::DumpJson(*p)),
                      "give the profile once"};
    }
  }
  if (profile.has_value()) builder.Set("Profile", *profile, profile_origin);
  if (!policy_json.empty()) {
    absl::Status s = ApplyPolicyJson(policy_json, builder, policy_origin);
    if (!s.ok()) {
      return CniError{kErrInvalidConfig,
                      "invalid policy: " + std::string(s.message()), ""};
    }
  }
  return std::nullopt;
}

void ApplySettings(const std::vector<PolicySetting>& settings,
                   PolicyBuilder& builder) {
  for (const PolicySetting& s : settings) {
    if (s.value.empty()) {
      builder.Unset(s.key);
    } else {
      builder.Set(s.key, s.value, s.origin);
    }
  }
}

CniOr<CapturePolicy> Build(PolicyBuilder& builder) {
  absl::StatusOr<CapturePolicy> policy = builder.Build();
  if (!policy.ok()) {
    return CniError{kErrInvalidConfig,
                    "invalid policy: " + std::string(policy.status().message()),
                    ""};
  }
  return *std::move(policy);
}

// Layers 1 (Istio's defaults, with istio selection), 2, `pod` (layer 3)
// and 4; then EnableIPv6 from `detect_ipv6` unless a layer set it.
CniOr<CapturePolicy> BuildPodPolicy(const PluginConfig& config,
                                    const IstioRedirect* redirect,
                                    const Ipv6Detector* detect_ipv6,
                                    bool dual_stack) {
  PolicyBuilder builder;
  if (redirect != nullptr) ApplySettings(redirect->defaults, builder);
  if (auto e = ApplyLayer("", config.profile, config.policy_json, builder)) {
    return *e;
  }
  if (redirect != nullptr) ApplySettings(redirect->from_pod, builder);
  for (const PodOverride& o : config.overrides) {
    if (auto e = ApplyLayer(o.origin, o.profile, o.policy_json, builder)) {
      return *e;
    }
  }
  if (detect_ipv6 != nullptr && *detect_ipv6 && !builder.IsSet("EnableIPv6")) {
    CniOr<bool> ipv6 = (*detect_ipv6)(dual_stack);
    if (!ipv6.ok()) return ipv6.error();
    builder.Set("EnableIPv6", *ipv6 ? "true" : "false",
                "the addresses in the pod's network namespace");
  }
  return Build(builder);
}

bool Excluded(const PluginConfig& config, const std::string& ns) {
  return !ns.empty() && std::find(config.exclude_namespaces.begin(),
                                  config.exclude_namespaces.end(),
                                  ns) != config.exclude_namespaces.end();
}

std::string ArgOf(const CniEnvironment& env, const char* key) {
  auto it = env.args.find(key);
  return it == env.args.end() ? std::string() : it->second;
}

}  // namespace

CniOr<CapturePolicy> NodePolicy(const PluginConfig& config) {
  if (config.pod_selection == PodSelection::kAll) {
    return BuildPodPolicy(config, nullptr, nullptr, false);
  }
  CniOr<IstioRedirect> redirect = NewRedirect(PodInfo{});
  if (!redirect.ok()) return redirect.error();
  redirect->from_pod.clear();
  return BuildPodPolicy(config, &*redirect, nullptr, false);
}

CniOr<PodDecision> DecidePod(const PluginConfig& config,
                             const CniEnvironment& env, PodSource* source,
                             const Ipv6Detector& detect_ipv6,
                             bool build_policy) {
  PodDecision d;
  const std::string ns = env.PodNamespace();
  const std::string name = ArgOf(env, "K8S_POD_NAME");
  auto skip = [&](std::string reason) {
    d.skip = true;
    d.reason = std::move(reason);
    return d;
  };

  // An override that says skip or not decides alone.
  const PodOverride* forced = nullptr;
  for (const PodOverride& o : config.overrides) {
    if (o.skip.has_value()) forced = &o;
  }
  if (forced != nullptr && *forced->skip) {
    return skip(forced->origin + ".skip is true");
  }
  const bool istio = config.pod_selection == PodSelection::kIstio;
  if (forced == nullptr && !istio && Excluded(config, ns)) {
    return skip("namespace " + Quote(ns) + " is in excludeNamespaces");
  }
  if (forced != nullptr || !istio) {
    if (!build_policy) return d;
    std::optional<IstioRedirect> defaults;
    if (istio) {
      CniOr<IstioRedirect> r = NewRedirect(PodInfo{});
      if (!r.ok()) return r.error();
      defaults = *std::move(r);
      defaults->from_pod.clear();
    }
    CniOr<CapturePolicy> policy =
        BuildPodPolicy(config, defaults ? &*defaults : nullptr,
                       istio ? &detect_ipv6 : nullptr, false);
    if (!policy.ok()) return policy.error();
    d.policy = *std::move(policy);
    return d;
  }

  // istio-cni's doAddRun, in its order.
  if (IsAgentPod(name, ns, config.pod_namespace)) {
    return skip("it is the node agent's own pod");
  }
  if (ns.empty() || name.empty()) {
    return skip(
        "not a Kubernetes pod (no K8S_POD_NAMESPACE and K8S_POD_NAME in "
        "CNI_ARGS)");
  }
  if (Excluded(config, ns)) {
    return skip("namespace " + Quote(ns) + " is in excludeNamespaces");
  }
  // The runtime's annotations come with the call: a pod Istio did not
  // inject needs no request (istio-cni's last check, and a pod with that
  // annotation is never ambient).
  if (const auto* a = source->RuntimeAnnotations();
      a != nullptr && !config.ambient_enabled &&
      a->count("sidecar.istio.io/status") == 0) {
    return skip(
        "Istio did not inject it (no sidecar.istio.io/status "
        "annotation)");
  }
  if (config.ambient_enabled) {
    CniOr<PodInfo> pod = source->Pod();
    CniOr<std::map<std::string, std::string>> labels =
        pod.ok() ? source->NamespaceLabels()
                 : CniOr<std::map<std::string, std::string>>(pod.error());
    if (!labels.ok()) {
      if (config.enable_ambient_detection_retry) return labels.error();
      d.notes.push_back("ambient detection failed, taken as not ambient: " +
                        labels.error().msg);
    } else if (IsAmbientPod(*pod, *labels, config.enablement_selectors)) {
      return skip(
          "an ambient pod (enablement_selectors): its capture is made by "
          "Istio's node agent for ztunnel, which meshcap-cni does not do");
    }
  }
  CniOr<PodInfo> pod = source->Pod();
  if (!pod.ok()) return pod.error();
  if (std::optional<std::string> why = IstioLeavesAlone(*pod)) {
    return skip(*why);
  }
  CniOr<IstioRedirect> redirect = NewRedirect(*pod);
  if (!redirect.ok()) return redirect.error();
  if (!build_policy) return d;
  CniOr<CapturePolicy> policy =
      BuildPodPolicy(config, &*redirect, &detect_ipv6, IstioDualStack(*pod));
  if (!policy.ok()) return policy.error();
  d.policy = *std::move(policy);
  return d;
}

}  // namespace meshcap::cni
