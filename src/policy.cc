// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/policy.h"

#include <grp.h>
#include <net/if.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap {
namespace {

using internal::ParseDecimal;
using internal::SplitList;
using internal::ToAbsl;

constexpr size_t kMaxOwnerGroupsInclude = 64;

// Knob names in messages are istio-iptables' long flag names (or the
// environment variable for env-only knobs), the words users typed.
absl::Status Invalid(std::string_view knob, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(knob), ": ", ToAbsl(what)));
}

absl::StatusOr<uint16_t> ParsePort(std::string_view knob,
                                   std::string_view text) {
  if (auto v = ParseDecimal(text, 0, UINT64_MAX)) {
    if (*v >= 1 && *v <= 65535) return static_cast<uint16_t>(*v);
    return Invalid(knob, absl::StrCat("port '", ToAbsl(text),
                                      "' is out of range (1-65535)"));
  }
  return Invalid(knob,
                 absl::StrCat("'", ToAbsl(text), "' is not a port number"));
}

absl::StatusOr<uint16_t> ParsePortOr(std::string_view knob,
                                     std::string_view text, uint16_t dflt) {
  if (text.empty()) return dflt;
  return ParsePort(knob, text);
}

absl::StatusOr<std::vector<uint16_t>> ParsePortList(std::string_view knob,
                                                    std::string_view text) {
  std::vector<uint16_t> out;
  for (const std::string& item : SplitList(text)) {
    if (item == "*") {
      return Invalid(knob, "'*' is not allowed here; list the ports");
    }
    MESHCAP_ASSIGN_OR_RETURN(uint16_t p, ParsePort(knob, item));
    out.push_back(p);
  }
  return out;
}

absl::StatusOr<uint32_t> ParseU32(std::string_view knob, std::string_view text,
                                  uint64_t lo, uint64_t hi,
                                  std::string_view what) {
  auto v = ParseDecimal(text, 0, UINT64_MAX);
  if (!v) {
    return Invalid(knob, absl::StrCat("'", ToAbsl(text), "' is not a decimal ",
                                      ToAbsl(what)));
  }
  if (*v < lo || *v > hi) {
    return Invalid(knob, absl::StrCat(ToAbsl(what), " '", ToAbsl(text),
                                      "' is out of range (", lo, "-", hi, ")"));
  }
  return static_cast<uint32_t>(*v);
}

// UIDs and GIDs: (uid_t)-1 means "no change" to the kernel, so it is no id.
constexpr uint64_t kMaxId = 4294967294ULL;

absl::StatusOr<std::vector<uint32_t>> ParseIdList(std::string_view knob,
                                                  std::string_view text,
                                                  std::string_view what) {
  std::vector<uint32_t> out;
  for (const std::string& item : SplitList(text)) {
    MESHCAP_ASSIGN_OR_RETURN(uint32_t id,
                             ParseU32(knob, item, 0, kMaxId, what));
    out.push_back(id);
  }
  if (out.empty()) {
    return Invalid(
        knob, absl::StrCat("'", ToAbsl(text), "' names no ", ToAbsl(what)));
  }
  return out;
}

absl::StatusOr<Cidr> ParseCidr(std::string_view knob, std::string_view text) {
  absl::StatusOr<Cidr> c = Cidr::Parse(text);
  if (!c.ok()) return Invalid(knob, std::string(c.status().message()));
  return c;
}

absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view knob,
                                                std::string_view text) {
  std::vector<Cidr> out;
  for (const std::string& item : SplitList(text)) {
    if (item == "*") {
      return Invalid(knob, "'*' is not allowed here; list the CIDRs");
    }
    MESHCAP_ASSIGN_OR_RETURN(Cidr c, ParseCidr(knob, item));
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<std::vector<Cidr>> ParseServers(std::string_view knob,
                                               std::string_view text,
                                               IpFamily family) {
  std::vector<Cidr> out;
  for (const std::string& item : SplitList(text)) {
    if (item.find('/') != std::string::npos) {
      return Invalid(knob,
                     absl::StrCat("'", item, "' is a prefix; give an address"));
    }
    MESHCAP_ASSIGN_OR_RETURN(Cidr c, ParseCidr(knob, item));
    if (c.family() != family) {
      return Invalid(knob,
                     absl::StrCat("'", item, "' is not an ",
                                  family == IpFamily::kIpv4 ? "IPv4" : "IPv6",
                                  " address"));
    }
    out.push_back(c);
  }
  return out;
}

// The kernel's dev_valid_name(), minus the wildcards iptables and nftables
// spell differently ('+' and '*'), which meshcap does not support.
absl::Status CheckInterfaceName(std::string_view knob, std::string_view name) {
  if (name.size() >= IFNAMSIZ) {
    return Invalid(
        knob, absl::StrCat("interface name '", ToAbsl(name),
                           "' is longer than ", IFNAMSIZ - 1, " characters"));
  }
  if (name == "." || name == "..") {
    return Invalid(knob, absl::StrCat("'", ToAbsl(name),
                                      "' is not a valid interface name"));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == '+' || c == '*' || c == '"' || c == '\'' ||
        c == '\\' || c <= ' ' || c == 0x7f) {
      return Invalid(knob, absl::StrCat("interface name '", ToAbsl(name),
                                        "' contains an illegal character"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseInterfaces(
    std::string_view knob, std::string_view text) {
  std::vector<std::string> out;
  if (!text.empty() && SplitList(text).empty()) {
    return Invalid(knob, "empty interface name");
  }
  for (const std::string& item : SplitList(text)) {
    MESHCAP_RETURN_IF_ERROR(CheckInterfaceName(knob, item));
    out.push_back(item);
  }
  return out;
}

absl::StatusOr<OwnerGroup> ResolveGroup(std::string_view knob,
                                        const std::string& item) {
  if (auto gid = ParseDecimal(item, 0, UINT64_MAX)) {
    if (*gid > kMaxId) {
      return Invalid(knob, absl::StrCat("GID '", item, "' is out of range (0-",
                                        kMaxId, ")"));
    }
    return OwnerGroup{item, static_cast<uint32_t>(*gid)};
  }
  long bufsize = sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(bufsize > 0 ? static_cast<size_t>(bufsize) : 16384);
  for (;;) {
    group grp;
    group* result = nullptr;
    int rc = getgrnam_r(item.c_str(), &grp, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 22)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) {
      return absl::UnavailableError(absl::StrCat(
          ToAbsl(knob), ": looking up group '", item, "' failed: errno ", rc));
    }
    if (result == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(ToAbsl(knob), ": group '", item, "' does not exist"));
    }
    return OwnerGroup{item, static_cast<uint32_t>(grp.gr_gid)};
  }
}

absl::StatusOr<std::vector<OwnerGroup>> ParseGroups(std::string_view knob,
                                                    std::string_view text) {
  std::vector<OwnerGroup> out;
  for (const std::string& item : SplitList(text)) {
    if (item == "*") {
      return Invalid(knob, "'*' cannot be combined with group names");
    }
    MESHCAP_ASSIGN_OR_RETURN(OwnerGroup g, ResolveGroup(knob, item));
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

CapturePolicy::CapturePolicy()
    : proxy_uids_{1337},
      proxy_gids_{1337},
      ipv4_loopback_cidr_(*Cidr::Parse("127.0.0.1/32")) {}

PolicyBuilder::PolicyBuilder() = default;

#define MESHCAP_STRING_SETTER(Name, field)                 \
  PolicyBuilder& PolicyBuilder::Name(std::string_view v) { \
    field = std::string(v);                                \
    return *this;                                          \
  }
MESHCAP_STRING_SETTER(SetProxyPort, proxy_port_)
MESHCAP_STRING_SETTER(SetInboundCapturePort, inbound_capture_port_)
MESHCAP_STRING_SETTER(SetInboundTunnelPort, inbound_tunnel_port_)
MESHCAP_STRING_SETTER(SetProxyUids, proxy_uids_)
MESHCAP_STRING_SETTER(SetProxyGids, proxy_gids_)
MESHCAP_STRING_SETTER(SetInterceptMode, intercept_mode_)
MESHCAP_STRING_SETTER(SetTproxyMark, tproxy_mark_)
MESHCAP_STRING_SETTER(SetTproxyRouteTable, tproxy_route_table_)
MESHCAP_STRING_SETTER(SetInboundPorts, inbound_ports_)
MESHCAP_STRING_SETTER(SetInboundPortsExclude, inbound_ports_exclude_)
MESHCAP_STRING_SETTER(SetOutboundPortsInclude, outbound_ports_include_)
MESHCAP_STRING_SETTER(SetOutboundPortsExclude, outbound_ports_exclude_)
MESHCAP_STRING_SETTER(SetOutboundCidrsInclude, outbound_cidrs_include_)
MESHCAP_STRING_SETTER(SetOutboundCidrsExclude, outbound_cidrs_exclude_)
MESHCAP_STRING_SETTER(SetExcludeInterfaces, exclude_interfaces_)
MESHCAP_STRING_SETTER(SetKubeVirtInterfaces, kube_virt_interfaces_)
MESHCAP_STRING_SETTER(SetDnsServersV4, dns_servers_v4_)
MESHCAP_STRING_SETTER(SetDnsServersV6, dns_servers_v6_)
MESHCAP_STRING_SETTER(SetOwnerGroupsInclude, owner_groups_include_)
MESHCAP_STRING_SETTER(SetOwnerGroupsExclude, owner_groups_exclude_)
MESHCAP_STRING_SETTER(SetIpv4LoopbackCidr, ipv4_loopback_cidr_)
#undef MESHCAP_STRING_SETTER

PolicyBuilder& PolicyBuilder::SetRedirectDns(bool on) {
  redirect_dns_ = on;
  return *this;
}
PolicyBuilder& PolicyBuilder::SetCaptureAllDns(bool on) {
  capture_all_dns_ = on;
  return *this;
}
PolicyBuilder& PolicyBuilder::SetDropInvalid(bool on) {
  drop_invalid_ = on;
  return *this;
}
PolicyBuilder& PolicyBuilder::SetIpv6(bool on) {
  ipv6_ = on;
  return *this;
}

absl::StatusOr<CapturePolicy> PolicyBuilder::Build() const {
  CapturePolicy p;
  MESHCAP_ASSIGN_OR_RETURN(p.proxy_port_,
                           ParsePortOr("envoy-port", proxy_port_, 15001));
  MESHCAP_ASSIGN_OR_RETURN(
      p.inbound_capture_port_,
      ParsePortOr("inbound-capture-port", inbound_capture_port_, 15006));
  MESHCAP_ASSIGN_OR_RETURN(
      p.inbound_tunnel_port_,
      ParsePortOr("inbound-tunnel-port", inbound_tunnel_port_, 15008));

  if (!proxy_uids_.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(p.proxy_uids_,
                             ParseIdList("proxy-uid", proxy_uids_, "UID"));
  }
  if (!proxy_gids_.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(p.proxy_gids_,
                             ParseIdList("proxy-gid", proxy_gids_, "GID"));
  } else {
    p.proxy_gids_ = p.proxy_uids_;
  }

  if (intercept_mode_.empty() || intercept_mode_ == "REDIRECT") {
    p.intercept_mode_ = InterceptMode::kRedirect;
  } else if (intercept_mode_ == "TPROXY") {
    p.intercept_mode_ = InterceptMode::kTproxy;
  } else {
    return Invalid("istio-inbound-interception-mode",
                   absl::StrCat("unknown interception mode '", intercept_mode_,
                                "' (want REDIRECT or TPROXY)"));
  }
  if (!tproxy_mark_.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(
        p.tproxy_mark_, ParseU32("istio-inbound-tproxy-mark", tproxy_mark_, 1,
                                 UINT32_MAX, "mark"));
  }
  if (!tproxy_route_table_.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(
        p.tproxy_route_table_,
        ParseU32("istio-inbound-tproxy-route-table", tproxy_route_table_, 1,
                 UINT32_MAX, "route table"));
    if (p.tproxy_route_table_ >= 253 && p.tproxy_route_table_ <= 255) {
      return Invalid("istio-inbound-tproxy-route-table",
                     absl::StrCat("route table '", tproxy_route_table_,
                                  "' is reserved (default/main/local)"));
    }
  }

  if (inbound_ports_ == "*") {
    p.inbound_ports_.all = true;
  } else {
    MESHCAP_ASSIGN_OR_RETURN(
        p.inbound_ports_.ports,
        ParsePortList("istio-inbound-ports", inbound_ports_));
  }
  MESHCAP_ASSIGN_OR_RETURN(
      p.inbound_ports_exclude_,
      ParsePortList("istio-local-exclude-ports", inbound_ports_exclude_));
  MESHCAP_ASSIGN_OR_RETURN(
      p.outbound_ports_include_,
      ParsePortList("istio-outbound-ports", outbound_ports_include_));
  MESHCAP_ASSIGN_OR_RETURN(p.outbound_ports_exclude_,
                           ParsePortList("istio-local-outbound-ports-exclude",
                                         outbound_ports_exclude_));

  if (SplitList(outbound_cidrs_include_) == std::vector<std::string>{"*"}) {
    p.outbound_cidrs_include_.all = true;
  } else {
    MESHCAP_ASSIGN_OR_RETURN(
        p.outbound_cidrs_include_.cidrs,
        ParseCidrList("istio-service-cidr", outbound_cidrs_include_));
  }
  MESHCAP_ASSIGN_OR_RETURN(
      p.outbound_cidrs_exclude_,
      ParseCidrList("istio-service-exclude-cidr", outbound_cidrs_exclude_));

  MESHCAP_ASSIGN_OR_RETURN(
      p.exclude_interfaces_,
      ParseInterfaces("istio-exclude-interfaces", exclude_interfaces_));
  MESHCAP_ASSIGN_OR_RETURN(
      p.kube_virt_interfaces_,
      ParseInterfaces("kube-virt-interfaces", kube_virt_interfaces_));

  p.redirect_dns_ = redirect_dns_;
  p.capture_all_dns_ = capture_all_dns_;
  MESHCAP_ASSIGN_OR_RETURN(
      p.dns_servers_v4_,
      ParseServers("dns-servers-v4", dns_servers_v4_, IpFamily::kIpv4));
  MESHCAP_ASSIGN_OR_RETURN(
      p.dns_servers_v6_,
      ParseServers("dns-servers-v6", dns_servers_v6_, IpFamily::kIpv6));
  p.drop_invalid_ = drop_invalid_;

  if (!owner_groups_include_.empty() && owner_groups_include_ != "*") {
    MESHCAP_ASSIGN_OR_RETURN(
        std::vector<OwnerGroup> groups,
        ParseGroups("ISTIO_OUTBOUND_OWNER_GROUPS", owner_groups_include_));
    if (groups.size() > kMaxOwnerGroupsInclude) {
      return Invalid("ISTIO_OUTBOUND_OWNER_GROUPS",
                     absl::StrCat(groups.size(), " groups given, at most ",
                                  kMaxOwnerGroupsInclude, " are allowed"));
    }
    if (groups.empty()) {
      return Invalid(
          "ISTIO_OUTBOUND_OWNER_GROUPS",
          absl::StrCat("'", owner_groups_include_, "' names no group"));
    }
    p.owner_groups_include_ = std::move(groups);
  }
  MESHCAP_ASSIGN_OR_RETURN(p.owner_groups_exclude_,
                           ParseGroups("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE",
                                       owner_groups_exclude_));

  if (!ipv4_loopback_cidr_.empty()) {
    constexpr std::string_view kKnob = "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR";
    MESHCAP_ASSIGN_OR_RETURN(Cidr c, ParseCidr(kKnob, ipv4_loopback_cidr_));
    if (c.family() != IpFamily::kIpv4 || !c.IsLoopback()) {
      return Invalid(kKnob, absl::StrCat("'", ipv4_loopback_cidr_,
                                         "' is not an IPv4 loopback prefix"));
    }
    if (c.prefix_len() < 8) {
      return Invalid(kKnob, absl::StrCat("'", ipv4_loopback_cidr_,
                                         "' has a prefix shorter than /8"));
    }
    p.ipv4_loopback_cidr_ = c;
  }
  p.ipv6_ = ipv6_;
  return p;
}

}  // namespace meshcap
