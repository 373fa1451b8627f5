// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: rule_set.h
// -----------------------------------------------------------------------------
//
// This header defines `meshcap::RuleSet`, the backend-neutral rules that
// `Compile()` makes from a `CapturePolicy`. Backends and renderers lower a
// RuleSet; none of them reads the policy again, so every decision about what
// to capture lives in the compiler.
//
// A RuleSet is a list of tables (nat, mangle, raw). Each table declares its
// chains (base chains with hook, priority and type; regular chains) and holds
// an ordered list of rule entries. An entry either appends a rule to a chain
// or inserts it at a 1-based position, in the order Istio emits them; the
// final order of a chain is what replaying the entries in order gives
// (`ResolveChain`). Every rule has a scope: IPv4, IPv6 or both.
//
// A rule is a list of typed matches and one verdict. The matches are kept in
// the order Istio's nftables backend writes them, which is also the order of
// the nftables expressions; `iptables_order` records how Istio's iptables
// backend spells the same rule where that differs.

#ifndef MESHCAP_RULE_SET_H_
#define MESHCAP_RULE_SET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "meshcap/export.h"
#include "meshcap/net.h"

namespace meshcap {

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
enum class Direction : uint8_t { kSource, kDestination };

// "nat", "mangle", "raw".
MESHCAP_EXPORT const char* TableName(TableKind t);
// The inet table Istio's nftables backend uses: "istio-proxy-nat", ...
MESHCAP_EXPORT std::string NftablesTableName(TableKind t);
// A chain's nftables name: "ISTIO_IN_REDIRECT" -> "istio-in-redirect".
MESHCAP_EXPORT std::string NftablesChainName(const std::string& name);

struct ChainSpec {
  // Istio's iptables name: "PREROUTING", "ISTIO_OUTPUT". nftables uses the
  // same name in lower case with '-' for '_'.
  std::string name;
  // Set for base chains.
  std::optional<Hook> hook;
  ChainType type = ChainType::kFilter;
  int priority = 0;

