// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: policy.h
// -----------------------------------------------------------------------------
//
// This header defines `meshcap::CapturePolicy`, an immutable, validated
// description of which traffic of a pod is redirected into its sidecar proxy
// and how, and `meshcap::PolicyBuilder`, the only way to make one.
//
// Every knob of Istio's `istio-iptables` is a field here, with Istio's
// default. The builder takes each list knob in the syntax istio-iptables
// takes (comma-separated, `*` where Istio allows it), so that flags,
// environment variables and JSON all map onto it one to one:
//
//   meshcap::PolicyBuilder b;
//   b.SetOutboundCidrsInclude("*")
//       .SetInboundPorts("*")
//       .SetInboundPortsExclude("15090,15021,15020");
//   absl::StatusOr<meshcap::CapturePolicy> policy = b.Build();
//   if (!policy.ok()) {
//     // e.g. INVALID_ARGUMENT: inbound-ports-exclude: port '0' is out of
//     // range (1-65535)
//   }
//
// Validation happens once, in `Build()`. Group names are resolved to GIDs
// there too (the only name-service lookup meshcap ever makes); nothing that
// later compiles or applies a policy reads the system databases.

#ifndef MESHCAP_POLICY_H_
#define MESHCAP_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/net.h"

namespace meshcap {

// How inbound traffic reaches the proxy.
enum class InterceptMode : uint8_t {
  kRedirect,  // nat REDIRECT (the default)
  kTproxy,    // mangle TPROXY + policy routing; preserves the source address
};

// A socket owner group, as the user spelled it ("java", "202") and the GID it
// resolved to when the policy was built.
struct OwnerGroup {
  std::string spelling;
  uint32_t gid = 0;

  friend bool operator==(const OwnerGroup& a, const OwnerGroup& b) {
    return a.spelling == b.spelling && a.gid == b.gid;
  }
};

// A selection of ports: none, all, or a list (in the order given).
struct PortSelection {
  bool all = false;
  std::vector<uint16_t> ports;

  bool empty() const { return !all && ports.empty(); }
};

// A selection of destinations: none, all (`*`), or a list of prefixes of
// either family, in the order given.
struct CidrSelection {
  bool all = false;
  std::vector<Cidr> cidrs;

