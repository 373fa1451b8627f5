// SPDX-License-Identifier: GPL-2.0-or-later
//
// The rule-set IR: what the compiler makes of a CapturePolicy and what every
// backend lowers. Internal; never installed.
//
// Each item below is semantic: a match or a statement the kernel evaluates,
// with no text spelling. A RuleSet is compiled for one dialect (iptables or
// nftables) because Istio's two generators differ in more than spelling:
// the order of a rule's matches (which is the order the kernel evaluates
// them), chain and table names, and in one case a match (Istio's nftables
// drop-invalid rule is TCP-only). The dialect's renderer owns every quirk of
// Istio's text; the dialect's lowering owns the kernel encoding; both sit
// per kind under backends/<backend>/.
//
// Adding a kind: add the struct here and to the variant; every backend then
// fails to compile until it spells, encodes and decodes it (dispatch is an
// exhaustive std::visit).

#ifndef MESHCAP_SRC_IR_RULE_SET_H_
#define MESHCAP_SRC_IR_RULE_SET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "meshcap/net.h"
#include "meshcap/policy.h"

namespace meshcap::ir {

// Which of Istio's generators a rule set mirrors.
enum class Dialect : uint8_t { kIptables, kNftables };

// Which address families a rule applies to.
enum class Scope : uint8_t { kIpv4 = 1, kIpv6 = 2, kBoth = 3 };

inline bool ScopeHas(Scope s, IpFamily f) {
  return (static_cast<uint8_t>(s) & (f == IpFamily::kIpv4 ? 1u : 2u)) != 0;
}

enum class TableKind : uint8_t { kNat, kMangle, kRaw };
enum class Hook : uint8_t { kPrerouting, kOutput };
// nftables base chain types; iptables' built-in chains carry them implicitly.
enum class ChainType : uint8_t { kFilter, kNat, kRoute };
enum class L4Proto : uint8_t { kTcp, kUdp };
// Input/source or output/destination.
enum class Direction : uint8_t { kSource, kDestination };
enum class CtState : uint8_t { kInvalid, kEstablished, kRelated, kNew };

inline constexpr uint32_t kAllBits = 0xffffffff;

// "nat", "mangle", "raw".
const char* TableKindName(TableKind t);

// --- Matches -----------------------------------------------------------------

// The input (kSource) or output interface.
struct InterfaceMatch {
  Direction dir = Direction::kSource;
  std::string name;
  bool negate = false;
};

// The source or destination address lies in `cidr` (spelled as the policy
// spelled it, for the renderers that keep the user's text). With `set`
// (CompactLists): the address lies in the table's named set of that name,
// and `cidr` only says the family (it is the set's first prefix).
struct AddressMatch {
  Direction dir = Direction::kDestination;
  Cidr cidr;
  bool negate = false;
  std::string set;
};

// The transport protocol.
struct ProtocolMatch {
  L4Proto proto = L4Proto::kTcp;
};

// The source or destination port is one of `ports`. No ports: the
// protocol's port match without a constraint (iptables `-m tcp`), which
// matches exactly the packets of that protocol. With `set` (CompactLists):
// the port is in the table's named set of that name (`ports` is empty).
struct PortMatch {
  L4Proto proto = L4Proto::kTcp;
  Direction dir = Direction::kDestination;
  std::vector<uint16_t> ports;
  bool negate = false;
  std::string set;
};

// The local socket's owner. `name` is the group name the policy gave
// ("java"), printed instead of the number where set.
struct OwnerMatch {
  enum Kind : uint8_t { kUid, kGid } kind = kUid;
  uint32_t id = 0;
  std::string name;
  bool negate = false;
};

// (packet mark & mask) == value.
struct MarkMatch {
  uint32_t value = 0;
  uint32_t mask = kAllBits;
  bool negate = false;
};

// (conntrack mark & mask) == value.
struct ConnmarkMatch {
  uint32_t value = 0;
  uint32_t mask = kAllBits;
  bool negate = false;
};

// The connection is in one of `states` (in the order the policy lists them).
struct CtStateMatch {
  std::vector<CtState> states;
};

using Match =
    std::variant<InterfaceMatch, AddressMatch, ProtocolMatch, PortMatch,
                 OwnerMatch, MarkMatch, ConnmarkMatch, CtStateMatch>;

// --- Verdicts and statements -------------------------------------------------

struct JumpVerdict {
  std::string chain;
};
struct ReturnVerdict {};
struct AcceptVerdict {};
struct DropVerdict {};
// Redirect to a local port.
struct RedirectVerdict {
  uint16_t port = 0;
};
// Hand to a transparent socket on `port`, set mark = (mark & ~mask) ^ value,
// accept. The family is the rule's scope.
struct TproxyVerdict {
  uint16_t port = 0;
  uint32_t mark = 0;
  uint32_t mask = kAllBits;
};
// packet mark = (mark & ~mask) ^ value; continue.
struct SetMarkVerdict {
  uint32_t value = 0;
  uint32_t mask = kAllBits;
};
// conntrack mark = packet mark; continue.
struct SaveConnmarkVerdict {};
// packet mark = conntrack mark; continue.
struct RestoreConnmarkVerdict {};
// conntrack mark = (conntrack mark & ~mask) ^ value; continue.
struct SetConnmarkVerdict {
  uint32_t value = 0;
  uint32_t mask = kAllBits;
};
// The connection's conntrack zone; continue.
struct CtZoneVerdict {
  uint16_t zone = 0;
};

using Verdict =
    std::variant<JumpVerdict, ReturnVerdict, AcceptVerdict, DropVerdict,
                 RedirectVerdict, TproxyVerdict, SetMarkVerdict,
                 SaveConnmarkVerdict, RestoreConnmarkVerdict,
                 SetConnmarkVerdict, CtZoneVerdict>;

// --- Rules, tables, the set --------------------------------------------------

struct Rule {
  Scope scope = Scope::kBoth;
  // In the order the kernel evaluates them (the dialect's order).
  std::vector<Match> matches;
  Verdict verdict;
  // nftables: a counter before the verdict (Istio counts every sidecar
  // rule, and every ambient rule but the jumps from base chains).
  bool counter = true;
};

struct ChainSpec {
  // The dialect's name: "PREROUTING", "ISTIO_OUTPUT"; "prerouting",
  // "istio-output".
  std::string name;
  // Set for base chains (iptables: the built-in chains).
  std::optional<Hook> hook;
  ChainType type = ChainType::kFilter;
  int priority = 0;

