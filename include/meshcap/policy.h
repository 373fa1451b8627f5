// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: policy.h
// -----------------------------------------------------------------------------
//
// This header defines `meshcap::CapturePolicy`, an immutable, validated
// description of which traffic of a pod is redirected and where, and
// `meshcap::PolicyBuilder`, the only way to make one.
//
// A policy has a profile:
//   - kSidecar: Istio's `istio-iptables` (istio-init, the sidecar CNI
//     plugin): outbound to the proxy's 15001, inbound to 15006, the proxy's
//     own UID/GID exempt. Every istio-iptables knob is here, with Istio's
//     default.
//   - kAmbient: the rules Istio's CNI agent installs inside a pod for the
//     node's ztunnel (`cni/pkg/iptables` `CreateInpodRules`).
//
// Every knob is described once, in the table `PolicyKnobs()` returns: its
// key (Istio's `Config` / `AmbientConfig` / `PodLevelOverrides` field name),
// its istio-iptables flag and environment variables, its default and help.
// The builder takes each value in Istio's text syntax, so that flags,
// environment variables and JSON all map onto it one to one:
//
//   meshcap::PolicyBuilder b;
//   b.Set("OutboundIPRangesInclude", "*")
//       .Set("InboundPortsInclude", "*")
//       .Set("InboundPortsExclude", "15090,15021,15020");
//   absl::StatusOr<meshcap::CapturePolicy> policy = b.Build();
//   if (!policy.ok()) {
//     // INVALID_ARGUMENT: InboundPortsExclude: port '0' is out of range
//     // (1-65535)
//   }
//
// Validation happens once, in `Build()`. Group names are resolved to GIDs
// there too (the only name-service lookup the library makes); nothing that
// later compiles or applies a policy reads the system databases.

#ifndef MESHCAP_POLICY_H_
#define MESHCAP_POLICY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/net.h"

namespace meshcap {

// Which of Istio's capture rule sets a policy describes.
enum class Profile : uint8_t {
  kSidecar,  // istio-iptables: capture into a sidecar proxy
  kAmbient,  // the in-pod rules of ambient mode: capture into ztunnel
};

// How inbound traffic reaches the sidecar proxy.
enum class InterceptMode : uint8_t {
  kRedirect,  // nat REDIRECT (the default)
  kTproxy,    // mangle TPROXY + policy routing; keeps the source address
};

// Ambient: a pod's own say on DNS capture (`PodLevelOverrides.DNSProxy`).
enum class PodDns : uint8_t {
  kUnset,     // the node-wide `RedirectDNS` decides
  kEnabled,   // capture DNS for this pod
  kDisabled,  // never capture DNS for this pod
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

// One knob of the policy, as `PolicyKnobs()` lists them.
struct KnobInfo {
  // Istio's field name, the JSON key: "ProxyPort", "IngressMode".
  const char* key = nullptr;
  // istio-iptables' long flag without dashes ("envoy-port"), or meshcap's
  // own; nullptr when the knob has no flag.
  const char* flag = nullptr;
  // The short flag ('p'), or 0.
  char short_flag = 0;
  // The environment variable istio-iptables binds to the flag, and the
  // additional one that overrides it; nullptr when there is none.
  const char* env = nullptr;
  const char* env2 = nullptr;
  // The default, as text ("15001"; "" for none).
  const char* default_text = "";
  // One line of help.
  const char* help = "";
  // Whether the value is a boolean ("true"/"false").
  bool is_bool = false;
  // The profile the knob belongs to; knobs of the other profile are
  // refused.
  Profile profile = Profile::kSidecar;
  // Whether both profiles use it (`RedirectDNS`, `EnableIPv6`).
  bool shared = false;
  // A shared knob's default and environment variable in the ambient
  // profile, where Istio's node agent differs from istio-iptables
  // (`AMBIENT_DNS_CAPTURE`, `AMBIENT_IPV6`, both on by default); nullptr:
  // as for the sidecar.
  const char* ambient_default = nullptr;
  const char* ambient_env = nullptr;
};

// Every knob, in the order Istio's help lists them.
MESHCAP_EXPORT const std::vector<KnobInfo>& PolicyKnobs();

// CapturePolicy
//
// The validated policy. Immutable, copyable and cheap to copy (its data is
// shared); obtain one from `PolicyBuilder::Build()` or `PolicyFromJson()`.
class MESHCAP_EXPORT CapturePolicy {
 public:
  CapturePolicy(const CapturePolicy&);
  CapturePolicy& operator=(const CapturePolicy&);
  CapturePolicy(CapturePolicy&&) noexcept;
  CapturePolicy& operator=(CapturePolicy&&) noexcept;
  ~CapturePolicy();