  bool empty() const { return !all && cidrs.empty(); }
};

// CapturePolicy
//
// The validated policy. Copyable and cheap to keep; obtain one from
// `PolicyBuilder::Build()` or `PolicyFromJson()`.
class MESHCAP_EXPORT CapturePolicy {
 public:
  // `-p`: outbound capture port (REDIRECT target of ISTIO_REDIRECT).
  uint16_t proxy_port() const { return proxy_port_; }
  // `-z`: inbound capture port (REDIRECT or TPROXY target for inbound).
  uint16_t inbound_capture_port() const { return inbound_capture_port_; }
  // `-e`: HBONE tunnel port; never captured.
  uint16_t inbound_tunnel_port() const { return inbound_tunnel_port_; }
  // `-u`: the proxy's UIDs; each gets its own rules, in order.
  const std::vector<uint32_t>& proxy_uids() const { return proxy_uids_; }
  // `-g`: the proxy's GIDs (defaults to the UIDs).
  const std::vector<uint32_t>& proxy_gids() const { return proxy_gids_; }
  // `-m`.
  InterceptMode intercept_mode() const { return intercept_mode_; }
  // `-t`: the TPROXY mark.
  uint32_t tproxy_mark() const { return tproxy_mark_; }
  // `-r`: the policy-routing table for TPROXY.
  uint32_t tproxy_route_table() const { return tproxy_route_table_; }
  // `-b`: inbound ports to capture; empty means no inbound capture.
  const PortSelection& inbound_ports() const { return inbound_ports_; }
  // `-d`: inbound ports never captured; only used when `-b` is `*`.
  const std::vector<uint16_t>& inbound_ports_exclude() const {
    return inbound_ports_exclude_;
  }
  // `-q`: outbound ports always captured.
  const std::vector<uint16_t>& outbound_ports_include() const {
    return outbound_ports_include_;
  }
  // `-o`: outbound ports never captured (TCP and UDP).
  const std::vector<uint16_t>& outbound_ports_exclude() const {
    return outbound_ports_exclude_;
  }
  // `-i`: outbound destinations captured; empty means no outbound capture.
  const CidrSelection& outbound_cidrs_include() const {
    return outbound_cidrs_include_;
  }
  // `-x`: outbound destinations never captured.
  const std::vector<Cidr>& outbound_cidrs_exclude() const {
    return outbound_cidrs_exclude_;
  }
  // `-c`: interfaces whose traffic is never captured.
  const std::vector<std::string>& exclude_interfaces() const {
    return exclude_interfaces_;
  }
  // `-k`: interfaces whose inbound traffic is treated as outbound.
  const std::vector<std::string>& kube_virt_interfaces() const {
    return kube_virt_interfaces_;
  }
  // `--redirect-dns` as given.
  bool redirect_dns() const { return redirect_dns_; }
  // `--capture-all-dns`.
  bool capture_all_dns() const { return capture_all_dns_; }
  // DNS servers whose port-53 traffic is captured (host prefixes).
  const std::vector<Cidr>& dns_servers_v4() const { return dns_servers_v4_; }
  const std::vector<Cidr>& dns_servers_v6() const { return dns_servers_v6_; }
  // Whether DNS capture is in effect: `redirect_dns` and either capture-all
  // or at least one server (Istio silently disables it otherwise).
  bool dns_capture_enabled() const {
    return redirect_dns_ && (capture_all_dns_ || !dns_servers_v4_.empty() ||
                             !dns_servers_v6_.empty());
  }
  // `--drop-invalid`.
  bool drop_invalid() const { return drop_invalid_; }
  // `ISTIO_OUTBOUND_OWNER_GROUPS`: when set, only these groups are captured.
  // `std::nullopt` means all groups (`*`).
  const std::optional<std::vector<OwnerGroup>>& owner_groups_include() const {
    return owner_groups_include_;
  }
  // `ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE`: groups never captured; only used
  // when the include list is `*`.
  const std::vector<OwnerGroup>& owner_groups_exclude() const {
    return owner_groups_exclude_;
  }
  // `ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR`.
  const Cidr& ipv4_loopback_cidr() const { return ipv4_loopback_cidr_; }
  // Whether IPv6 rules are produced.
  bool ipv6() const { return ipv6_; }

 private:
  friend class PolicyBuilder;
  CapturePolicy();

  uint16_t proxy_port_ = 15001;
  uint16_t inbound_capture_port_ = 15006;
  uint16_t inbound_tunnel_port_ = 15008;
  std::vector<uint32_t> proxy_uids_;
  std::vector<uint32_t> proxy_gids_;
  InterceptMode intercept_mode_ = InterceptMode::kRedirect;
  uint32_t tproxy_mark_ = 1337;
  uint32_t tproxy_route_table_ = 133;
  PortSelection inbound_ports_;
  std::vector<uint16_t> inbound_ports_exclude_;
  std::vector<uint16_t> outbound_ports_include_;
  std::vector<uint16_t> outbound_ports_exclude_;
  CidrSelection outbound_cidrs_include_;
  std::vector<Cidr> outbound_cidrs_exclude_;
  std::vector<std::string> exclude_interfaces_;
  std::vector<std::string> kube_virt_interfaces_;
  bool redirect_dns_ = false;
  bool capture_all_dns_ = false;
  std::vector<Cidr> dns_servers_v4_;
  std::vector<Cidr> dns_servers_v6_;
  bool drop_invalid_ = false;
  std::optional<std::vector<OwnerGroup>> owner_groups_include_;
  std::vector<OwnerGroup> owner_groups_exclude_;
  Cidr ipv4_loopback_cidr_;
  bool ipv6_ = false;
};

// PolicyBuilder
//
// Collects knob values as text, exactly as istio-iptables receives them, and
// validates them all in `Build()`. Every setter returns `*this`. An empty
// string means "unset": the knob keeps Istio's default.
//
// `Build()` returns the first problem found as `kInvalidArgument` (malformed
// or out-of-range value) or `kNotFound` (a group name the system does not
// know), with a message that names the knob and the offending value.
class MESHCAP_EXPORT PolicyBuilder {
 public:
  PolicyBuilder();