  bool is_base() const { return hook.has_value(); }
};

struct RuleEntry {
  std::string chain;
  // 0: append. N >= 1: insert so that the rule becomes the N-th of the chain
  // (iptables `-I chain N`, nftables `insert ... index N-1`); an index past
  // the end appends, as both of Istio's backends end up doing.
  int position = 0;
  Rule rule;
};

// A named set of a table (CompactLists): what a set lookup matches. The
// nftables backend makes an interval set of addresses (ipv4_addr,
// ipv6_addr) or a set of ports (inet_service).
struct NamedSet {
  enum class Key : uint8_t { kIpv4, kIpv6, kPort };
  std::string name;
  Key key = Key::kIpv4;
  // kIpv4, kIpv6: disjoint prefixes, sorted by address (MergePrefixes).
  std::vector<Cidr> cidrs;
  // kPort: sorted, unique.
  std::vector<uint16_t> ports;

  friend bool operator==(const NamedSet& a, const NamedSet& b) {
    return a.name == b.name && a.key == b.key && a.cidrs == b.cidrs &&
           a.ports == b.ports;
  }
};

// `cidrs` (one family) as an interval set can hold them: sorted by address,
// each prefix inside another dropped. Prefixes are nested or disjoint, so
// the result matches exactly the addresses the list matches.
std::vector<Cidr> MergePrefixes(std::vector<Cidr> cidrs);

// Whether `set` holds the address of `addr` (a host prefix of the set's
// family) or `port`.
bool SetHoldsAddress(const NamedSet& set, const Cidr& addr);
bool SetHoldsPort(const NamedSet& set, uint16_t port);

struct Table {
  TableKind kind = TableKind::kNat;
  // The dialect's name: "nat"; "istio-proxy-nat", "istio-ambient-nat".
  std::string name;
  // Chains that hold at least one rule, in declaration order.
  std::vector<ChainSpec> chains;
  std::vector<RuleEntry> entries;
  // Named sets the rules look up (CompactLists), in declaration order.
  std::vector<NamedSet> sets;

  const ChainSpec* FindChain(const std::string& chain) const;
  const NamedSet* FindSet(const std::string& set) const;
};

// Packets whose mark matches `mark/mask` are looked up in `table`, which
// delivers everything locally (`ip rule add fwmark M/MASK [pref P] lookup
// T`, `ip route add local default dev lo table T`), for IPv4 and, when the
// set is IPv6, for IPv6 too.
struct PolicyRouting {
  uint32_t mark = 0;
  uint32_t mask = kAllBits;
  uint32_t table = 0;
  uint32_t priority = 0;  // 0: the kernel picks one

  friend bool operator==(const PolicyRouting& a, const PolicyRouting& b) {
    return a.mark == b.mark && a.mask == b.mask && a.table == b.table &&
           a.priority == b.priority;
  }
  friend bool operator!=(const PolicyRouting& a, const PolicyRouting& b) {
    return !(a == b);
  }
};

struct RuleSet {
  Dialect dialect = Dialect::kNftables;
  Profile profile = Profile::kSidecar;
  // Whether the IPv6 family is in use; IPv6-scoped rules exist only if so.
  bool ipv6 = false;
  // Tables that hold at least one rule.
  std::vector<Table> tables;
  // TPROXY (sidecar, inbound capture on) or ambient's connmark routing.
  std::optional<PolicyRouting> routing;
  // `::6/128` on lo, the sidecar's inbound passthrough source for IPv6.
  bool loopback6 = false;
  // What the rule set was compiled from (the dialect and the policy's
  // JSON): rule sets with equal fingerprints are equal. Backends use it to
  // recognise a policy they applied before without lowering it again.
  std::string fingerprint;

  const Table* FindTable(TableKind kind) const;
};

// The rules of `chain` in `table` for `family` (iptables: one table per
// family) or for both (nftables: inet tables), in their final order: the
// entries replayed one by one, inserts landing where both of Istio's
// backends put them.
std::vector<const Rule*> ResolveChain(const Table& table,
                                      const std::string& chain,
                                      std::optional<IpFamily> family);

}  // namespace meshcap::ir

#endif  // MESHCAP_SRC_IR_RULE_SET_H_
