// SPDX-License-Identifier: GPL-2.0-or-later
//
// Explain on arbitrary packet descriptions. The first byte picks a policy
// (a sidecar, a TPROXY sidecar with IPv6 and DNS, an ambient pod) and a
// backend's spelling; the rest is the packet as JSON (Packet::FromJson, the
// C ABI's and the bindings' form). Besides not crashing: a refused packet
// is kInvalidArgument (kAlreadyExists for a repeated key) with one
// printable line; an explained one has at most
// one deciding rule, a port exactly when captured, a mode that fits, and
// JSON that parses back with the same verdict.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>

#include "meshcap/explain.h"
#include "meshcap/policy_json.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_checks.h"

namespace {

const char* const kPolicies[] = {
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020",
        "OutboundIPRangesExclude": "10.10.0.0/16,fd00::/8",
        "ExcludeInterfaces": "eth9", "EnableIPv6": true})",
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundInterceptionMode": "TPROXY", "EnableIPv6": true,
        "RedirectDNS": true, "DNSServersV4": ["198.51.100.53"],
        "DropInvalid": true})",
    R"({"Profile": "ambient", "RedirectDNS": true})",
    // The first with CompactLists: its verdicts must be the first's.
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020",
        "OutboundIPRangesExclude": "10.10.0.0/16,fd00::/8",
        "ExcludeInterfaces": "eth9", "EnableIPv6": true,
        "CompactLists": true})",
};
constexpr size_t kCompact = 3;
const char* const kBackends[] = {"nftables", "iptables-legacy", "iptables-nft"};

void CheckLine(const absl::Status& s) {
  // (kAlreadyExists: a key given twice, as the JSON reader says.)
  if (s.code() != absl::StatusCode::kInvalidArgument &&
      s.code() != absl::StatusCode::kAlreadyExists) {
    abort();
  }
  meshcap::fuzz::AbortUnlessPrintable(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const auto* policies = [] {
    auto* v = new std::vector<meshcap::CapturePolicy>;
    for (const char* p : kPolicies) {
      v->push_back(*meshcap::PolicyFromJson(p));
    }
    return v;
  }();
  const size_t which = data[0] % std::size(kPolicies);
  const meshcap::CapturePolicy& policy = (*policies)[which];
  const char* backend =
      kBackends[(data[0] / std::size(kPolicies)) % std::size(kBackends)];
  const std::string json(reinterpret_cast<const char*>(data + 1), size - 1);
  absl::StatusOr<meshcap::Packet> packet = meshcap::Packet::FromJson(json);
  if (!packet.ok()) {
    CheckLine(packet.status());
    return 0;
  }
  absl::StatusOr<meshcap::Explanation> e =
      meshcap::Explain(policy, *packet, backend);
  if (!e.ok()) {
    // Only a backend this build lacks.
    if (e.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return 0;
  }
  if (which == kCompact) {
    absl::StatusOr<meshcap::Explanation> linear =
        meshcap::Explain((*policies)[0], *packet, backend);
    if (!linear.ok() || linear->mode != e->mode || linear->port != e->port ||
        linear->mark != e->mark || linear->connmark != e->connmark) {
      abort();
    }
  }
  int decisive = 0;
  for (const meshcap::ExplainStep& s : e->path) decisive += s.decisive;
  if (decisive > 1) abort();
  if (e->captured != e->port.has_value()) abort();
  if (e->captured != (e->mode == "REDIRECT" || e->mode == "TPROXY")) abort();
  if (!e->captured && e->mode != "ACCEPT" && e->mode != "DROP") abort();
  const nlohmann::json j = nlohmann::json::parse(e->ToJson(), nullptr, false);
  if (j.is_discarded() || j["captured"] != e->captured ||
      j["path"].size() != e->path.size()) {
    abort();
  }
  (void)e->ToText();
  return 0;
}