  // Ports: a decimal number 1..65535.
  PolicyBuilder& SetProxyPort(std::string_view v);
  PolicyBuilder& SetInboundCapturePort(std::string_view v);
  PolicyBuilder& SetInboundTunnelPort(std::string_view v);
  // Comma lists of decimal ids 0..4294967294. Default UIDs: "1337"; default
  // GIDs: the UIDs.
  PolicyBuilder& SetProxyUids(std::string_view v);
  PolicyBuilder& SetProxyGids(std::string_view v);
  // "REDIRECT" or "TPROXY" ("" is REDIRECT). Anything else is rejected,
  // where Istio would silently fall back to REDIRECT.
  PolicyBuilder& SetInterceptMode(std::string_view v);
  // Decimal 1..4294967295.
  PolicyBuilder& SetTproxyMark(std::string_view v);
  // Decimal 1..4294967295, not one of the kernel's reserved tables 253-255.
  PolicyBuilder& SetTproxyRouteTable(std::string_view v);
  // "*" or a comma list of ports.
  PolicyBuilder& SetInboundPorts(std::string_view v);
  // Comma lists of ports.
  PolicyBuilder& SetInboundPortsExclude(std::string_view v);
  PolicyBuilder& SetOutboundPortsInclude(std::string_view v);
  PolicyBuilder& SetOutboundPortsExclude(std::string_view v);
  // "*" or a comma list of CIDRs or addresses of either family.
  PolicyBuilder& SetOutboundCidrsInclude(std::string_view v);
  // A comma list of CIDRs or addresses; "*" is rejected, as in Istio.
  PolicyBuilder& SetOutboundCidrsExclude(std::string_view v);
  // Comma lists of interface names (1-15 characters, no '/', ':' or space).
  PolicyBuilder& SetExcludeInterfaces(std::string_view v);
  PolicyBuilder& SetKubeVirtInterfaces(std::string_view v);
  PolicyBuilder& SetRedirectDns(bool on);
  PolicyBuilder& SetCaptureAllDns(bool on);
  // Comma lists of addresses; each must be of the list's family.
  PolicyBuilder& SetDnsServersV4(std::string_view v);
  PolicyBuilder& SetDnsServersV6(std::string_view v);
  PolicyBuilder& SetDropInvalid(bool on);
  // "*" (default) or a comma list of at most 64 group names or GIDs.
  PolicyBuilder& SetOwnerGroupsInclude(std::string_view v);
  // A comma list of group names or GIDs.
  PolicyBuilder& SetOwnerGroupsExclude(std::string_view v);
  // An IPv4 loopback prefix with length 8..32; default "127.0.0.1/32".
  PolicyBuilder& SetIpv4LoopbackCidr(std::string_view v);
  PolicyBuilder& SetIpv6(bool on);

  // Validates every knob and returns the policy, or the first error.
  [[nodiscard]] absl::StatusOr<CapturePolicy> Build() const;

 private:
  std::string proxy_port_, inbound_capture_port_, inbound_tunnel_port_;
  std::string proxy_uids_, proxy_gids_, intercept_mode_;
  std::string tproxy_mark_, tproxy_route_table_;
  std::string inbound_ports_, inbound_ports_exclude_;
  std::string outbound_ports_include_, outbound_ports_exclude_;
  std::string outbound_cidrs_include_, outbound_cidrs_exclude_;
  std::string exclude_interfaces_, kube_virt_interfaces_;
  bool redirect_dns_ = false, capture_all_dns_ = false;
  std::string dns_servers_v4_, dns_servers_v6_;
  bool drop_invalid_ = false;
  std::string owner_groups_include_, owner_groups_exclude_;
  std::string ipv4_loopback_cidr_;
  bool ipv6_ = false;
};

}  // namespace meshcap

#endif  // MESHCAP_POLICY_H_
