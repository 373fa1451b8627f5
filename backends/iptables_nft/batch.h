// SPDX-License-Identifier: GPL-2.0-or-later
// What one iptables-nft transaction does to each ip/ip6 table, and that
// transaction as one netlink batch for both families (with what each of its
// messages is about, to explain the kernel's answer).

#ifndef MESHCAP_BACKENDS_IPTABLES_NFT_BATCH_H_
#define MESHCAP_BACKENDS_IPTABLES_NFT_BATCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/iptables_nft/lower.h"
#include "backends/iptables_nft/read.h"
#include "src/netlink/netlink.h"

namespace meshcap::iptnft {

struct TablePlan {
  enum class Action : uint8_t {
    kCreate,  // the table does not exist: create it with ours
    kDelete,  // it holds only ours and none is wanted: delete it
    kEdit,    // change ours in place, rule by rule, beside anybody else's
  };
  Action action = Action::kCreate;
  IpFamily family = IpFamily::kIpv4;
  std::string name;
  const XtTable* want = nullptr;  // null: nothing of ours wanted

  // kEdit, in the order the batch does it: our rules that go (by chain and
  // handle), our chains that go (flushed, then deleted), the chains to
  // create, then the wanted rules the table lacks, each put in its place.
  std::vector<std::pair<std::string, uint64_t>> delete_rules;
  std::vector<std::string> delete_chains;
  std::vector<std::string> new_user_chains;  // `-N` order
  std::vector<std::string> new_base_chains;  // first use
  struct Insert {
    enum class Where : uint8_t {
      kAppend,     // at the end of its chain
      kHead,       // at the head of its chain
      kAfter,      // after the kernel's rule `handle`
      kBefore,     // before the kernel's rule `handle`
      kAfterRule,  // after want->rules[rule_index], added earlier in the batch
    };
    size_t rule = 0;  // want->rules index
    Where where = Where::kAppend;
    uint64_t handle = 0;
    size_t after_rule = 0;
  };
  std::vector<Insert> inserts;

  // "ip nat".
  std::string Where() const;
};

// What makes the kernel hold exactly `want` of ours, given `have`: one plan
// per table that must change, none for a table whose ours are already
// exactly right. Our rules that stay stay (with their counters and
// handles); only what differs is deleted or added. kFailedPrecondition when
// a built-in chain ours need exists with other hooks, priority or type than
// iptables-nft's.
[[nodiscard]] absl::StatusOr<std::vector<TablePlan>> PlanTables(
    const XtRuleSet& want, const KState& have);

struct MessageInfo {
  enum class Kind : uint8_t {
    kBegin,
    kTable,
    kDeleteTable,
    kChain,
    kDeleteRule,
    kFlushChain,
    kDeleteChain,
    kRule,
    kEnd
  };
  Kind kind = Kind::kBegin;
  uint32_t seq = 0;
  std::string table;  // "ip nat"
  std::string chain;
  const XtTable* xt_table = nullptr;
  const XtRule* rule = nullptr;
  // For rules: [begin, end) of each expression's attribute, as offsets from
  // the start of the message.
  std::vector<std::pair<uint32_t, uint32_t>> expr_spans;
};

struct Batch {
  internal::NetlinkBatch bytes;
  std::vector<MessageInfo> messages;

  const MessageInfo* FindSeq(uint32_t seq) const;
};

// The batch carrying `plans`, guarded by `generation` when set, its
// messages numbered from `first_seq`.
Batch BuildBatch(const std::vector<TablePlan>& plans,
                 std::optional<uint32_t> generation, uint32_t first_seq);
uint32_t CountMessages(const std::vector<TablePlan>& plans);

// Plans that create every table of `want` (a first apply into a namespace
// without ours).
std::vector<TablePlan> CreateAll(const XtRuleSet& want);

}  // namespace meshcap::iptnft

#endif  // MESHCAP_BACKENDS_IPTABLES_NFT_BATCH_H_
