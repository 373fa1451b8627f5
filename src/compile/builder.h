// SPDX-License-Identifier: GPL-2.0-or-later
// Shared by the profile compilers: a fluent rule builder and the emitter
// that collects rules per table and names tables and chains per dialect.

#ifndef MESHCAP_SRC_COMPILE_BUILDER_H_
#define MESHCAP_SRC_COMPILE_BUILDER_H_

#include <array>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "src/ir/rule_set.h"

namespace meshcap::internal {

constexpr ir::L4Proto kTcp = ir::L4Proto::kTcp;
constexpr ir::L4Proto kUdp = ir::L4Proto::kUdp;
constexpr ir::TableKind kNat = ir::TableKind::kNat;
constexpr ir::TableKind kMangle = ir::TableKind::kMangle;
constexpr ir::TableKind kRaw = ir::TableKind::kRaw;

// A host prefix spelled as Istio spells constants: "127.0.0.6/32".
Cidr ConstCidr(const char* text);

// Fluent construction of one Rule; matches are kept in call order, which
// is the order the kernel evaluates them.
class RuleBuilder {
 public:
  explicit RuleBuilder(ir::Scope scope = ir::Scope::kBoth) {
    rule_.scope = scope;
  }

  RuleBuilder& Iif(const std::string& name, bool negate = false) {
    return Add(ir::InterfaceMatch{ir::Direction::kSource, name, negate});
  }
  RuleBuilder& Oif(const std::string& name, bool negate = false) {
    return Add(ir::InterfaceMatch{ir::Direction::kDestination, name, negate});
  }
  RuleBuilder& Src(const Cidr& c, bool negate = false) {
    return Add(ir::AddressMatch{ir::Direction::kSource, c, negate, {}});
  }
  RuleBuilder& Dst(const Cidr& c, bool negate = false) {
    return Add(ir::AddressMatch{ir::Direction::kDestination, c, negate, {}});
  }
  // In the table's named set `set`, of the family of `family` (CompactLists).
  RuleBuilder& SrcSet(const std::string& set, const Cidr& family) {
    return Add(ir::AddressMatch{ir::Direction::kSource, family, false, set});
  }
  RuleBuilder& DstSet(const std::string& set, const Cidr& family) {
    return Add(
        ir::AddressMatch{ir::Direction::kDestination, family, false, set});
  }
  RuleBuilder& Proto(ir::L4Proto p) { return Add(ir::ProtocolMatch{p}); }
  RuleBuilder& Dport(ir::L4Proto p, std::vector<uint16_t> ports,
                     bool negate = false) {
    return Add(ir::PortMatch{
        p, ir::Direction::kDestination, std::move(ports), negate, {}});
  }
  // In the table's named set of ports `set` (CompactLists).
  RuleBuilder& DportSet(ir::L4Proto p, const std::string& set) {
    return Add(ir::PortMatch{p, ir::Direction::kDestination, {}, false, set});
  }
  RuleBuilder& SportSet(ir::L4Proto p, const std::string& set) {
    return Add(ir::PortMatch{p, ir::Direction::kSource, {}, false, set});
  }
  RuleBuilder& Sport(ir::L4Proto p, std::vector<uint16_t> ports,
                     bool negate = false) {
    return Add(
        ir::PortMatch{p, ir::Direction::kSource, std::move(ports), negate, {}});
  }
  // The protocol's port match with no constraint (iptables `-m tcp`).
  RuleBuilder& PortModule(ir::L4Proto p) {
    return Add(ir::PortMatch{p, ir::Direction::kDestination, {}, false, {}});
  }
  RuleBuilder& Uid(uint32_t id, bool negate = false) {
    return Add(ir::OwnerMatch{ir::OwnerMatch::kUid, id, "", negate});
  }
  RuleBuilder& Gid(uint32_t id, bool negate = false) {
    return Add(ir::OwnerMatch{ir::OwnerMatch::kGid, id, "", negate});
  }
  RuleBuilder& Group(const OwnerGroup& g, bool negate = false) {
    return Add(ir::OwnerMatch{ir::OwnerMatch::kGid, g.gid, g.spelling, negate});
  }
  RuleBuilder& Mark(uint32_t value, uint32_t mask = ir::kAllBits,
                    bool negate = false) {
    return Add(ir::MarkMatch{value, mask, negate});
  }
  RuleBuilder& Connmark(uint32_t value, uint32_t mask = ir::kAllBits) {
    return Add(ir::ConnmarkMatch{value, mask, false});
  }
  RuleBuilder& Ct(std::vector<ir::CtState> states) {
    return Add(ir::CtStateMatch{std::move(states)});
  }
  // Runs `f(*this)` when `cond`: for matches only one dialect has.
  template <typename F>
  RuleBuilder& When(bool cond, F f) {
    if (cond) f(*this);
    return *this;
  }
  RuleBuilder& NoCounter() {
    rule_.counter = false;
    return *this;
  }
  ir::Rule Then(ir::Verdict v) {
    rule_.verdict = std::move(v);
    return std::move(rule_);
  }

