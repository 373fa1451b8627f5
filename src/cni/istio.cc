// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/istio.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meshcap/net.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Quote;

constexpr char kStatus[] = "sidecar.istio.io/status";
constexpr char kInject[] = "sidecar.istio.io/inject";
constexpr char kMode[] = "sidecar.istio.io/interceptionMode";
constexpr char kIncludeCidrs[] =
    "traffic.sidecar.istio.io/includeOutboundIPRanges";
constexpr char kExcludeCidrs[] =
    "traffic.sidecar.istio.io/excludeOutboundIPRanges";
constexpr char kExcludeInbound[] =
    "traffic.sidecar.istio.io/excludeInboundPorts";
constexpr char kIncludeInbound[] =
    "traffic.sidecar.istio.io/includeInboundPorts";
constexpr char kExcludeOutbound[] =
    "traffic.sidecar.istio.io/excludeOutboundPorts";
constexpr char kIncludeOutbound[] =
    "traffic.sidecar.istio.io/includeOutboundPorts";
constexpr char kKubevirt[] = "traffic.sidecar.istio.io/kubevirtInterfaces";
constexpr char kReroute[] = "istio.io/reroute-virtual-interfaces";
constexpr char kExcludeInterfaces[] =
    "traffic.sidecar.istio.io/excludeInterfaces";

// The ports istio-cni always keeps out of inbound capture (the agent's
// status, health and metrics ports).
constexpr char kAlwaysExcludedInbound[] = "15020,15021,15090";

CniError BadAnnotation(std::string_view key, std::string_view value,
                       const std::string& why) {
  std::string shown(value.substr(0, 200));
  if (value.size() > 200) shown += "...";
  return CniError{kErrInvalidConfig,
                  absl::StrCat("invalid pod annotation ", internal::ToAbsl(key),
                               "=", Quote(shown)),
                  why};
}

// Istio's parsePorts: the whole list and each item trimmed, each a decimal
// 0-65535 (strconv.ParseUint(item, 10, 16)); empty items are errors.
std::optional<std::string> CheckPorts(std::string_view raw, bool wildcard) {
  if (wildcard && raw == "*") return std::nullopt;
  std::string_view s = internal::TrimBlanks(raw);
  if (s.empty()) return std::nullopt;
  if (wildcard && s == "*") {
    return "\"*\" must be the whole value, without blanks around it";
  }
  size_t n = 0;
  for (std::string_view item : internal::Split(s, ',')) {
    if (++n > kMaxListItems) {
      return absl::StrCat("more than ", kMaxListItems, " ports");
    }
    std::string_view p = internal::TrimBlanks(item);
    if (p.empty() || !internal::ParseDecimal(p, 0, 65535).has_value()) {
      return absl::StrCat(Quote(p), " is not a port (0-65535)",
                          wildcard ? "; or give \"*\" alone" : "");
    }
  }
  return std::nullopt;
}

// Istio's validateCIDRList: items split on ',' and not trimmed, each a
// prefix (an address alone is not one).
std::optional<std::string> CheckCidrs(std::string_view raw, bool wildcard) {
  if (wildcard && raw == "*") return std::nullopt;
  if (raw.empty()) return std::nullopt;
  size_t n = 0;
  for (std::string_view item : internal::Split(raw, ',')) {
    if (++n > kMaxListItems) {
      return absl::StrCat("more than ", kMaxListItems, " ranges");
    }
    if (item.find('/') == std::string_view::npos || !Cidr::Parse(item).ok()) {
      return absl::StrCat(Quote(item), " is not a CIDR (address/length)",
                          wildcard ? "; or give \"*\" alone" : "");
    }
  }
  return std::nullopt;
}

// Istio's ValidateInterfaceNames: each trimmed item 1-15 characters,
// ^[a-zA-Z][a-zA-Z0-9_.-]*$.
std::optional<std::string> CheckInterfaces(std::string_view raw) {
  if (raw.empty()) return std::nullopt;
  size_t n = 0;
  for (std::string_view item : internal::Split(raw, ',')) {
    if (++n > kMaxListItems) {
      return absl::StrCat("more than ", kMaxListItems, " interfaces");
    }
    std::string_view name = internal::TrimBlanks(item);
    if (name.empty()) return "an empty interface name";
    if (name.size() > 15) {
      return absl::StrCat("interface name ", Quote(name),
                          " is longer than 15 characters");
    }
    bool ok = isalpha(static_cast<unsigned char>(name[0]));
    for (char c : name) {
      ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                  c == '.' || c == '-');
    }
    if (!ok) {
      return absl::StrCat("interface name ", Quote(name),
                          " has characters other than letters, digits, "
                          "'_', '.' and '-', or does not start with a letter");
    }
  }
  return std::nullopt;
}