  Profile profile() const;

  // --- Both profiles ---
  // Whether IPv6 rules are produced (`EnableIPv6`).
  bool ipv6() const;
  // `RedirectDNS` as given.
  bool redirect_dns() const;

  // --- Sidecar ---
  // `-p`: outbound capture port (REDIRECT target of ISTIO_REDIRECT).
  uint16_t proxy_port() const;
  // `-z`: inbound capture port (REDIRECT or TPROXY target for inbound).
  uint16_t inbound_capture_port() const;
  // `-e`: HBONE tunnel port; never captured.
  uint16_t inbound_tunnel_port() const;
  // `-u`: the proxy's UIDs; each gets its own rules, in order.
  const std::vector<uint32_t>& proxy_uids() const;
  // `-g`: the proxy's GIDs (defaults to the UIDs).
  const std::vector<uint32_t>& proxy_gids() const;
  // `-m`.
  InterceptMode intercept_mode() const;
  // `-t`: the TPROXY mark.
  uint32_t tproxy_mark() const;
  // `-r`: the policy-routing table for TPROXY.
  uint32_t tproxy_route_table() const;
  // `-b`: inbound ports to capture; empty means no inbound capture.
  const PortSelection& inbound_ports() const;
  // `-d`: inbound ports never captured; only used when `-b` is `*`.
  const std::vector<uint16_t>& inbound_ports_exclude() const;
  // `-q`: outbound ports always captured.
  const std::vector<uint16_t>& outbound_ports_include() const;
  // `-o`: outbound ports never captured (TCP and UDP).
  const std::vector<uint16_t>& outbound_ports_exclude() const;
  // `-i`: outbound destinations captured; empty means no outbound capture.
  const CidrSelection& outbound_cidrs_include() const;
  // `-x`: outbound destinations never captured.
  const std::vector<Cidr>& outbound_cidrs_exclude() const;
  // `-c`: interfaces whose traffic is never captured.
  const std::vector<std::string>& exclude_interfaces() const;
  // `-k`: interfaces whose inbound traffic is treated as outbound.
  const std::vector<std::string>& kube_virt_interfaces() const;
  // `--capture-all-dns`.
  bool capture_all_dns() const;
  // DNS servers whose port-53 traffic is captured (host prefixes).
  const std::vector<Cidr>& dns_servers_v4() const;
  const std::vector<Cidr>& dns_servers_v6() const;
  // `--drop-invalid`.
  bool drop_invalid() const;
  // `--compact-lists` (meshcap's own, both profiles): CIDR and port lists
  // as named nftables sets, one lookup rule per list. The nftables backend
  // only; the iptables backends refuse it.
  bool compact_lists() const;
  // `ISTIO_OUTBOUND_OWNER_GROUPS`: when set, only these groups are captured.
  // `std::nullopt` means all groups (`*`).
  const std::optional<std::vector<OwnerGroup>>& owner_groups_include() const;
  // `ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE`: groups never captured.
  const std::vector<OwnerGroup>& owner_groups_exclude() const;
  // `ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR`.
  const Cidr& ipv4_loopback_cidr() const;

  // --- Ambient ---
  // Kubelet probes arrive from these addresses and are never redirected.
  const Cidr& probe_snat_ipv4() const;
  const Cidr& probe_snat_ipv6() const;
  // A gateway pod: inbound is not redirected to ztunnel.
  bool ingress_mode() const;
  // Interfaces whose inbound traffic is redirected as outbound.
  const std::vector<std::string>& virtual_interfaces() const;
  // The pod's override of `RedirectDNS`.
  PodDns pod_dns() const;

  // Whether DNS is captured: sidecar, `RedirectDNS` and either capture-all
  // or at least one server (Istio silently disables it otherwise); ambient,
  // the pod's override or else `RedirectDNS`.
  bool dns_capture_enabled() const;

  // The policy as a JSON object of every knob of its profile, with the
  // values in effect (`PolicyFromJson` of it gives an equal policy).
  // Bytes that are not UTF-8 (an interface name may hold them) are shown
  // as U+FFFD.
  std::string ToJson() const;

  // The exact identity of the policy: equal for two policies exactly when
  // every knob in effect has the same text. Opaque; not stable across
  // meshcap versions.
  const std::string& fingerprint() const;

