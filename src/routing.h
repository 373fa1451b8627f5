// SPDX-License-Identifier: GPL-2.0-or-later
// Policy routing for TPROXY and the proxy's IPv6 loopback address, over
// rtnetlink. Everything we add carries our protocol number (rule
// FRA_PROTOCOL, route rtm_protocol, address IFA_PROTO), which is how Remove
// finds it again without knowing the policy that added it.

#ifndef MESHCAP_SRC_ROUTING_H_
#define MESHCAP_SRC_ROUTING_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/rule_set.h"

namespace meshcap::internal {

// Our rtnetlink protocol number ("meshcap"); shown as `proto 109` by ip.
inline constexpr uint8_t kRoutingProtocol = 109;

// What one Install added (not what was already there), to undo it.
struct RoutingChanges {
  struct Item {
    enum Kind : uint8_t { kRule, kRoute, kAddress } kind;
    int family;
  };
  std::vector<Item> added;
  PolicyRouting routing;
};

// Adds what `rules` needs in the calling thread's network namespace:
// `fwmark M lookup T` and `local default dev lo table T` per family when
// `rules.routing` is set, and `::6/128` on lo when `rules.ipv6`. Whatever is
// already there is left alone (no EEXIST, no duplicate).
absl::StatusOr<RoutingChanges> InstallRouting(const RuleSet& rules);

// Removes exactly what `changes` says Install added.
absl::Status UndoRouting(const RoutingChanges& changes);

// Removes every rule, route and address of ours that `keep` does not need
// (`keep` null: all of them).
absl::Status RemoveRouting(const RuleSet* keep);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_ROUTING_H_
