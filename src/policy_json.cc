// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/policy_json.h"

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap {
namespace {

using Json = nlohmann::json;
using StringSetter = PolicyBuilder& (PolicyBuilder::*)(std::string_view);
using BoolSetter = PolicyBuilder& (PolicyBuilder::*)(bool);

struct Key {
  const char* name;
  StringSetter text = nullptr;
  BoolSetter flag = nullptr;
};

// Istio's `config.Config` field names.
constexpr Key kKeys[] = {
    {"ProxyPort", &PolicyBuilder::SetProxyPort},
    {"InboundCapturePort", &PolicyBuilder::SetInboundCapturePort},
    {"InboundTunnelPort", &PolicyBuilder::SetInboundTunnelPort},
    {"ProxyUID", &PolicyBuilder::SetProxyUids},
    {"ProxyGID", &PolicyBuilder::SetProxyGids},
    {"InboundInterceptionMode", &PolicyBuilder::SetInterceptMode},
    {"InboundTProxyMark", &PolicyBuilder::SetTproxyMark},
    {"InboundTProxyRouteTable", &PolicyBuilder::SetTproxyRouteTable},
    {"InboundPortsInclude", &PolicyBuilder::SetInboundPorts},
    {"InboundPortsExclude", &PolicyBuilder::SetInboundPortsExclude},
    {"OutboundPortsInclude", &PolicyBuilder::SetOutboundPortsInclude},
    {"OutboundPortsExclude", &PolicyBuilder::SetOutboundPortsExclude},
    {"OutboundIPRangesInclude", &PolicyBuilder::SetOutboundCidrsInclude},
    {"OutboundIPRangesExclude", &PolicyBuilder::SetOutboundCidrsExclude},
    {"ExcludeInterfaces", &PolicyBuilder::SetExcludeInterfaces},
    {"RerouteVirtualInterfaces", &PolicyBuilder::SetKubeVirtInterfaces},
    {"DNSServersV4", &PolicyBuilder::SetDnsServersV4},
    {"DNSServersV6", &PolicyBuilder::SetDnsServersV6},
    {"OwnerGroupsInclude", &PolicyBuilder::SetOwnerGroupsInclude},
    {"OwnerGroupsExclude", &PolicyBuilder::SetOwnerGroupsExclude},
    {"HostIPv4LoopbackCidr", &PolicyBuilder::SetIpv4LoopbackCidr},
    {"RedirectDNS", nullptr, &PolicyBuilder::SetRedirectDns},
    {"CaptureAllDNS", nullptr, &PolicyBuilder::SetCaptureAllDns},
    {"DropInvalid", nullptr, &PolicyBuilder::SetDropInvalid},
    {"EnableIPv6", nullptr, &PolicyBuilder::SetIpv6},
};

absl::StatusOr<std::string> Scalar(const std::string& key, const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return absl::InvalidArgumentError(
      absl::StrCat("policy key '", key,
                   "': expected a string or a number, got ", v.type_name()));
}

absl::StatusOr<std::string> Text(const std::string& key, const Json& v) {
  if (!v.is_array()) return Scalar(key, v);
  std::string joined;
  for (const Json& item : v) {
    MESHCAP_ASSIGN_OR_RETURN(std::string s, Scalar(key, item));
    if (!joined.empty()) joined += ',';
    joined += s;
  }
  return joined;
}

}  // namespace

absl::Status ApplyPolicyJson(std::string_view json, PolicyBuilder& builder) {
  Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError("policy: not valid JSON");
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: expected a JSON object, got ", doc.type_name()));
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const Key* key = nullptr;
    for (const Key& k : kKeys)
      if (it.key() == k.name) key = &k;
    if (key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy: unknown key '", it.key(), "'"));
    }
    if (key->flag != nullptr) {
      if (!it.value().is_boolean()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "policy key '", it.key(), "': expected true or false"));
      }
      (builder.*(key->flag))(it.value().get<bool>());
      continue;
    }
    MESHCAP_ASSIGN_OR_RETURN(std::string text, Text(it.key(), it.value()));
    (builder.*(key->text))(text);
  }
  return absl::OkStatus();
}

absl::StatusOr<CapturePolicy> PolicyFromJson(std::string_view json) {
  PolicyBuilder builder;
  MESHCAP_RETURN_IF_ERROR(ApplyPolicyJson(json, builder));
  return builder.Build();
}

}  // namespace meshcap
