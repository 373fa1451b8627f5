// SPDX-License-Identifier: GPL-2.0-or-later
// Policy routing (TPROXY's and ambient's) and the sidecar's IPv6 loopback
// address, over rtnetlink. Everything meshcap adds carries its protocol
// number (rule FRA_PROTOCOL, route rtm_protocol, address IFA_PROTO), which
// is how it finds its own entries again without knowing the policy that
// added them.

#ifndef MESHCAP_SRC_ROUTING_H_
#define MESHCAP_SRC_ROUTING_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/engine.h"
#include "src/ir/rule_set.h"
#include "src/netlink/netlink.h"

namespace meshcap::internal {

// Our rtnetlink protocol number ("meshcap"); `ip` shows it as `proto 109`.
inline constexpr uint8_t kRoutingProtocol = 109;

// One rule, route or address, as the kernel holds it or as a policy wants.
struct RoutingEntry {
  enum Kind : uint8_t { kRule, kRoute, kAddress } kind = kRule;
  int family = 0;             // AF_INET, AF_INET6
  ir::PolicyRouting routing;  // rules: mark/mask/table/priority; routes: table
  bool ours = false;          // carries kRoutingProtocol
  // The kernel's message (dumped entries), to delete it exactly.
  std::vector<char> message;

  // "ip rule fwmark 0x539/0xfff pref 32764 lookup 100 (IPv4)".
  std::string ToString() const;
};

// What a policy needs and what is there, in the calling thread's namespace.
struct RoutingPlan {
  std::vector<RoutingEntry> add;     // wanted, missing
  std::vector<RoutingEntry> remove;  // ours, not wanted
  std::vector<RoutingEntry> wanted;  // all of what the policy needs

  bool empty() const { return add.empty() && remove.empty(); }
};

class Routing {
 public:
  // An rtnetlink socket in the calling thread's namespace.
  [[nodiscard]] static absl::StatusOr<Routing> Open();

  // Compares the kernel with what `rules` needs (`rules` null: nothing).
  [[nodiscard]] absl::StatusOr<RoutingPlan> Plan(const ir::RuleSet* rules);
  // Adds `entries`; on failure removes what it added and says why. Appends
  // a line per entry added to `changes`.
  [[nodiscard]] absl::Status Add(const std::vector<RoutingEntry>& entries,
                                 std::vector<std::string>* changes);
  // Removes `entries` (gone already is fine).
  [[nodiscard]] absl::Status Remove(const std::vector<RoutingEntry>& entries,
                                    std::vector<std::string>* changes);

 private:
  explicit Routing(std::unique_ptr<NetlinkSocket> sock)
      : sock_(std::move(sock)) {}
  [[nodiscard]] absl::StatusOr<uint32_t> Loopback();

  std::unique_ptr<NetlinkSocket> sock_;
  uint32_t lo_ = 0;
};

// The kernel's dump messages (RTM_NEWRULE, RTM_NEWROUTE, RTM_NEWADDR)
// decoded into the entry they describe, when it is one Plan() considers
// (a fwmark rule or one of ours; a local default route or one of ours;
// ::6), else nullopt. Malformed messages are decoded as far as they are
// well formed. Plan() uses them; tests/fuzz/rtnl_dump_fuzzer.cc fuzzes
// them.
std::optional<RoutingEntry> DecodeRule(const nlmsghdr* m);
std::optional<RoutingEntry> DecodeRoute(const nlmsghdr* m);
std::optional<RoutingEntry> DecodeAddress(const nlmsghdr* m);

// The plan's differences, for Verify: wanted entries missing, entries of
// ours not wanted.
std::vector<Difference> RoutingDifferences(const RoutingPlan& plan);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_ROUTING_H_
