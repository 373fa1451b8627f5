// SPDX-License-Identifier: GPL-2.0-or-later
// Reading the ip and ip6 tables back over netlink, and which of their
// chains and rules are ours (or Istio's): the ISTIO_* chains, and in
// built-in chains the rules meshcap tagged, the jumps into ISTIO_* chains
// and, where the table holds Istio's chains, Istio's other built-in rules
// (ipt::IsIstioBuiltinRule).

#ifndef MESHCAP_BACKENDS_IPTABLES_NFT_READ_H_
#define MESHCAP_BACKENDS_IPTABLES_NFT_READ_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/nftnl/nftnl.h"
#include "src/ir/rule_set.h"
#include "src/netlink/netlink.h"

namespace meshcap::iptnft {

struct KChain {
  std::string name;
  uint64_t handle = 0;
  bool base = false;
  uint32_t hook = 0;
  int32_t priority = 0;
  std::string type;
  uint32_t policy = 1;                        // NF_ACCEPT
  std::vector<nftnl::Ptr<nftnl_rule>> rules;  // in kernel order
};

struct KTable {
  IpFamily family = IpFamily::kIpv4;
  std::string name;
  std::vector<KChain> chains;  // in kernel (creation) order

  const KChain* Find(const std::string& chain) const;
  // "ip nat".
  std::string Where() const;
  // Holds one of Istio's chains.
  bool HasIstioChain() const;
  // The chain is iptables-nft's built-in chain of this table (its name,
  // hook, priority and type).
  bool IsBuiltin(const KChain& c) const;
  // Whether `rule` of chain `c` is ours (or Istio's).
  bool IsOurs(const KChain& c, const nftnl_rule* rule) const;
  // Every chain and rule is ours, or an empty built-in chain.
  bool WhollyOurs() const;
  // Anything of ours at all.
  bool HoldsOurs() const;
};

struct KState {
  std::vector<KTable> tables;  // ip and ip6 tables read

  const KTable* Find(IpFamily f, const std::string& name) const;
};

// Which rules ReadTables reads.
enum class ReadRules : uint8_t {
  kNone,
  // Those of the chains ours can be in (ISTIO_* chains and built-in
  // chains), one dump per chain, filtered by the kernel: the rules of
  // others' chains (kube-proxy's thousands) cost nothing.
  kOurChains,
  kAll,  // every rule, in one dump
};

// The ip and ip6 tables whose names pass `want` (default: nat, mangle,
// raw), with their chains and the rules `rules` says. A dump that races
// with a commit is retried by the caller on kAborted.
[[nodiscard]] absl::StatusOr<KState> ReadTables(
    internal::NetlinkTransport& nl, ReadRules rules = ReadRules::kOurChains,
    const std::function<bool(const std::string&)>& want = {});

}  // namespace meshcap::iptnft

#endif  // MESHCAP_BACKENDS_IPTABLES_NFT_READ_H_