 private:
  RuleBuilder& Add(ir::Match m) {
    rule_.matches.push_back(std::move(m));
    return *this;
  }
  ir::Rule rule_;
};

inline ir::Verdict Jump(const char* chain) { return ir::JumpVerdict{chain}; }
inline ir::Verdict Return() { return ir::ReturnVerdict{}; }
inline ir::Verdict Accept() { return ir::AcceptVerdict{}; }

// How a profile names its tables and chains in a dialect.
struct Naming {
  // nftables table name for a table kind ("istio-proxy-nat").
  std::function<std::string(ir::TableKind)> nft_table;
  // nftables chain name for an iptables-style one ("ISTIO_OUTPUT" ->
  // "istio-output").
  std::function<std::string(const std::string&)> nft_chain;
  // Chains a table may declare, in declaration order (iptables names).
  std::function<std::vector<ir::ChainSpec>(ir::TableKind)> chains;
};

// Collects entries per table (chain names in iptables style), dropping
// IPv6-only rules when IPv6 is off, and names everything for the dialect
// at the end.
class Emitter {
 public:
  Emitter(ir::Dialect dialect, bool ipv6) : dialect_(dialect), ipv6_(ipv6) {}

  void Append(ir::TableKind t, const char* chain, ir::Rule r) {
    Add(t, chain, 0, std::move(r));
  }
  void Insert(ir::TableKind t, const char* chain, int pos, ir::Rule r) {
    Add(t, chain, pos, std::move(r));
  }

  // Declares the named set `set` in table `t` once (the first declaration
  // of a name wins); returns its name.
  const std::string& DeclareSet(ir::TableKind t, ir::NamedSet set);

  // Tables in `order` that hold a rule; each declares the chains that hold
  // a rule or are jumped to, in the naming's declaration order.
  ir::RuleSet Finish(Profile profile, const Naming& naming,
                     const std::vector<ir::TableKind>& order) &&;

 private:
  void Add(ir::TableKind t, const char* chain, int pos, ir::Rule r) {
    if (r.scope == ir::Scope::kIpv6 && !ipv6_) return;
    entries_[static_cast<size_t>(t)].push_back(
        ir::RuleEntry{chain, pos, std::move(r)});
  }

  ir::Dialect dialect_;
  bool ipv6_;
  std::array<std::vector<ir::RuleEntry>, 3> entries_;
  std::array<std::vector<ir::NamedSet>, 3> sets_;
};

// `ip`/`ip6` rules come in pairs; calls `f(scope, is_v6)` for IPv4, then
// for IPv6 when `ipv6`.
template <typename F>
void PerFamily(bool ipv6, F f) {
  f(ir::Scope::kIpv4, false);
  if (ipv6) f(ir::Scope::kIpv6, true);
}

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_COMPILE_BUILDER_H_