  friend bool operator==(const CapturePolicy& a, const CapturePolicy& b) {
    return a.fingerprint() == b.fingerprint();
  }

  // The hidden data (policy.cc).
  struct Impl;

 private:
  friend class PolicyBuilder;
  explicit CapturePolicy(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// PolicyBuilder
//
// Collects knob values as text, exactly as istio-iptables receives them, and
// validates them all in `Build()`. Every setter returns `*this`. An empty
// value means "unset": the knob keeps its default.
//
// `Build()` returns the first problem found as `kInvalidArgument` (a
// malformed or out-of-range value, an unknown key, a knob of the other
// profile, contradictory knobs) or `kNotFound` (a group name the system
// does not know), with a message that names where the value came from and
// the offending value.
class MESHCAP_EXPORT PolicyBuilder {
 public:
  PolicyBuilder();
  PolicyBuilder(const PolicyBuilder&);
  PolicyBuilder& operator=(const PolicyBuilder&);
  PolicyBuilder(PolicyBuilder&&) noexcept;
  PolicyBuilder& operator=(PolicyBuilder&&) noexcept;
  ~PolicyBuilder();

  // Sets the knob named `key`: a `KnobInfo::key` ("ProxyPort") or a long
  // flag ("envoy-port"). `origin` is what errors call the value ("--proxy-
  // uid", "environment variable PROXY_UID", "pod.json: key 'ProxyUID'");
  // empty: the key. An unknown key is reported by `Build()`.
  PolicyBuilder& Set(std::string_view key, std::string_view value,
                     std::string_view origin = {});
  // Forgets a value set earlier: the knob is back to its default.
  PolicyBuilder& Unset(std::string_view key);
  // Whether `key` was given a value.
  bool IsSet(std::string_view key) const;

  // "sidecar" (the default) or "ambient".
  PolicyBuilder& SetProfile(Profile profile);

  // Typed shorthands for the sidecar knobs, as istio-iptables spells them.
  PolicyBuilder& SetProxyPort(std::string_view v);
  PolicyBuilder& SetInboundCapturePort(std::string_view v);
  PolicyBuilder& SetInboundTunnelPort(std::string_view v);
  PolicyBuilder& SetProxyUids(std::string_view v);
  PolicyBuilder& SetProxyGids(std::string_view v);
  PolicyBuilder& SetInterceptMode(std::string_view v);
  PolicyBuilder& SetTproxyMark(std::string_view v);
  PolicyBuilder& SetTproxyRouteTable(std::string_view v);
  PolicyBuilder& SetInboundPorts(std::string_view v);
  PolicyBuilder& SetInboundPortsExclude(std::string_view v);
  PolicyBuilder& SetOutboundPortsInclude(std::string_view v);
  PolicyBuilder& SetOutboundPortsExclude(std::string_view v);
  PolicyBuilder& SetOutboundCidrsInclude(std::string_view v);
  PolicyBuilder& SetOutboundCidrsExclude(std::string_view v);
  PolicyBuilder& SetExcludeInterfaces(std::string_view v);
  PolicyBuilder& SetKubeVirtInterfaces(std::string_view v);
  PolicyBuilder& SetRedirectDns(bool on);
  PolicyBuilder& SetCaptureAllDns(bool on);
  PolicyBuilder& SetDnsServersV4(std::string_view v);
  PolicyBuilder& SetDnsServersV6(std::string_view v);
  PolicyBuilder& SetDropInvalid(bool on);
  PolicyBuilder& SetOwnerGroupsInclude(std::string_view v);
  PolicyBuilder& SetOwnerGroupsExclude(std::string_view v);
  PolicyBuilder& SetIpv4LoopbackCidr(std::string_view v);
  PolicyBuilder& SetIpv6(bool on);
  PolicyBuilder& SetCompactLists(bool on);

  // Typed shorthands for the ambient knobs.
  PolicyBuilder& SetProbeSnatIpv4(std::string_view v);
  PolicyBuilder& SetProbeSnatIpv6(std::string_view v);
  PolicyBuilder& SetIngressMode(bool on);
  PolicyBuilder& SetVirtualInterfaces(std::string_view v);
  // "enabled", "disabled" or "" (unset).
  PolicyBuilder& SetPodDns(std::string_view v);

  // Validates every knob and returns the policy, or the first error.
  [[nodiscard]] absl::StatusOr<CapturePolicy> Build() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshcap

#endif  // MESHCAP_POLICY_H_
