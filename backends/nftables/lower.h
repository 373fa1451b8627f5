// SPDX-License-Identifier: GPL-2.0-or-later
// Lowering an nftables-dialect RuleSet to libnftnl objects: tables, chains,
// anonymous port sets and rules whose expressions are exactly those `nft`
// emits for Istio's `nft -f` text (expr/*.cc), so that the kernel ends up
// holding the same bytecode.

#ifndef MESHCAP_BACKENDS_NFTABLES_LOWER_H_
#define MESHCAP_BACKENDS_NFTABLES_LOWER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/nftables/expr/codec.h"
#include "src/ir/rule_set.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;

namespace meshcap::nft {

template <typename T>
using NftnlPtr = nftnl::Ptr<T>;

// Every inet table that is ours, whatever the profile: a policy replaces
// whichever of them exist.
const std::vector<std::string>& OurTableNames();

struct LoweredSet {
  uint32_t id = 0;  // NFTA_SET_ID, unique within a batch
  // The keys as the kernel stores them (big-endian ports), sorted.
  std::vector<std::string> keys;
  NftnlPtr<nftnl_set> set;  // with its elements
};

// A named set (CompactLists): its declaration and its elements (their
// messages are made only when the set is created: an apply that edits a
// set sends only what changed).
struct LoweredNamedSet {
  const ir::NamedSet* spec = nullptr;
  NftnlPtr<nftnl_set> set;  // the declaration, without elements
  // One canonical key per element (CanonicalElements), sorted.
  std::vector<std::string> elements;
};

// Kernel elements per NEWSETELEM / DELSETELEM message: a message must fit
// in NetlinkBatch::kMaxMessage (64 KiB); an IPv6 interval element takes
// about 60 bytes.
inline constexpr size_t kElementsPerMessage = 512;

// A named set's elements as this backend compares them: a port (2 bytes,
// network order), or an interval's first and last address (8 or 32 bytes).
// Sorted.
std::vector<std::string> CanonicalElements(const ir::NamedSet& set);

// The same from the elements the kernel holds (key, whether it ends an
// interval) of a set whose keys are `key_len` bytes; `interval`: the set
// has NFT_SET_INTERVAL. The leading "everything below is out" element nft
// writes is no interval of its own.
std::vector<std::string> CanonicalFromKernel(
    std::vector<std::pair<std::string, bool>> elements, bool interval,
    uint32_t key_len);

// The nftnl_set objects (table, name, family and up to kElementsPerMessage
// elements each) that add or delete the canonical elements `keys` of
// `set`: each interval as its start and, unless it runs to the end of the
// address space, the end element after it; nft's leading element when
// `leading` (a set's first filling).
std::vector<NftnlPtr<nftnl_set>> ElementMessages(
    const std::string& table, const ir::NamedSet& set,
    const std::vector<std::string>& keys, bool leading);

// A canonical element as nft prints it: "443", "10.0.0.0/8",
// "10.0.0.1-10.0.0.5".
std::string ElementText(const std::string& canonical);

// A set declaration as nft prints it: "type ipv4_addr; flags interval".
std::string SetTypeText(uint32_t key_type, uint32_t flags);

// How many messages ElementMessages() makes for `keys`.
size_t CountElementMessages(const ir::NamedSet& set,
                            const std::vector<std::string>& keys, bool leading);

struct LoweredRule {
  std::string chain;
  int position = 0;  // 1-based within the chain
  const ir::Rule* source = nullptr;
  SpellContext context;
  NftnlPtr<nftnl_rule> rule;
  // For each expression of `rule`, the index of the match of `source` it
  // came from, or kOriginCounter / kOriginVerdict.
  std::vector<int16_t> expr_origins;
  std::vector<size_t> sets;  // indices into LoweredTable::sets
};

struct LoweredChain {
  const ir::ChainSpec* spec = nullptr;
  NftnlPtr<nftnl_chain> chain;
};

struct LoweredTable {
  const ir::Table* source = nullptr;
  Profile profile = Profile::kSidecar;
  NftnlPtr<nftnl_table> table;
  std::vector<LoweredChain> chains;
  std::vector<LoweredSet> sets;
  std::vector<LoweredNamedSet> named_sets;  // in declaration order
  std::vector<LoweredRule> rules;  // chain by chain, each in final order

  const LoweredNamedSet* FindNamedSet(const std::string& name) const;

  const std::string& name() const { return source->name; }
};

struct LoweredRuleSet {
  const ir::RuleSet* source = nullptr;
  std::vector<LoweredTable> tables;

  const LoweredTable* Find(const std::string& name) const;
};

// Lowers `rules` (nftables dialect). Fails with kInvalidArgument on IR that
// no kernel could take (a rule in an undeclared chain).
[[nodiscard]] absl::StatusOr<LoweredRuleSet> Lower(const ir::RuleSet& rules);

// Lowers one rule into `out` (whose chain, position, source and context are
// set), registering its port sets in `table`. Exposed for the golden tests.
void LowerRule(LoweredTable& table, LoweredRule& out, uint32_t* next_set_id);

// The text of the IR item expression `expr` of `rule` came from: "ip daddr
// != 127.0.0.1/32", "counter", "jump istio-output".
std::string OriginText(const LoweredRule& rule, size_t expr);

// The rule as Istio's generator writes it, without `add rule ...`.
std::string RuleText(const ir::Rule& rule, const SpellContext& ctx);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_LOWER_H_
