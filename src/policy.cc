// SPDX-License-Identifier: GPL-2.0-or-later
//
// The knob table and the builder. Every policy knob is described exactly
// once, in kKnobs below: its key, flag, environment variables, default, help
// and the parser that validates its text into the policy. The builder, the
// JSON loader, the command line, `--help` and the bindings all read it.

#include "meshcap/policy.h"

#include <grp.h>
#include <net/if.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap {

struct CapturePolicy::Impl {
  Profile profile = Profile::kSidecar;
  bool ipv6 = false;
  bool redirect_dns = false;
  // Sidecar.
  uint16_t proxy_port = 0;
  uint16_t inbound_capture_port = 0;
  uint16_t inbound_tunnel_port = 0;
  std::vector<uint32_t> proxy_uids;
  std::vector<uint32_t> proxy_gids;
  InterceptMode intercept_mode = InterceptMode::kRedirect;
  uint32_t tproxy_mark = 0;
  uint32_t tproxy_route_table = 0;
  PortSelection inbound_ports;
  std::vector<uint16_t> inbound_ports_exclude;
  std::vector<uint16_t> outbound_ports_include;
  std::vector<uint16_t> outbound_ports_exclude;
  CidrSelection outbound_cidrs_include;
  std::vector<Cidr> outbound_cidrs_exclude;
  std::vector<std::string> exclude_interfaces;
  std::vector<std::string> kube_virt_interfaces;
  bool capture_all_dns = false;
  std::vector<Cidr> dns_servers_v4;
  std::vector<Cidr> dns_servers_v6;
  bool drop_invalid = false;
  std::optional<std::vector<OwnerGroup>> owner_groups_include;
  std::vector<OwnerGroup> owner_groups_exclude;
  std::optional<Cidr> ipv4_loopback_cidr;
  // Ambient.
  std::optional<Cidr> probe_snat_ipv4;
  std::optional<Cidr> probe_snat_ipv6;
  bool ingress_mode = false;
  std::vector<std::string> virtual_interfaces;
  PodDns pod_dns = PodDns::kUnset;
  // Both.
  bool compact_lists = false;
  // The text of every knob in effect; the JSON object of them that
  // ToJson() returns; and their exact identity, fingerprint(). Both are
  // made once, when the policy is built: compiling uses the fingerprint at
  // every apply.
  std::vector<std::pair<const KnobInfo*, std::string>> texts;
  std::string json;
  std::string fingerprint;
};

namespace {

using internal::ParseDecimal;
using internal::Quote;
using internal::SplitList;
using internal::ToAbsl;
using Impl = CapturePolicy::Impl;

constexpr size_t kMaxOwnerGroupsInclude = 64;
// UIDs and GIDs: (uid_t)-1 means "no change" to the kernel, so it is no id.
constexpr uint64_t kMaxId = 4294967294ULL;

absl::Status Invalid(std::string_view origin, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(origin), ": ", ToAbsl(what)));
}

// --- Value parsers -----------------------------------------------------------

absl::StatusOr<bool> ParseBool(std::string_view origin, std::string_view t) {
  return internal::ParseBoolAt(origin, t);
}

absl::StatusOr<uint16_t> ParsePort(std::string_view origin,
                                   std::string_view text) {
  if (auto v = ParseDecimal(text, 0, UINT64_MAX)) {
    if (*v >= 1 && *v <= 65535) return static_cast<uint16_t>(*v);
    return Invalid(origin, absl::StrCat("port ", Quote(text),
                                        " is out of range (1-65535)"));
  }
  return Invalid(origin, absl::StrCat(Quote(text), " is not a port number"));
}

absl::StatusOr<std::vector<uint16_t>> ParsePortList(std::string_view origin,
                                                    std::string_view text) {
  std::vector<uint16_t> out;
  for (const std::string& item : SplitList(text)) {
    if (item == "*") {
      return Invalid(origin, "'*' is not allowed here; list the ports");
    }
    MESHCAP_ASSIGN_OR_RETURN(uint16_t p, ParsePort(origin, item));
    out.push_back(p);
  }
  return out;
}

absl::StatusOr<uint32_t> ParseU32(std::string_view origin,
                                  std::string_view text, uint64_t lo,
                                  uint64_t hi, std::string_view what) {
  auto v = ParseDecimal(text, 0, UINT64_MAX);
  if (!v) {
    return Invalid(
        origin, absl::StrCat(Quote(text), " is not a decimal ", ToAbsl(what)));
  }
  if (*v < lo || *v > hi) {
    return Invalid(origin,
                   absl::StrCat(ToAbsl(what), " ", Quote(text),
                                " is out of range (", lo, "-", hi, ")"));
  }
  return static_cast<uint32_t>(*v);
}

absl::StatusOr<std::vector<uint32_t>> ParseIdList(std::string_view origin,
                                                  std::string_view text,
                                                  std::string_view what) {
  std::vector<uint32_t> out;
  for (const std::string& item : SplitList(text)) {
    MESHCAP_ASSIGN_OR_RETURN(uint32_t id,
                             ParseU32(origin, item, 0, kMaxId, what));
    out.push_back(id);
  }
  if (out.empty()) {
    return Invalid(origin,
                   absl::StrCat(Quote(text), " names no ", ToAbsl(what)));
  }
  return out;
}

