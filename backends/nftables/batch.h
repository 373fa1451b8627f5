// SPDX-License-Identifier: GPL-2.0-or-later
// One nftables transaction as a netlink batch, and what each of its
// messages is about (to explain the kernel's answer).

#ifndef MESHCAP_BACKENDS_NFTABLES_BATCH_H_
#define MESHCAP_BACKENDS_NFTABLES_BATCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/nftables/compare.h"
#include "backends/nftables/lower.h"
#include "src/netlink/netlink.h"

namespace meshcap::nft {

struct MessageInfo {
  enum class Kind : uint8_t {
    kBegin,
    kDeleteTable,
    kDeleteRule,
    kTable,
    kChain,
    kSet,
    kSetElements,
    kDeleteSetElements,
    kRule,
    kEnd
  };
  Kind kind;
  uint32_t seq = 0;
  std::string table;
  std::string set;  // kSet, kSetElements, kDeleteSetElements: its name
  const LoweredChain* chain = nullptr;
  const LoweredRule* rule = nullptr;
  // For rules: [begin, end) of each expression's attribute, as offsets from
  // the start of the message.
  std::vector<std::pair<uint32_t, uint32_t>> expr_spans;
};

// What one transaction does to our tables.
struct BatchPlan {
  // Tables of ours that exist and go (replaced or no longer wanted).
  std::vector<std::string> remove;
  // Tables to create, in this order.
  std::vector<const LoweredTable*> create;
  // Chains of existing tables edited in place: rules deleted by handle,
  // wanted ones (with their anonymous sets) inserted where they belong.
  struct ChainUpdate {
    const LoweredTable* table;
    ChainEdit edit;
  };
  std::vector<ChainUpdate> update;
  // Named sets of existing tables whose elements change (sent before the
  // chain updates, deletions first).
  struct SetUpdate {
    const LoweredTable* table;
    SetEdit edit;
    std::vector<NftnlPtr<nftnl_set>> remove;
    std::vector<NftnlPtr<nftnl_set>> add;
  };
  std::vector<SetUpdate> sets;
  // NFNL_BATCH_GENID: the kernel refuses the batch (ERESTART) unless the
  // ruleset generation is still this one.
  std::optional<uint32_t> generation;

  bool empty() const {
    return remove.empty() && create.empty() && update.empty() && sets.empty();
  }
};

// The update of `table`'s named set that `edit` describes, its element
// messages built.
BatchPlan::SetUpdate MakeSetUpdate(const LoweredTable& table, SetEdit edit);

struct Batch {
  internal::NetlinkBatch bytes;
  std::vector<MessageInfo> messages;

  const MessageInfo* FindSeq(uint32_t seq) const;
};

// The batch for `plan`, its messages numbered from `first_seq`. A table in
// `remove` is added, then deleted: the add is a no-op on a table that
// exists, and keeps the delete from failing if somebody removed the table
// in the meantime. A table nobody has is never named.
Batch BuildBatch(const BatchPlan& plan, uint32_t first_seq);

// How many messages BuildBatch makes for `plan` (to reserve sequence
// numbers before building).
uint32_t CountMessages(const BatchPlan& plan);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_BATCH_H_