// Istio's excluded inbound ports: the given list with 15020,15021,15090
// appended and repeats dropped (first occurrence kept, compared as text).
std::string MergeExcludedInbound(std::string_view given) {
  std::string s(internal::TrimBlanks(given));
  if (!s.empty() && s.back() != ',') s += ',';
  s += kAlwaysExcludedInbound;
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::string_view item : internal::Split(s, ',')) {
    if (seen.insert(std::string(item)).second) out.emplace_back(item);
  }
  return absl::StrJoin(out, ",");
}

std::optional<bool> EnvBool(const PodInfo& pod, const char* name) {
  auto it = pod.proxy_env.find(name);
  if (it == pod.proxy_env.end()) return std::nullopt;
  // Unparseable is false, as istio-cni's ParseBool failure is.
  return internal::ParseGoBool(it->second).value_or(false);
}

}  // namespace

std::optional<std::string> IstioLeavesAlone(const PodInfo& pod) {
  const bool containers = pod.containers_known;
  if (containers && pod.containers.count("istio-init") != 0) {
    return "it has an istio-init container, which installs the capture "
           "itself";
  }
  if (pod.spec_known) {
    if (auto e = EnvBool(pod, "DISABLE_ENVOY"); e.value_or(false)) {
      return "its istio-proxy container sets DISABLE_ENVOY";
    }
  }
  if (containers && pod.containers.count("istio-proxy") == 0) {
    return "it has no istio-proxy container";
  }
  if (pod.spec_known && !pod.proxy_type.empty() &&
      pod.proxy_type != "sidecar") {
    return absl::StrCat("its proxy is a ", Quote(pod.proxy_type),
                        ", not a sidecar");
  }
  // The label wins over the annotation when present, even empty; a value
  // that is not a boolean is ignored.
  std::string inject;
  if (auto a = pod.annotations.find(kInject); a != pod.annotations.end()) {
    inject = a->second;
  }
  if (auto l = pod.labels.find(kInject); l != pod.labels.end()) {
    inject = l->second;
  }
  if (!inject.empty() && internal::ParseGoBool(inject) == false) {
    return absl::StrCat(kInject, " is ", Quote(inject));
  }
  if (pod.annotations.count(kStatus) == 0) {
    return absl::StrCat("Istio did not inject it (no ", kStatus,
                        " annotation)");
  }
  return std::nullopt;
}

bool IsAgentPod(std::string_view pod_name, std::string_view pod_namespace,
                std::string_view agent_namespace) {
  return pod_namespace == agent_namespace &&
         (pod_name.rfind("istio-cni-node-", 0) == 0 ||
          pod_name.rfind("meshcap-cni-node-", 0) == 0);
}

bool IsAmbientPod(const PodInfo& pod,
                  const std::map<std::string, std::string>& namespace_labels,
                  const std::vector<EnablementSelector>& selectors) {
  if (pod.host_network || pod.annotations.count(kStatus) != 0) return false;
  for (const EnablementSelector& s : selectors) {
    if (s.pod.Matches(pod.labels) && s.ns.Matches(namespace_labels)) {
      return true;
    }
  }
  return false;
}

bool IstioDualStack(const PodInfo& pod) {
  return EnvBool(pod, "ISTIO_DUAL_STACK").value_or(false);
}

