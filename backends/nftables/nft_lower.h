// SPDX-License-Identifier: GPL-2.0-or-later
// Lowering a RuleSet to libnftnl objects, and the netlink batches that
// install or remove them.
//
// The expressions are those `nft` itself emits for Istio's `nft -f` text, so
// the kernel ends up holding the same bytecode: `ip daddr` in an inet table
// carries a `meta nfproto` check, `tcp dport` a `meta l4proto` check unless
// the rule already has one, a prefix on a byte boundary loads only its bytes
// and any other prefix loads the address and masks it, several ports become
// an anonymous constant set, and every rule counts before its verdict.

#ifndef MESHCAP_BACKENDS_NFTABLES_NFT_LOWER_H_
#define MESHCAP_BACKENDS_NFTABLES_NFT_LOWER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "meshcap/rule_set.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;

namespace meshcap::nft {

struct NftnlDeleter {
  void operator()(nftnl_table* p) const;
  void operator()(nftnl_chain* p) const;
  void operator()(nftnl_rule* p) const;
  void operator()(nftnl_set* p) const;
};
template <typename T>
using NftnlPtr = std::unique_ptr<T, NftnlDeleter>;

// The three inet tables Istio's nftables backend owns, in its order.
inline constexpr TableKind kOurTables[] = {TableKind::kNat, TableKind::kMangle,
                                           TableKind::kRaw};

struct LoweredSet {
  uint32_t id = 0;  // NFTA_SET_ID, unique within a batch
  std::vector<uint16_t> ports;
  NftnlPtr<nftnl_set> set;  // with its elements
};

inline constexpr int16_t kOriginCounter = -1;
inline constexpr int16_t kOriginVerdict = -2;

struct LoweredRule {
  std::string chain;   // nftables chain name
  int position = 0;    // 1-based within the chain
  const Rule* source;  // the IR rule
  NftnlPtr<nftnl_rule> rule;
  // For each expression of `rule`, where it came from: the index of a match
  // of `source`, or kOriginCounter / kOriginVerdict. The text is rendered
  // only when an error needs it (OriginText), not on every apply.
  std::vector<int16_t> expr_origins;
  std::optional<size_t> set;  // index into LoweredTable::sets
};

struct LoweredChain {
  const ChainSpec* spec;
  std::string name;  // nftables chain name
  NftnlPtr<nftnl_chain> chain;
};

struct LoweredTable {
  TableKind kind;
  std::string name;  // "istio-proxy-nat"
  NftnlPtr<nftnl_table> table;
  std::vector<LoweredChain> chains;
  std::vector<LoweredSet> sets;
  std::vector<LoweredRule> rules;  // chain by chain, each in final order
};

struct LoweredRuleSet {
  std::vector<LoweredTable> tables;
};

// The nft text expression `expr` of `rule` lowers: "ip daddr !=
// 127.0.0.1/32", "counter", "jump istio-output".
std::string OriginText(const LoweredRule& rule, size_t expr);

// Lowers `rules`. Fails with kInvalidArgument on IR that no kernel could
// take (an interface name longer than 15 bytes, a rule in an undeclared
// chain, an empty port list).
absl::StatusOr<LoweredRuleSet> Lower(const RuleSet& rules);

// What one message of a batch is about, to explain the kernel's answer.
struct MessageInfo {
  enum class Kind : uint8_t {
    kBegin,
    kResetTable,
    kTable,
    kChain,
    kSet,
    kSetElements,
    kRule,
    kEnd
  };
  Kind kind;
  uint32_t seq;
  std::string table;
  const LoweredChain* chain = nullptr;
  const LoweredRule* rule = nullptr;
  // For rules: [begin, end) of each expression's attribute, as offsets from
  // the start of the message.
  std::vector<std::pair<uint32_t, uint32_t>> expr_spans;
};

struct Batch {
  std::unique_ptr<char[]> data;
  size_t size = 0;
  size_t capacity = 0;
  std::vector<MessageInfo> messages;

  const MessageInfo* FindSeq(uint32_t seq) const;
};

// One transaction: our three tables reset (created if absent, then
// deleted), then `lowered` created. `generation` adds NFNL_BATCH_GENID to
// the batch begin, so the kernel refuses the batch if the ruleset changed.
Batch BuildApplyBatch(const LoweredRuleSet& lowered, uint32_t first_seq,
                      std::optional<uint32_t> generation);
// One transaction that deletes our three tables, present or not.
Batch BuildRemoveBatch(uint32_t first_seq, std::optional<uint32_t> generation);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_NFT_LOWER_H_