  bool is_base() const { return hook.has_value(); }
};

// --- Matches -----------------------------------------------------------------

// `-i X` / `iifname X` (kSource: input), `-o X` / `oifname X`.
struct InterfaceMatch {
  Direction dir = Direction::kSource;  // kSource: input; kDestination: output
  std::string name;
};

// `-s C`, `! -d C` / `ip saddr C`, `ip6 daddr != C`.
struct AddressMatch {
  Direction dir = Direction::kDestination;
  Cidr cidr;
  bool negate = false;
};

// `-p tcp` / `meta l4proto tcp`.
struct ProtocolMatch {
  L4Proto proto = L4Proto::kTcp;
};

// `--dport P`, `-m multiport ! --dports a,b` / `tcp dport != { a, b }`.
struct PortMatch {
  L4Proto proto = L4Proto::kTcp;
  Direction dir = Direction::kDestination;
  std::vector<uint16_t> ports;  // one or more
  bool negate = false;
};

// `-m owner --uid-owner U` / `skuid U`.
struct OwnerMatch {
  enum Kind : uint8_t { kUid, kGid } kind = kUid;
  uint32_t id = 0;
  std::string spelling;  // as the user wrote it ("java" or "202")
  bool negate = false;
  bool nft_meta_keyword = false;  // spelled `meta skuid` (Istio's raw table)
};

// `-m mark --mark M` / `mark M`.
struct MarkMatch {
  uint32_t mark = 0;
  bool negate = false;
};

// `-m connmark --mark M` / `ct mark M`.
struct ConnmarkMatch {
  uint32_t mark = 0;
};

enum class CtState : uint8_t { kInvalid, kEstablished, kRelated, kNew };

// `-m conntrack --ctstate RELATED,ESTABLISHED` / `ct state
// related,established`.
struct CtStateMatch {
  std::vector<CtState> states;  // in spelling order
};

using Match =
    std::variant<InterfaceMatch, AddressMatch, ProtocolMatch, PortMatch,
                 OwnerMatch, MarkMatch, ConnmarkMatch, CtStateMatch>;

// --- Verdicts ----------------------------------------------------------------

struct JumpVerdict {
  std::string chain;
};
struct ReturnVerdict {};
struct AcceptVerdict {};
struct DropVerdict {};
// `-j REDIRECT --to-ports P` / `redirect to :P`.
struct RedirectVerdict {
  uint16_t port;
  bool iptables_singular = false;  // Istio spells `--to-port` for UDP DNS
};
// `-j TPROXY --tproxy-mark M/MASK --on-port P` /
// `tproxy ip to :P meta mark set M accept`. The family is the rule's scope.
struct TproxyVerdict {
  uint16_t port;
  uint32_t mark;
  uint32_t mask;
};
// `-j MARK --set-mark M` / `meta mark set M`.
struct SetMarkVerdict {
  uint32_t mark;
};
// `-j CONNMARK --save-mark` / `ct mark set mark`.
struct ConnmarkSaveVerdict {};
// `-j CONNMARK --restore-mark` / `meta mark set ct mark`.
struct ConnmarkRestoreVerdict {};
// `-j CT --zone Z` / `ct zone set Z`.
struct CtZoneVerdict {
  uint16_t zone;
};

using Verdict =
    std::variant<JumpVerdict, ReturnVerdict, AcceptVerdict, DropVerdict,
                 RedirectVerdict, TproxyVerdict, SetMarkVerdict,
                 ConnmarkSaveVerdict, ConnmarkRestoreVerdict, CtZoneVerdict>;

// --- Rules, tables, the set --------------------------------------------------

struct Rule {
  Scope scope = Scope::kBoth;
  std::vector<Match> matches;  // nftables order
  Verdict verdict;
  // Indices into `matches` in Istio's iptables spelling order. Empty: the
  // same order as `matches`. A match left out does not exist in the iptables
  // dialect (Istio's nftables backend adds `meta l4proto tcp` to drop-invalid).
  std::vector<uint8_t> iptables_order;
};

struct RuleEntry {
  std::string chain;
  // 0: append. N >= 1: insert so that the rule becomes the N-th of the chain
  // (iptables `-I chain N`, nftables `insert ... index N-1`).
  int position = 0;
  Rule rule;
};

struct MESHCAP_EXPORT Table {
  TableKind kind;
  // Chains that hold at least one rule, base chains first, in the order the
  // nftables transaction declares them.
  std::vector<ChainSpec> chains;
  std::vector<RuleEntry> entries;

  const ChainSpec* FindChain(const std::string& name) const;
};

// What TPROXY needs besides firewall rules: packets carrying `mark` are
// looked up in `table`, which delivers everything locally
// (`ip rule add fwmark M lookup T`, `ip route add local default dev lo
// table T`), for IPv4 and, when the set is IPv6, for IPv6 too.
struct PolicyRouting {
  uint32_t mark = 1337;
  uint32_t table = 133;

  friend bool operator==(const PolicyRouting& a, const PolicyRouting& b) {
    return a.mark == b.mark && a.table == b.table;
  }
  friend bool operator!=(const PolicyRouting& a, const PolicyRouting& b) {
    return !(a == b);
  }
};

struct MESHCAP_EXPORT RuleSet {
  // Whether the IPv6 family is in use. IPv6-scoped rules exist only if so.
  // It also means `::6/128` on lo, the proxy's inbound source address.
  bool ipv6 = false;
  // Tables that hold at least one rule, in the order nat, mangle, raw.
  std::vector<Table> tables;
  // Set in TPROXY mode with inbound capture on.
  std::optional<PolicyRouting> routing;

  const Table* FindTable(TableKind kind) const;
};

// The rules of `chain` in `table` for `family`, in their final order: the
// entries replayed one by one, inserts landing where iptables would put them.
MESHCAP_EXPORT std::vector<const Rule*> ResolveChain(const Table& table,
                                                     const std::string& chain,
                                                     IpFamily family);

}  // namespace meshcap

#endif  // MESHCAP_RULE_SET_H_