CniOr<IstioRedirect> NewRedirect(const PodInfo& pod) {
  IstioRedirect r;
  auto add_default = [&](const char* key, std::string value) {
    r.defaults.push_back(
        {key, std::move(value), absl::StrCat("istio-cni's default ", key)});
  };
  add_default("Profile", "sidecar");
  add_default("ProxyPort", "15001");
  add_default("ProxyUID", "1337");
  add_default("ProxyGID", "1337");
  add_default("InboundInterceptionMode", "REDIRECT");
  add_default("OutboundIPRangesInclude", "*");
  add_default("OutboundIPRangesExclude", "");
  add_default("InboundPortsInclude", "*");
  add_default("InboundPortsExclude", MergeExcludedInbound(""));
  add_default("OutboundPortsExclude", "15020");
  add_default("OutboundPortsInclude", "");
  add_default("ExcludeInterfaces", "");
  add_default("RerouteVirtualInterfaces", "");
  add_default("RedirectDNS", "false");
  add_default("CaptureAllDNS", "false");
  add_default("DropInvalid", "false");

  // The proxy's identity: a runAsUser or runAsGroup of 0 keeps 1337.
  if (pod.proxy_uid.has_value() && *pod.proxy_uid != 0) {
    r.from_pod.push_back({"ProxyUID", std::to_string(*pod.proxy_uid),
                          "the istio-proxy container's runAsUser"});
  }
  if (pod.proxy_gid.has_value() && *pod.proxy_gid != 0) {
    r.from_pod.push_back({"ProxyGID", std::to_string(*pod.proxy_gid),
                          "the istio-proxy container's runAsGroup"});
  }

  // Annotations, in NewRedirect's order; one present (even empty) is
  // checked as Istio checks it and used as given.
  struct Annotation {
    const char* name;
    const char* key;
    enum { kMode, kPorts, kPortsOrStar, kCidrs, kCidrsOrStar, kIfaces } kind;
  };
  static constexpr Annotation kAnnotations[] = {
      {kMode, "InboundInterceptionMode", Annotation::kMode},
      {kIncludeCidrs, "OutboundIPRangesInclude", Annotation::kCidrsOrStar},
      {kExcludeCidrs, "OutboundIPRangesExclude", Annotation::kCidrs},
      {kExcludeInbound, "InboundPortsExclude", Annotation::kPortsOrStar},
      {kIncludeInbound, "InboundPortsInclude", Annotation::kPortsOrStar},
      {kExcludeOutbound, "OutboundPortsExclude", Annotation::kPortsOrStar},
      {kIncludeOutbound, "OutboundPortsInclude", Annotation::kPortsOrStar},
      {kExcludeInterfaces, "ExcludeInterfaces", Annotation::kIfaces},
      {kReroute, "RerouteVirtualInterfaces", Annotation::kIfaces},
      {kKubevirt, "RerouteVirtualInterfaces", Annotation::kIfaces},
  };
  for (const Annotation& a : kAnnotations) {
    auto it = pod.annotations.find(a.name);
    if (it == pod.annotations.end()) continue;
    // The deprecated kubevirt annotation counts only without the new one.
    if (a.name == kKubevirt && pod.annotations.count(kReroute) != 0) continue;
    const std::string& value = it->second;
    if (value.size() > kMaxAnnotationBytes) {
      return BadAnnotation(
          a.name, value,
          absl::StrCat("longer than ", kMaxAnnotationBytes, " bytes"));
    }
    std::optional<std::string> why;
    switch (a.kind) {
      case Annotation::kMode:
        if (value != "REDIRECT" && value != "TPROXY") {
          why = "the interception mode is REDIRECT or TPROXY";
        }
        break;
      case Annotation::kPorts:
      case Annotation::kPortsOrStar:
        why = CheckPorts(value, a.kind == Annotation::kPortsOrStar);
        break;
      case Annotation::kCidrs:
      case Annotation::kCidrsOrStar:
        why = CheckCidrs(value, a.kind == Annotation::kCidrsOrStar);
        break;
      case Annotation::kIfaces:
        why = CheckInterfaces(value);
        break;
    }
    if (why.has_value()) return BadAnnotation(a.name, value, *why);
    const std::string origin = absl::StrCat("pod annotation ", a.name);
    r.from_pod.push_back(
        {a.key, a.name == kExcludeInbound ? MergeExcludedInbound(value) : value,
         origin});
  }

  // The proxy's environment.
  if (auto dns = EnvBool(pod, "ISTIO_META_DNS_CAPTURE")) {
    // CaptureAllDNS with it: /etc/resolv.conf is never read.
    const char* v = *dns ? "true" : "false";
    r.from_pod.push_back(
        {"RedirectDNS", v, "istio-proxy's ISTIO_META_DNS_CAPTURE"});
    r.from_pod.push_back(
        {"CaptureAllDNS", v, "istio-proxy's ISTIO_META_DNS_CAPTURE"});
  }
  if (auto drop = EnvBool(pod, "INVALID_DROP")) {
    r.from_pod.push_back({"DropInvalid", *drop ? "true" : "false",
                          "istio-proxy's INVALID_DROP"});
  }
  return r;
}

}  // namespace meshcap::cni
