// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: policy_json.h
// -----------------------------------------------------------------------------
//
// A capture policy as a JSON object, for users who do not drive meshcap with
// istio-iptables flags. Keys are the knobs' keys (`PolicyKnobs()`): the
// field names of Istio's own configuration (`tools/common/config` `Config`
// for the sidecar profile; `AmbientConfig` and `PodLevelOverrides` for the
// ambient one), so an Istio config dump is a policy file:
//
//   {
//     "ProxyPort": "15001",
//     "InboundPortsInclude": "*",
//     "OutboundIPRangesInclude": "*",
//     "InboundInterceptionMode": "TPROXY",
//     "EnableIPv6": true,
//     "DNSServersV4": ["10.96.0.10"]
//   }
//
//   {"Profile": "ambient", "RedirectDNS": true, "IngressMode": false,
//    "VirtualInterfaces": ["net1"], "DNSProxy": "disabled"}
//
// Values may be strings (Istio's syntax) or, where natural, numbers,
// booleans and arrays. Unknown and repeated keys are rejected, so a typo
// never goes unnoticed.

#ifndef MESHCAP_POLICY_JSON_H_
#define MESHCAP_POLICY_JSON_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/policy.h"

namespace meshcap {

// Applies the keys of the JSON object `json` to `builder`. Returns
// `kInvalidArgument` for malformed JSON (with its line and column), an
// unknown or repeated key, or a value of the wrong type. Values themselves
// are checked by `Build()`, whose errors then name the key. `source` names
// the document in messages (a file name); empty: "policy".
[[nodiscard]] MESHCAP_EXPORT absl::Status ApplyPolicyJson(
    std::string_view json, PolicyBuilder& builder,
    std::string_view source = {});

// `ApplyPolicyJson` onto a default builder, then `Build()`.
[[nodiscard]] MESHCAP_EXPORT absl::StatusOr<CapturePolicy> PolicyFromJson(
    std::string_view json, std::string_view source = {});

}  // namespace meshcap

#endif  // MESHCAP_POLICY_JSON_H_
