// SPDX-License-Identifier: GPL-2.0-or-later
//
// The iptables-nft writer of the iptables dialect (backends/iptables/
// rule_codec.h): a rule as the nf_tables expressions iptables-nft 1.8.9
// makes of it (nft_ipv4_add / nft_ipv6_add, nft-shared.c), and back.
//
// Expression order is fixed, whatever the order of the rule's text:
//
//   [ meta load iifname => reg 1 ] [ cmp eq|neq reg 1 "eth0\0" ]   -i
//   [ meta load oifname => reg 1 ] [ cmp ... ]                     -o
//   [ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x06 ]           -p
//   [ payload load N @ network + 12|8 => reg 1 ] [ bitwise ] [ cmp ]  -s
//   [ payload load N @ network + 16|24 => reg 1 ] ...               -d
//   then the matches in order: a tcp or udp port as
//     [ payload load 2b @ transport + 2|0 => reg 1 ] [ cmp ... ],
//   the mark match as [ meta load mark ] [ bitwise ] [ cmp ], every other
//   match as nft_compat [ match name X rev N ] with its xtables data
//   (XT_ALIGN'ed);
//   [ counter ]
//   then the target: [ immediate reg 0 accept|drop|return|jump C ] or
//   nft_compat [ target name X rev N ].
//
// An address prefix on a byte boundary loads only its bytes (/8: one byte)
// and needs no bitwise. Every rule carries NFTA_RULE_COMPAT with the `-p`
// protocol (0 without one), which the kernel's checks of xtables matches
// and targets see as the rule's protocol.
//
// meshcap marks the rules it puts in built-in chains with a private
// user-data item (kTagUdataType): iptables-nft-save, nft and the kernel
// ignore it; it tells meshcap's rules from others'.

#ifndef MESHCAP_BACKENDS_IPTABLES_NFT_XT_RULE_H_
#define MESHCAP_BACKENDS_IPTABLES_NFT_XT_RULE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/iptables/rule_codec.h"
#include "backends/nftnl/nftnl.h"

namespace meshcap::iptnft {

// The user-data item type of meshcap's tag (libnftnl knows 0 and 1).
inline constexpr uint8_t kTagUdataType = 109;

class NftRuleWriter final : public ipt::RuleWriter {
 public:
  explicit NftRuleWriter(IpFamily family) : family_(family) {}

  IpFamily family() const override { return family_; }
  void SetInterface(ir::Direction dir, const std::string& name,
                    bool negate) override;
  void SetAddress(ir::Direction dir, const Cidr& cidr, bool negate) override;
  void SetProtocol(ir::L4Proto p) override;
  bool protocol_set() const override { return proto_.has_value(); }
  using RuleWriter::Match;
  using RuleWriter::Target;
  void Match(const char* name, uint8_t revision, const void* data,
             size_t size) override;
  void Target(const char* name, uint8_t revision, const void* data,
              size_t size) override;
  void Standard(const std::string& name) override;

  // The rule's expressions and NFTA_RULE_COMPAT, in `rule` (fresh, with no
  // expressions). With `tag`, meshcap's user-data tag too.
  void Finish(nftnl_rule* rule, bool tag);

 private:
  struct Iface {
    std::string name;
    bool negate = false;
  };
  struct Addr {
    Cidr cidr;
    bool negate = false;
  };
  struct Ext {
    std::string name;
    uint8_t revision;
    std::vector<uint8_t> data;
  };

  IpFamily family_;
  std::optional<Iface> iif_, oif_;
  std::optional<ir::L4Proto> proto_;
  std::optional<Addr> saddr_, daddr_;
  std::vector<Ext> matches_;
  std::optional<Ext> target_;
  std::string standard_;
};

// The expressions of a rule read back from the kernel, as the dialect's
// decoders read a rule (the native expressions iptables-nft makes are read
// back into the xtables data they stand for).
class NftRuleReader final : public ipt::RuleReader {
 public:
  NftRuleReader(IpFamily family, const nftnl_rule* rule);

  IpFamily family() const override { return family_; }
  bool TakeInterface(ir::Direction* dir, std::string* name,
                     bool* negate) override;
  bool TakeAddress(ir::Direction* dir, Cidr* cidr, bool* negate) override;
  bool TakeProtocol(ir::L4Proto* proto) override;
  std::optional<ir::L4Proto> protocol() const override { return proto_; }
  const void* PeekMatch(const char* name, uint8_t revision,
                        size_t* size) const override;
  void NextMatch() override { ++match_; }
  bool matches_done() const override { return match_ >= matches_.size(); }
  bool header_done() const override;
  bool unusual() const override { return unusual_; }
  const char* standard() const override {
    return standard_.empty() ? nullptr : standard_.c_str();
  }
  const void* Target(const char* name, uint8_t revision,
                     size_t* size) const override;

  // The jump's chain, when the target is one.
  const std::string& jump() const { return jump_; }

 private:
  struct Iface {
    ir::Direction dir;
    std::string name;
    bool negate;
  };
  struct Addr {
    ir::Direction dir;
    Cidr cidr;
    bool negate;
  };
  struct Ext {
    std::string name;
    uint8_t revision;
    std::vector<uint8_t> data;
  };

  IpFamily family_;
  std::vector<Iface> ifaces_;
  std::vector<Addr> addrs_;
  std::optional<ir::L4Proto> proto_;
  bool proto_taken_ = false;
  std::vector<Ext> matches_;
  size_t match_ = 0;
  std::optional<Ext> target_;
  std::string standard_;
  std::string jump_;
  bool unusual_ = false;
  // The last match is a source port that a destination port may join.
  bool merge_ports_ = false;
};

// Whether `rule` carries meshcap's tag.
bool HasTag(const nftnl_rule* rule);

// The expressions of `rule`, in order.
std::vector<const nftnl_expr*> Expressions(const nftnl_rule* rule);

// Whether two rules hold the same expressions (counter values aside).
bool SameExpressions(const nftnl_rule* a, const nftnl_rule* b);

// One line per expression with every attribute that is set and not all
// zero, by number, in hex ("[ payload 1=01 2=01 3=10 4=04 ]"; a counter is
// "[ counter ]"): a rule built here and the kernel's dump of the same rule
// give the same text, whatever defaults either side leaves implicit. For
// golden files and kernel comparisons.
std::string ExprKey(const nftnl_rule* rule);

// One line per expression, as `nft --debug=netlink` prints them, with the
// data of nft_compat matches and targets in hex: for golden tests and
// messages.
std::string ExprListText(const nftnl_rule* rule);

}  // namespace meshcap::iptnft

#endif  // MESHCAP_BACKENDS_IPTABLES_NFT_XT_RULE_H_
