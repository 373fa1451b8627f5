// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: policy_json.h
// -----------------------------------------------------------------------------
//
// A capture policy as a JSON object, for users who do not drive meshcap with
// istio-iptables flags. Keys are the field names of Istio's own configuration
// (`tools/common/config` `Config`), so an Istio config dump is a policy file:
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
// Values may be strings (Istio's syntax) or, where natural, numbers, booleans
// and arrays. Unknown keys are rejected, so a typo never goes unnoticed.

#ifndef MESHCAP_POLICY_JSON_H_
#define MESHCAP_POLICY_JSON_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/policy.h"

namespace meshcap {

// Applies the keys of the JSON object `json` to `builder`. Returns
// `kInvalidArgument` naming the key for malformed JSON, an unknown key or a
// value of the wrong type. Values themselves are checked by `Build()`.
[[nodiscard]] MESHCAP_EXPORT absl::Status ApplyPolicyJson(
    std::string_view json, PolicyBuilder& builder);

// `ApplyPolicyJson` onto a default builder, then `Build()`.
[[nodiscard]] MESHCAP_EXPORT absl::StatusOr<CapturePolicy> PolicyFromJson(
    std::string_view json);

}  // namespace meshcap

#endif  // MESHCAP_POLICY_JSON_H_
