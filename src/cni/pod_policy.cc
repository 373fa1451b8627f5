// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/pod_policy.h"

#include <algorithm>

#include "meshcap/policy_json.h"
#include "nlohmann/json.hpp"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Quote;

// One layer: its profile, then its policy's keys.
std::optional<CniError> ApplyLayer(const std::string& origin,
                                   const std::optional<std::string>& profile,
                                   const std::string& policy_json,
                                   PolicyBuilder& builder) {
  const std::string policy_origin =
      origin.empty() ? "policy" : origin + ".policy";
  const std::string profile_origin =
      origin.empty() ? "profile" : origin + ".profile";
  if (profile.has_value() && !policy_json.empty()) {
    nlohmann::json doc = nlohmann::json::parse(policy_json, nullptr, false);
    if (doc.is_object() && doc.contains("Profile") &&
        !(doc["Profile"].is_string() &&
          doc["Profile"].get<std::string>() == *profile)) {
      return CniError{kErrInvalidConfig,
                      "invalid policy: " + Quote(profile_origin) + " is " +
                          Quote(*profile) + " but " +
                          Quote(policy_origin + ".Profile") + " is " +
                          internal::Escape(doc["Profile"].dump()),
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

}  // namespace

CniOr<CapturePolicy> BuildPolicy(const PluginConfig& config,
                                 const std::vector<PodOverride>& overrides) {
  PolicyBuilder builder;
  if (auto e = ApplyLayer("", config.profile, config.policy_json, builder)) {
    return *e;
  }
  for (const PodOverride& o : overrides) {
    if (auto e = ApplyLayer(o.origin, o.profile, o.policy_json, builder)) {
      return *e;
    }
  }
  absl::StatusOr<CapturePolicy> policy = builder.Build();
  if (!policy.ok()) {
    return CniError{kErrInvalidConfig,
                    "invalid policy: " + std::string(policy.status().message()),
                    ""};
  }
  return *std::move(policy);
}

CniOr<PodDecision> DecidePod(const PluginConfig& config,
                             const CniEnvironment& env, bool build_policy) {
  PodDecision d;
  const std::string ns = env.PodNamespace();
  if (!ns.empty() && std::find(config.exclude_namespaces.begin(),
                               config.exclude_namespaces.end(),
                               ns) != config.exclude_namespaces.end()) {
    d.skip = true;
    d.reason = "namespace " + Quote(ns) + " is in excludeNamespaces";
  }
  for (const PodOverride& o : config.overrides) {
    if (!o.skip.has_value()) continue;
    d.skip = *o.skip;
    d.reason = *o.skip ? o.origin + ".skip is true" : "";
  }
  if (d.skip || !build_policy) return d;
  CniOr<CapturePolicy> policy = BuildPolicy(config, config.overrides);
  if (!policy.ok()) return policy.error();
  d.policy = *std::move(policy);
  return d;
}

}  // namespace meshcap::cni