absl::StatusOr<Cidr> ParseCidr(std::string_view origin, std::string_view text) {
  absl::StatusOr<Cidr> c = Cidr::Parse(text);
  if (!c.ok()) return Invalid(origin, std::string(c.status().message()));
  return c;
}

absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view origin,
                                                std::string_view text) {
  std::vector<Cidr> out;
  for (const std::string& item : SplitList(text)) {
    if (item == "*") {
      return Invalid(origin, "'*' is not allowed here; list the CIDRs");
    }
    MESHCAP_ASSIGN_OR_RETURN(Cidr c, ParseCidr(origin, item));
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<Cidr> ParseAddress(std::string_view origin,
                                  std::string_view text, IpFamily family) {
  if (text.find('/') != std::string_view::npos) {
    return Invalid(origin,
                   absl::StrCat(Quote(text), " is a prefix; give an address"));
  }
  absl::StatusOr<Cidr> parsed = ParseCidr(origin, text);
  if (!parsed.ok()) {
    return Invalid(
        origin,
        absl::StrCat(Quote(text), " is not an ",
                     family == IpFamily::kIpv4 ? "IPv4" : "IPv6", " address"));
  }
  const Cidr& c = *parsed;
  if (c.family() != family) {
    return Invalid(
        origin,
        absl::StrCat(Quote(text), " is not an ",
                     family == IpFamily::kIpv4 ? "IPv4" : "IPv6", " address"));
  }
  return c;
}

absl::StatusOr<std::vector<Cidr>> ParseServers(std::string_view origin,
                                               std::string_view text,
                                               IpFamily family) {
  std::vector<Cidr> out;
  for (const std::string& item : SplitList(text)) {
    MESHCAP_ASSIGN_OR_RETURN(Cidr c, ParseAddress(origin, item, family));
    out.push_back(c);
  }
  return out;
}

// The kernel's dev_valid_name(), minus the wildcards iptables and nftables
// spell differently ('+' and '*'), which meshcap does not support.
absl::Status CheckInterfaceName(std::string_view origin,
                                std::string_view name) {
  if (name.size() >= IFNAMSIZ) {
    return Invalid(
        origin, absl::StrCat("interface name ", Quote(name), " is longer than ",
                             IFNAMSIZ - 1, " characters"));
  }
  if (name == "." || name == "..") {
    return Invalid(origin,
                   absl::StrCat(Quote(name), " is not a valid interface name"));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == '+' || c == '*' || c == '"' || c == '\'' ||
        c == '\\' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return Invalid(origin, absl::StrCat("interface name ", Quote(name),
                                          " contains an illegal character"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseInterfaces(
    std::string_view origin, std::string_view text) {
  std::vector<std::string> out;
  if (!text.empty() && SplitList(text).empty()) {
    return Invalid(origin, "empty interface name");
  }
  for (const std::string& item : SplitList(text)) {
    MESHCAP_RETURN_IF_ERROR(CheckInterfaceName(origin, item));
    out.push_back(item);
  }
  return out;
}

absl::StatusOr<OwnerGroup> ResolveGroup(std::string_view origin,
                                        const std::string& item) {
  if (auto gid = ParseDecimal(item, 0, UINT64_MAX)) {
    if (*gid > kMaxId) {
      return Invalid(origin, absl::StrCat("GID ", Quote(item),
                                          " is out of range (0-", kMaxId, ")"));
    }
    return OwnerGroup{item, static_cast<uint32_t>(*gid)};
  }
  const long bufsize = sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(bufsize > 0 ? static_cast<size_t>(bufsize) : 16384);
  for (;;) {
    group grp;
    group* result = nullptr;
    const int rc =
        getgrnam_r(item.c_str(), &grp, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 22)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) {
      return absl::UnavailableError(
          absl::StrCat(ToAbsl(origin), ": looking up group ", Quote(item),
                       " failed: errno ", rc));
    }
    if (result == nullptr) {
      return absl::NotFoundError(absl::StrCat(ToAbsl(origin), ": group ",
                                              Quote(item), " does not exist"));
    }
    return OwnerGroup{item, static_cast<uint32_t>(grp.gr_gid)};
  }
}

absl::StatusOr<std::vector<OwnerGroup>> ParseGroups(std::string_view origin,
                                                    std::string_view text) {
  std::vector<OwnerGroup> out;
  for (const std::string& item : SplitList(text)) {
    if (item == "*") {
      return Invalid(origin, "'*' cannot be combined with group names");
    }
    MESHCAP_ASSIGN_OR_RETURN(OwnerGroup g, ResolveGroup(origin, item));
    out.push_back(std::move(g));
  }
  return out;
}

// --- The knob table ----------------------------------------------------------

using ParseFn = absl::Status (*)(std::string_view text, std::string_view origin,
                                 Impl& p);

struct KnobDef {
  KnobInfo info;
  ParseFn parse;
};

#define MESHCAP_ASSIGN(field, expr)                     \
  [](std::string_view t, std::string_view o, Impl& p) { \
    MESHCAP_ASSIGN_OR_RETURN(p.field, expr);            \
    return absl::OkStatus();                            \
  }

constexpr Profile kA = Profile::kAmbient;

// The parsers of the knobs below see the knob's text (its default when
// unset) and where it came from. Order matters only where a parser reads
// another knob's value (ProxyGID after ProxyUID).
const KnobDef kKnobs[] = {
    {{.key = "Profile",
      .flag = "profile",
      .env = "MESHCAP_PROFILE",
      .default_text = "sidecar",
      .help = "The capture profile: \"sidecar\" (istio-iptables) or "
              "\"ambient\" (the "
              "in-pod rules for ztunnel).",
      .shared = true},
     [](std::string_view t, std::string_view o, Impl& p) {
       if (t == "sidecar") {
         p.profile = Profile::kSidecar;
       } else if (t == "ambient") {
         p.profile = Profile::kAmbient;
       } else {
         return Invalid(o, absl::StrCat("unknown profile ", Quote(t),
                                        " (want sidecar or ambient)"));
       }
       return absl::OkStatus();
     }},
    {{.key = "EnableIPv6",
      .flag = "ipv6",
      .default_text = "false",
      .help = "Produce IPv6 rules too: true, false, or auto (istio-iptables' "
              "detection from the host's addresses, the sidecar's default "
              "wherever Istio's environment is read: the command line, "
              "ApplyIstioEnvironment).",
      .is_bool = true,
      .shared = true,
      .ambient_default = "true",
      .ambient_env = "AMBIENT_IPV6"},
     MESHCAP_ASSIGN(ipv6, ParseBool(o, t))},
    {{.key = "RedirectDNS",
      .flag = "redirect-dns",
      .env = "REDIRECT_DNS",
      .env2 = "ISTIO_META_DNS_CAPTURE",
      .default_text = "false",
      .help = "Enable capture of dns traffic by istio-agent.",
      .is_bool = true,
      .shared = true,
      .ambient_default = "true",
      .ambient_env = "AMBIENT_DNS_CAPTURE"},
     MESHCAP_ASSIGN(redirect_dns, ParseBool(o, t))},
    // --- Sidecar ---
    {{.key = "ProxyPort",
      .flag = "envoy-port",
      .short_flag = 'p',
      .default_text = "15001",
      .help = "Specify the envoy port to which redirect all TCP traffic."},
     MESHCAP_ASSIGN(proxy_port, ParsePort(o, t))},
    {{.key = "InboundCapturePort",
      .flag = "inbound-capture-port",
      .short_flag = 'z',
      .env = "INBOUND_CAPTURE_PORT",
      .default_text = "15006",
      .help = "Port to which all inbound TCP traffic to the pod/VM should be "
              "redirected to."},
     MESHCAP_ASSIGN(inbound_capture_port, ParsePort(o, t))},
    {{.key = "InboundTunnelPort",
      .flag = "inbound-tunnel-port",
      .short_flag = 'e',
      .env = "INBOUND_TUNNEL_PORT",
      .default_text = "15008",
      .help = "Specify the istio tunnel port for inbound tcp traffic."},
     MESHCAP_ASSIGN(inbound_tunnel_port, ParsePort(o, t))},
    {{.key = "ProxyUID",
      .flag = "proxy-uid",
      .short_flag = 'u',
      .env = "PROXY_UID",
      .default_text = "1337",
      .help = "Specify the UID of the user for which the redirection is not "
              "applied. "
              "Typically, this is the UID of the proxy container."},
     MESHCAP_ASSIGN(proxy_uids, ParseIdList(o, t, "UID"))},
    {{.key = "ProxyGID",
      .flag = "proxy-gid",
      .short_flag = 'g',
      .env = "PROXY_GID",
      .default_text = "",
      .help = "Specify the GID of the user for which the redirection is not "
              "applied "
              "(same default value as -u param)."},
     [](std::string_view t, std::string_view o, Impl& p) {
       if (t.empty()) {
         p.proxy_gids = p.proxy_uids;
         return absl::OkStatus();
       }
       MESHCAP_ASSIGN_OR_RETURN(p.proxy_gids, ParseIdList(o, t, "GID"));
       return absl::OkStatus();
     }},
    {{.key = "InboundInterceptionMode",
      .flag = "istio-inbound-interception-mode",
      .short_flag = 'm',
      .env = "ISTIO_INBOUND_INTERCEPTION_MODE",
      .default_text = "",
      .help = "The mode used to redirect inbound connections to Envoy, either "
              "\"REDIRECT\" or \"TPROXY\"."},
     [](std::string_view t, std::string_view o, Impl& p) {
       if (t.empty() || t == "REDIRECT") {
         p.intercept_mode = InterceptMode::kRedirect;
       } else if (t == "TPROXY") {
         p.intercept_mode = InterceptMode::kTproxy;
       } else {
         return Invalid(o, absl::StrCat("unknown interception mode ", Quote(t),
                                        " (want REDIRECT or TPROXY)"));
       }
       return absl::OkStatus();
     }},
    {{.key = "InboundTProxyMark",
      .flag = "istio-inbound-tproxy-mark",
      .short_flag = 't',
      .env = "ISTIO_INBOUND_TPROXY_MARK",
      .default_text = "1337",
      .help = "The packet mark of TPROXY-captured connections."},
     MESHCAP_ASSIGN(tproxy_mark, ParseU32(o, t, 1, UINT32_MAX, "mark"))},
    {{.key = "InboundTProxyRouteTable",
      .flag = "istio-inbound-tproxy-route-table",
      .short_flag = 'r',
      .env = "ISTIO_INBOUND_TPROXY_ROUTE_TABLE",
      .default_text = "133",
      .help = "The policy-routing table that delivers TPROXY-marked packets "
              "locally."},
     [](std::string_view t, std::string_view o, Impl& p) {
       MESHCAP_ASSIGN_OR_RETURN(p.tproxy_route_table,
                                ParseU32(o, t, 1, UINT32_MAX, "route table"));
       if (p.tproxy_route_table >= 253 && p.tproxy_route_table <= 255) {
         return Invalid(o, absl::StrCat("route table ", Quote(t),
                                        " is reserved (default/main/local)"));
       }
       return absl::OkStatus();
     }},
    {{.key = "InboundPortsInclude",
      .flag = "istio-inbound-ports",
      .short_flag = 'b',
      .env = "ISTIO_INBOUND_PORTS",
      .default_text = "",
      .help =
          "Comma separated list of inbound ports for which traffic is to be "
          "redirected to Envoy (optional). The wildcard character \"*\" can be "
          "used to configure redirection for all ports. An empty list will "
          "disable."},
     [](std::string_view t, std::string_view o, Impl& p) {
       if (t == "*") {
         p.inbound_ports.all = true;
         return absl::OkStatus();
       }
       MESHCAP_ASSIGN_OR_RETURN(p.inbound_ports.ports, ParsePortList(o, t));
       return absl::OkStatus();
     }},
    {{.key = "InboundPortsExclude",
      .flag = "istio-local-exclude-ports",
      .short_flag = 'd',
      .env = "ISTIO_LOCAL_EXCLUDE_PORTS",
      .default_text = "",
      .help =
          "Comma separated list of inbound ports to be excluded from "
          "redirection "
          "to Envoy (optional). Only applies when all inbound traffic (i.e. "
          "\"*\") is being redirected."},
     MESHCAP_ASSIGN(inbound_ports_exclude, ParsePortList(o, t))},
    {{.key = "OutboundPortsInclude",
      .flag = "istio-outbound-ports",
      .short_flag = 'q',
      .env = "ISTIO_OUTBOUND_PORTS",
      .default_text = "",
      .help = "Comma separated list of outbound ports to be explicitly "
              "included for "
              "redirection to Envoy."},
     MESHCAP_ASSIGN(outbound_ports_include, ParsePortList(o, t))},
    {{.key = "OutboundPortsExclude",
      .flag = "istio-local-outbound-ports-exclude",
      .short_flag = 'o',
      .env = "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE",
      .default_text = "",
      .help = "Comma separated list of outbound ports to be excluded from "
              "redirection "
              "to Envoy."},
     MESHCAP_ASSIGN(outbound_ports_exclude, ParsePortList(o, t))},
    {{.key = "OutboundIPRangesInclude",
      .flag = "istio-service-cidr",
      .short_flag = 'i',
      .env = "ISTIO_SERVICE_CIDR",
      .default_text = "",
      .help =
          "Comma separated list of IP ranges in CIDR form to redirect to envoy "
          "(optional). The wildcard character \"*\" can be used to redirect "
          "all "
          "outbound traffic. An empty list will disable all outbound."},
     [](std::string_view t, std::string_view o, Impl& p) {
       if (SplitList(t) == std::vector<std::string>{"*"}) {
         p.outbound_cidrs_include.all = true;
         return absl::OkStatus();
       }
       MESHCAP_ASSIGN_OR_RETURN(p.outbound_cidrs_include.cidrs,
                                ParseCidrList(o, t));
       return absl::OkStatus();
     }},
    {{.key = "OutboundIPRangesExclude",
      .flag = "istio-service-exclude-cidr",
      .short_flag = 'x',
      .env = "ISTIO_SERVICE_EXCLUDE_CIDR",
      .default_text = "",
      .help =
          "Comma separated list of IP ranges in CIDR form to be excluded from "
          "redirection. Only applies when all outbound traffic (i.e. \"*\") is "
          "being redirected."},
     MESHCAP_ASSIGN(outbound_cidrs_exclude, ParseCidrList(o, t))},
    {{.key = "ExcludeInterfaces",
      .flag = "istio-exclude-interfaces",
      .short_flag = 'c',
      .env = "ISTIO_EXCLUDE_INTERFACES",
      .default_text = "",
      .help = "Comma separated list of NIC (optional). Neither inbound nor "
              "outbound "
              "traffic will be captured."},
     MESHCAP_ASSIGN(exclude_interfaces, ParseInterfaces(o, t))},
    {{.key = "RerouteVirtualInterfaces",
      .flag = "kube-virt-interfaces",
      .short_flag = 'k',
      .env = "KUBE_VIRT_INTERFACES",
      .default_text = "",
      .help = "Comma separated list of virtual interfaces whose inbound "
              "traffic (from "
              "VM) will be treated as outbound."},
     MESHCAP_ASSIGN(kube_virt_interfaces, ParseInterfaces(o, t))},
    {{.key = "CaptureAllDNS",
      .flag = "capture-all-dns",
      .env = "CAPTURE_ALL_DNS",
      .default_text = "false",
      .help = "Instead of only capturing DNS traffic to DNS server IP, capture "
              "all DNS "
              "traffic at port 53. This setting is only effective when "
              "redirect dns "
              "is enabled.",
      .is_bool = true},
     MESHCAP_ASSIGN(capture_all_dns, ParseBool(o, t))},
    {{.key = "DNSServersV4",
      .default_text = "",
      .help = "IPv4 DNS servers whose port-53 traffic is captured (Istio reads "
              "them "
              "from /etc/resolv.conf)."},
     MESHCAP_ASSIGN(dns_servers_v4, ParseServers(o, t, IpFamily::kIpv4))},
    {{.key = "DNSServersV6",
      .default_text = "",
      .help = "IPv6 DNS servers whose port-53 traffic is captured."},
     MESHCAP_ASSIGN(dns_servers_v6, ParseServers(o, t, IpFamily::kIpv6))},
    {{.key = "DropInvalid",
      .flag = "drop-invalid",
      .env = "DROP_INVALID",
      .env2 = "INVALID_DROP",
      .default_text = "false",
      .help = "Enable invalid drop in the iptables rules.",
      .is_bool = true},
     MESHCAP_ASSIGN(drop_invalid, ParseBool(o, t))},
    {{.key = "OwnerGroupsInclude",
      .env = "ISTIO_OUTBOUND_OWNER_GROUPS",
      .default_text = "*",
      .help = "Groups (names or GIDs) whose outbound traffic is captured; "
              "\"*\" for "
              "all."},
     [](std::string_view t, std::string_view o, Impl& p) {
       if (t.empty() || t == "*") {
         p.owner_groups_include.reset();
         return absl::OkStatus();
       }
       MESHCAP_ASSIGN_OR_RETURN(std::vector<OwnerGroup> groups,
                                ParseGroups(o, t));
       if (groups.size() > kMaxOwnerGroupsInclude) {
         return Invalid(o,
                        absl::StrCat(groups.size(), " groups given, at most ",
                                     kMaxOwnerGroupsInclude, " are allowed"));
       }
       if (groups.empty()) {
         return Invalid(o, absl::StrCat(Quote(t), " names no group"));
       }
       p.owner_groups_include = std::move(groups);
       return absl::OkStatus();
     }},
    {{.key = "OwnerGroupsExclude",
      .env = "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE",
      .default_text = "",
      .help =
          "Groups (names or GIDs) whose outbound traffic is never captured."},
     MESHCAP_ASSIGN(owner_groups_exclude, ParseGroups(o, t))},
    {{.key = "HostIPv4LoopbackCidr",
      .env = "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR",
      .default_text = "127.0.0.1/32",
      .help = "The IPv4 loopback prefix the proxy's own traffic stays inside."},
     [](std::string_view t, std::string_view o, Impl& p) {
       MESHCAP_ASSIGN_OR_RETURN(Cidr c, ParseCidr(o, t));
       if (c.family() != IpFamily::kIpv4 || !c.IsLoopback()) {
         return Invalid(
             o, absl::StrCat(Quote(t), " is not an IPv4 loopback prefix"));
       }
       if (c.prefix_len() < 8) {
         return Invalid(
             o, absl::StrCat(Quote(t), " has a prefix shorter than /8"));
       }
       p.ipv4_loopback_cidr = c;
       return absl::OkStatus();
     }},
    // --- Ambient ---
    {{.key = "HostProbeSNATAddress",
      .flag = "probe-snat-ipv4",
      .env = "HOST_PROBE_SNAT_IP",
      .default_text = "169.254.7.127",
      .help = "The IPv4 address kubelet probes arrive from; never redirected.",
      .profile = kA},
     MESHCAP_ASSIGN(probe_snat_ipv4, ParseAddress(o, t, IpFamily::kIpv4))},
    {{.key = "HostProbeV6SNATAddress",
      .flag = "probe-snat-ipv6",
      .env = "HOST_PROBE_SNAT_IPV6",
      .default_text = "fd16:9254:7127:1337:ffff:ffff:ffff:ffff",
      .help = "The IPv6 address kubelet probes arrive from; never redirected.",
      .profile = kA},
     MESHCAP_ASSIGN(probe_snat_ipv6, ParseAddress(o, t, IpFamily::kIpv6))},
    {{.key = "IngressMode",
      .flag = "ingress",
      .default_text = "false",
      .help = "A gateway pod: inbound traffic is not redirected to ztunnel "
              "(ambient.istio.io/bypass-inbound-capture).",
      .is_bool = true,
      .profile = kA},
     MESHCAP_ASSIGN(ingress_mode, ParseBool(o, t))},
    {{.key = "VirtualInterfaces",
      .flag = "virtual-interfaces",
      .default_text = "",
      .help = "Comma separated list of interfaces whose inbound traffic is "
              "redirected "
              "as outbound (istio.io/reroute-virtual-interfaces).",
      .profile = kA},
     MESHCAP_ASSIGN(virtual_interfaces, ParseInterfaces(o, t))},
    {{.key = "DNSProxy",
      .flag = "pod-dns",
      .default_text = "",
      .help = "The pod's override of RedirectDNS: \"enabled\", \"disabled\" or "
              "empty "
              "(ambient.istio.io/dns-capture).",
      .profile = kA},
     [](std::string_view t, std::string_view o, Impl& p) {
       if (t.empty()) {
         p.pod_dns = PodDns::kUnset;
       } else if (t == "enabled") {
         p.pod_dns = PodDns::kEnabled;
       } else if (t == "disabled") {
         p.pod_dns = PodDns::kDisabled;
       } else {
         return Invalid(
             o, absl::StrCat(Quote(t), " is not one of enabled, disabled"));
       }
       return absl::OkStatus();
     }},
    // --- Both profiles, meshcap's own ---
    {{.key = "CompactLists",
      .flag = "compact-lists",
      .env = "MESHCAP_COMPACT_LISTS",
      .default_text = "false",
      .help = "nftables only: write each CIDR and port list as one rule with "
              "a named set lookup instead of a rule per entry, so that a "
              "long list costs a new connection nothing (the rules then "
              "differ from Istio's text, not in what they capture).",
      .is_bool = true,
      .shared = true},
     MESHCAP_ASSIGN(compact_lists, ParseBool(o, t))},
};

#undef MESHCAP_ASSIGN

constexpr size_t kKnobCount = std::size(kKnobs);

// The index of the knob `key` names (its key or its flag), or kKnobCount.
size_t FindKnob(std::string_view key) {
  for (size_t i = 0; i < kKnobCount; ++i) {
    const KnobInfo& k = kKnobs[i].info;
    if (key == k.key || (k.flag != nullptr && key == k.flag)) return i;
  }
  return kKnobCount;
}

}  // namespace

const std::vector<KnobInfo>& PolicyKnobs() {
  static const std::vector<KnobInfo>* const kInfos = [] {
    auto* v = new std::vector<KnobInfo>;
    for (const KnobDef& d : kKnobs) v->push_back(d.info);
    return v;
  }();
  return *kInfos;
}

// --- CapturePolicy -----------------------------------------------------------

CapturePolicy::CapturePolicy(std::shared_ptr<const Impl> impl)
    : impl_(std::move(impl)) {}
CapturePolicy::CapturePolicy(const CapturePolicy&) = default;
CapturePolicy& CapturePolicy::operator=(const CapturePolicy&) = default;
CapturePolicy::CapturePolicy(CapturePolicy&&) noexcept = default;
CapturePolicy& CapturePolicy::operator=(CapturePolicy&&) noexcept = default;
CapturePolicy::~CapturePolicy() = default;

Profile CapturePolicy::profile() const { return impl_->profile; }
bool CapturePolicy::ipv6() const { return impl_->ipv6; }
bool CapturePolicy::redirect_dns() const { return impl_->redirect_dns; }
uint16_t CapturePolicy::proxy_port() const { return impl_->proxy_port; }
uint16_t CapturePolicy::inbound_capture_port() const {
  return impl_->inbound_capture_port;
}
uint16_t CapturePolicy::inbound_tunnel_port() const {
  return impl_->inbound_tunnel_port;
}
const std::vector<uint32_t>& CapturePolicy::proxy_uids() const {
  return impl_->proxy_uids;
}
const std::vector<uint32_t>& CapturePolicy::proxy_gids() const {
  return impl_->proxy_gids;
}
InterceptMode CapturePolicy::intercept_mode() const {
  return impl_->intercept_mode;
}
uint32_t CapturePolicy::tproxy_mark() const { return impl_->tproxy_mark; }
uint32_t CapturePolicy::tproxy_route_table() const {
  return impl_->tproxy_route_table;
}
const PortSelection& CapturePolicy::inbound_ports() const {
  return impl_->inbound_ports;
}
const std::vector<uint16_t>& CapturePolicy::inbound_ports_exclude() const {
  return impl_->inbound_ports_exclude;
}
const std::vector<uint16_t>& CapturePolicy::outbound_ports_include() const {
  return impl_->outbound_ports_include;
}
const std::vector<uint16_t>& CapturePolicy::outbound_ports_exclude() const {
  return impl_->outbound_ports_exclude;
}
const CidrSelection& CapturePolicy::outbound_cidrs_include() const {
  return impl_->outbound_cidrs_include;
}
const std::vector<Cidr>& CapturePolicy::outbound_cidrs_exclude() const {
  return impl_->outbound_cidrs_exclude;
}
const std::vector<std::string>& CapturePolicy::exclude_interfaces() const {
  return impl_->exclude_interfaces;
}
const std::vector<std::string>& CapturePolicy::kube_virt_interfaces() const {
  return impl_->kube_virt_interfaces;
}
bool CapturePolicy::capture_all_dns() const { return impl_->capture_all_dns; }
const std::vector<Cidr>& CapturePolicy::dns_servers_v4() const {
  return impl_->dns_servers_v4;
}
const std::vector<Cidr>& CapturePolicy::dns_servers_v6() const {
  return impl_->dns_servers_v6;
}
bool CapturePolicy::drop_invalid() const { return impl_->drop_invalid; }
bool CapturePolicy::compact_lists() const { return impl_->compact_lists; }
const std::optional<std::vector<OwnerGroup>>&
CapturePolicy::owner_groups_include() const {
  return impl_->owner_groups_include;
}
const std::vector<OwnerGroup>& CapturePolicy::owner_groups_exclude() const {
  return impl_->owner_groups_exclude;
}
const Cidr& CapturePolicy::ipv4_loopback_cidr() const {
  return *impl_->ipv4_loopback_cidr;
}
const Cidr& CapturePolicy::probe_snat_ipv4() const {
  return *impl_->probe_snat_ipv4;
}
const Cidr& CapturePolicy::probe_snat_ipv6() const {
  return *impl_->probe_snat_ipv6;
}
bool CapturePolicy::ingress_mode() const { return impl_->ingress_mode; }
const std::vector<std::string>& CapturePolicy::virtual_interfaces() const {
  return impl_->virtual_interfaces;
}
PodDns CapturePolicy::pod_dns() const { return impl_->pod_dns; }

bool CapturePolicy::dns_capture_enabled() const {
  const Impl& p = *impl_;
  if (p.profile == Profile::kAmbient) {
    switch (p.pod_dns) {
      case PodDns::kEnabled:
        return true;
      case PodDns::kDisabled:
        return false;
      case PodDns::kUnset:
        return p.redirect_dns;
    }
  }
  return p.redirect_dns && (p.capture_all_dns || !p.dns_servers_v4.empty() ||
                            !p.dns_servers_v6.empty());
}

namespace {

std::string JsonOf(const Impl& p) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  for (const auto& [knob, text] : p.texts) {
    if (knob->is_bool) {
      doc[knob->key] = text == "true";
    } else {
      doc[knob->key] = text;
    }
  }
  // A value JSON cannot carry (bytes that are not UTF-8, as an interface
  // name may hold) is shown with U+FFFD; fingerprint() keeps it exactly.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Each knob's key and text, length-prefixed, and what Build() looked up
// (group names resolve to GIDs): equal exactly when the rules are.
std::string FingerprintOf(const Impl& p) {
  std::string out;
  for (const auto& [knob, text] : p.texts) {
    absl::StrAppend(&out, knob->key, "=", text.size(), ":", text, ";");
  }
  if (p.owner_groups_include.has_value()) {
    for (const OwnerGroup& g : *p.owner_groups_include) {
      absl::StrAppend(&out, "+gid:", g.gid, ";");
    }
  }
  for (const OwnerGroup& g : p.owner_groups_exclude) {
    absl::StrAppend(&out, "-gid:", g.gid, ";");
  }
  return out;
}

}  // namespace

std::string CapturePolicy::ToJson() const { return impl_->json; }

const std::string& CapturePolicy::fingerprint() const {
  return impl_->fingerprint;
}

// --- PolicyBuilder -----------------------------------------------------------

struct PolicyBuilder::Impl {
  struct Value {
    std::string text;
    std::string origin;
  };
  std::array<std::optional<Value>, kKnobCount> values;
  // Keys nobody knows, with where they came from; reported by Build().
  std::vector<std::pair<std::string, std::string>> unknown;
};

PolicyBuilder::PolicyBuilder() : impl_(std::make_unique<Impl>()) {}
PolicyBuilder::PolicyBuilder(const PolicyBuilder& o)
    : impl_(std::make_unique<Impl>(*o.impl_)) {}
PolicyBuilder& PolicyBuilder::operator=(const PolicyBuilder& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
PolicyBuilder::PolicyBuilder(PolicyBuilder&&) noexcept = default;
PolicyBuilder& PolicyBuilder::operator=(PolicyBuilder&&) noexcept = default;
PolicyBuilder::~PolicyBuilder() = default;

PolicyBuilder& PolicyBuilder::Set(std::string_view key, std::string_view value,
                                  std::string_view origin) {
  const size_t i = FindKnob(key);
  if (i == kKnobCount) {
    impl_->unknown.emplace_back(std::string(key), std::string(origin));
    return *this;
  }
  if (value.empty()) {
    impl_->values[i].reset();
    return *this;
  }
  impl_->values[i] = Impl::Value{
      std::string(value),
      origin.empty() ? std::string(kKnobs[i].info.key) : std::string(origin)};
  return *this;
}

PolicyBuilder& PolicyBuilder::Unset(std::string_view key) {
  const size_t i = FindKnob(key);
  if (i != kKnobCount) impl_->values[i].reset();
  return *this;
}

bool PolicyBuilder::IsSet(std::string_view key) const {
  const size_t i = FindKnob(key);
  return i != kKnobCount && impl_->values[i].has_value();
}

PolicyBuilder& PolicyBuilder::SetProfile(Profile profile) {
  return Set("Profile", profile == Profile::kAmbient ? "ambient" : "sidecar");
}

#define MESHCAP_TEXT_SETTER(Name, key) \
  PolicyBuilder& PolicyBuilder::Name(std::string_view v) { return Set(key, v); }
#define MESHCAP_BOOL_SETTER(Name, key)          \
  PolicyBuilder& PolicyBuilder::Name(bool on) { \
    return Set(key, on ? "true" : "false");     \
  }
MESHCAP_TEXT_SETTER(SetProxyPort, "ProxyPort")
MESHCAP_TEXT_SETTER(SetInboundCapturePort, "InboundCapturePort")
MESHCAP_TEXT_SETTER(SetInboundTunnelPort, "InboundTunnelPort")
MESHCAP_TEXT_SETTER(SetProxyUids, "ProxyUID")
MESHCAP_TEXT_SETTER(SetProxyGids, "ProxyGID")
MESHCAP_TEXT_SETTER(SetInterceptMode, "InboundInterceptionMode")
MESHCAP_TEXT_SETTER(SetTproxyMark, "InboundTProxyMark")
MESHCAP_TEXT_SETTER(SetTproxyRouteTable, "InboundTProxyRouteTable")
MESHCAP_TEXT_SETTER(SetInboundPorts, "InboundPortsInclude")
MESHCAP_TEXT_SETTER(SetInboundPortsExclude, "InboundPortsExclude")
MESHCAP_TEXT_SETTER(SetOutboundPortsInclude, "OutboundPortsInclude")
MESHCAP_TEXT_SETTER(SetOutboundPortsExclude, "OutboundPortsExclude")
MESHCAP_TEXT_SETTER(SetOutboundCidrsInclude, "OutboundIPRangesInclude")
MESHCAP_TEXT_SETTER(SetOutboundCidrsExclude, "OutboundIPRangesExclude")
MESHCAP_TEXT_SETTER(SetExcludeInterfaces, "ExcludeInterfaces")
MESHCAP_TEXT_SETTER(SetKubeVirtInterfaces, "RerouteVirtualInterfaces")
MESHCAP_TEXT_SETTER(SetDnsServersV4, "DNSServersV4")
MESHCAP_TEXT_SETTER(SetDnsServersV6, "DNSServersV6")
MESHCAP_TEXT_SETTER(SetOwnerGroupsInclude, "OwnerGroupsInclude")
MESHCAP_TEXT_SETTER(SetOwnerGroupsExclude, "OwnerGroupsExclude")
MESHCAP_TEXT_SETTER(SetIpv4LoopbackCidr, "HostIPv4LoopbackCidr")
MESHCAP_TEXT_SETTER(SetProbeSnatIpv4, "HostProbeSNATAddress")
MESHCAP_TEXT_SETTER(SetProbeSnatIpv6, "HostProbeV6SNATAddress")
MESHCAP_TEXT_SETTER(SetVirtualInterfaces, "VirtualInterfaces")
MESHCAP_TEXT_SETTER(SetPodDns, "DNSProxy")
MESHCAP_BOOL_SETTER(SetRedirectDns, "RedirectDNS")
MESHCAP_BOOL_SETTER(SetCaptureAllDns, "CaptureAllDNS")
MESHCAP_BOOL_SETTER(SetDropInvalid, "DropInvalid")
MESHCAP_BOOL_SETTER(SetIpv6, "EnableIPv6")
MESHCAP_BOOL_SETTER(SetIngressMode, "IngressMode")
MESHCAP_BOOL_SETTER(SetCompactLists, "CompactLists")
#undef MESHCAP_TEXT_SETTER
#undef MESHCAP_BOOL_SETTER

absl::StatusOr<CapturePolicy> PolicyBuilder::Build() const {
  if (!impl_->unknown.empty()) {
    const auto& [key, origin] = impl_->unknown.front();
    return absl::InvalidArgumentError(
        absl::StrCat(origin.empty() ? "policy" : origin,
                     ": unknown policy key ", Quote(key)));
  }
  auto p = std::make_shared<CapturePolicy::Impl>();
  // The profile first: it decides which knobs apply.
  for (size_t i = 0; i < kKnobCount; ++i) {
    const KnobDef& d = kKnobs[i];
    const auto& v = impl_->values[i];
    const char* default_text =
        p->profile == Profile::kAmbient && d.info.ambient_default != nullptr
            ? d.info.ambient_default
            : d.info.default_text;
    const std::string_view text =
        v ? std::string_view(v->text) : std::string_view(default_text);
    const std::string_view origin =
        v ? std::string_view(v->origin) : std::string_view(d.info.key);
    const bool applies = d.info.shared || d.info.profile == p->profile;
    if (v && !applies) {
      return absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(origin), ": ", d.info.key, " belongs to the ",
          d.info.profile == Profile::kAmbient ? "ambient" : "sidecar",
          " profile, but the policy's profile is ",
          p->profile == Profile::kAmbient ? "ambient" : "sidecar"));
    }
    MESHCAP_RETURN_IF_ERROR(d.parse(text, origin, *p));
    if (applies) p->texts.emplace_back(&d.info, std::string(text));
  }
  // Contradictions Istio resolves silently.
  const size_t inc = FindKnob("OwnerGroupsInclude");
  const size_t exc = FindKnob("OwnerGroupsExclude");
  if (p->owner_groups_include.has_value() && !p->owner_groups_exclude.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        impl_->values[exc]->origin, ": cannot be combined with ",
        impl_->values[inc]->origin,
        " (Istio ignores the exclude list when an include list is given)"));
  }
  p->json = JsonOf(*p);
  p->fingerprint = FingerprintOf(*p);
  return CapturePolicy(std::move(p));
}

}  // namespace meshcap
