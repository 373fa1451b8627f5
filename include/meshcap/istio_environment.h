// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: istio_environment.h
// -----------------------------------------------------------------------------
//
// Istio's tools configure themselves from more than their flags:
// istio-iptables reads an environment variable for most knobs (and an
// additional one that overrides it for a few), detects IPv6 from the
// host's addresses, reads the DNS servers to capture from resolv.conf, and
// takes the proxy's UID from the user $ENVOY_USER; Istio's node agent
// (the ambient profile) reads variables of its own for the knobs the two
// share. `ApplyIstioEnvironment` does all of that for a PolicyBuilder,
// driven by the knob table (`PolicyKnobs()`), so that every entry point
// (the command line, a CNI plugin, a binding) configures a policy the way
// Istio would on that machine:
//
//   meshcap::PolicyBuilder b;
//   meshcap::IstioInputs given;                // what the caller sets
//   given.knobs["ProxyPort"] = {"15101", "--envoy-port"};
//   absl::Status s = meshcap::ApplyIstioEnvironment(
//       given, meshcap::IstioEnvironment::System(), b);
//   if (!s.ok()) return s;
//   absl::StatusOr<meshcap::CapturePolicy> policy = b.Build();
//
// Precedence, as Istio's: a knob's default < its environment variable <
// its additional variable < what the caller gives (even empty: "unset").

#ifndef MESHCAP_ISTIO_ENVIRONMENT_H_
#define MESHCAP_ISTIO_ENVIRONMENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/policy.h"

namespace meshcap {

// What Istio's tools read of the machine; each may be replaced (tests).
struct MESHCAP_EXPORT IstioEnvironment {
  // An environment variable; nullopt when unset (empty counts as unset).
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  // The resolver configuration whose nameservers DNS capture takes when
  // none are given.
  std::string resolv_conf = "/etc/resolv.conf";
  // A regular file of at most `limit` bytes, whole.
  std::function<absl::StatusOr<std::string>(const std::string& path,
                                            size_t limit)>
      read_file;
  // Istio's IPv6 detection (getLocalIP) in the calling thread's network
  // namespace: its first address that is neither loopback nor link-local
  // is IPv6, or, with `dual_stack`, it has any such IPv6 address.
  std::function<bool(bool dual_stack)> detect_ipv6;
  // A user's UID as istio-iptables finds it (Go's os/user without cgo:
  // /etc/passwd only).
  std::function<std::optional<uint32_t>(const std::string& user)> lookup_uid;

  // The process's own environment and files.
  static IstioEnvironment System();
};

// One value and where it came from, for error messages ("--envoy-port",
// "environment variable PROXY_UID").
struct IstioValue {
  std::string text;
  std::string origin;
};

// What the caller sets explicitly (a command line's flags).
struct IstioInputs {
  // Knob values by JSON key (`KnobInfo::key`). "EnableIPv6" also takes
  // "auto": Istio's detection, which is what the sidecar profile does when
  // it is not given.
  std::map<std::string, IstioValue> knobs;
  // istio-iptables' --dual-stack: widens IPv6 detection (sidecar only).
  // Not given: $DUAL_STACK, then $ISTIO_DUAL_STACK.
  std::optional<IstioValue> dual_stack;
  // The DNS servers DNS capture takes (a comma list of IPv4 and IPv6
  // addresses; sidecar only). Not given: resolv.conf's, when Istio reads
  // it (DNS capture on, not capturing all DNS).
  std::optional<IstioValue> dns_servers;
};

// Sets `builder` from `inputs` and the environment as Istio would configure
// itself (above): the profile first (it decides which variables apply),
// then every knob of the table, then the derived defaults: IPv6 detected
// (sidecar) unless given, the DNS servers, and the proxy UID from
// $ENVOY_USER (default user istio-proxy) when not given. A variable of the
// other profile's knob is ignored; a given value of one is left for
// `Build()` to refuse. Errors: kInvalidArgument naming the value and its
// origin.
[[nodiscard]] MESHCAP_EXPORT absl::Status ApplyIstioEnvironment(
    const IstioInputs& inputs, const IstioEnvironment& env,
    PolicyBuilder& builder);

// The environment variables Istio reads for which no flag exists (knobs
// without a flag, and $ENVOY_USER), for help texts.
MESHCAP_EXPORT std::vector<std::string> IstioEnvironmentOnlyVariables();

// istio-iptables' --dual-stack variables, primary then additional.
inline constexpr const char* kDualStackEnv = "DUAL_STACK";
inline constexpr const char* kDualStackEnv2 = "ISTIO_DUAL_STACK";

}  // namespace meshcap

#endif  // MESHCAP_ISTIO_ENVIRONMENT_H_
