// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backends/nftables/batch.h"
#include "backends/nftables/compare.h"
#include "backends/nftables/lower.h"
#include "backends/nftables/read.h"
#include "backends/nftables/render.h"
#include "src/crash_point.h"
#include "src/errno_status.h"
#include "src/status_macros.h"

namespace meshcap {
namespace nft {
namespace {

using internal::ErrnoStatus;
using internal::ErrnoText;
using internal::NetlinkError;

// How often Apply reads and sends again when somebody else committed in
// between (the kernel refuses the batch with ERESTART).
constexpr int kAttempts = 10;

// What the kernel's errno means for a message of ours.
absl::Status ExplainError(const Batch& batch, const NetlinkError& e,
                          const std::string& what) {
  const MessageInfo* m = batch.FindSeq(e.seq);
  const std::string kernel_text =
      e.message.empty() ? ErrnoText(e.error)
                        : absl::StrCat(ErrnoText(e.error), ": ", e.message);
  if (e.error == EPERM || e.error == EACCES) return ErrnoStatus(e.error, what);
  if (m == nullptr) {
    return absl::InternalError(absl::StrCat(
        what, ": the kernel refused message ", e.seq, ": ", kernel_text));
  }
  const bool unsupported =
      e.error == EOPNOTSUPP || e.error == ENOENT || e.error == EAFNOSUPPORT;
  switch (m->kind) {
    case MessageInfo::Kind::kBegin:
      if (e.error == ERESTART) {
        return absl::AbortedError(
            absl::StrCat(what,
                         ": the nftables ruleset changed since it was read "
                         "(generation mismatch); nothing was changed"));
      }
      if (e.error == EOPNOTSUPP || e.error == EPROTONOSUPPORT) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel has no nf_tables (", kernel_text, ")"));
      }
      break;
    case MessageInfo::Kind::kChain: {
      const ir::ChainSpec& c = *m->chain->spec;
      if (unsupported && c.is_base()) {
        return absl::UnavailableError(
            absl::StrCat(what, ": the kernel cannot hold base chain ", m->table,
                         "/", c.name, " (type ", ChainTypeName(c.type),
                         " hook ", HookName(*c.hook), "): ", kernel_text));
      }
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the kernel refused chain ", m->table, "/",
                       c.name, ": ", kernel_text));
    }
    case MessageInfo::Kind::kRule: {
      const LoweredRule& r = *m->rule;
      std::string where =
          absl::StrCat("rule ", r.position, " of ", m->table, "/", r.chain,
                       " (", RuleText(*r.source, r.context), ")");
      std::string expr_name;
      for (size_t i = 0; i < m->expr_spans.size(); ++i) {
        const auto [begin, end] = m->expr_spans[i];
        if (e.attr_offset >= begin && e.attr_offset < end) {
          expr_name = OriginText(r, i);
          absl::StrAppend(&where, ", expression ", i + 1, " from `", expr_name,
                          "`");
          break;
        }
      }
      // An unknown chain behind a jump is ENOENT too; only a missing
      // expression type is the kernel's lack.
      const bool is_jump =
          std::holds_alternative<ir::JumpVerdict>(r.source->verdict) &&
          expr_name.find("jump ") != std::string::npos;
      if (unsupported && !expr_name.empty() && !is_jump) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel does not support ", where, ": ", kernel_text));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": the kernel refused ", where, ": ", kernel_text));
    }
    case MessageInfo::Kind::kSet:
    case MessageInfo::Kind::kSetElements:
    case MessageInfo::Kind::kDeleteSetElements: {
      const char* which = m->kind == MessageInfo::Kind::kSet
                              ? "set "
                              : (m->kind == MessageInfo::Kind::kSetElements
                                     ? "the new elements of set "
                                     : "the removal of elements of set ");
      if (m->kind == MessageInfo::Kind::kSet && unsupported) {
        return absl::UnavailableError(absl::StrCat(
            what, ": the kernel cannot hold ", which, m->table, "/", m->set,
            " (CompactLists needs nf_tables sets): ", kernel_text));
      }
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the kernel refused ", which, m->table, "/",
                       m->set, ": ", kernel_text));
    }
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": the kernel refused the message for table ",
                   m->table.empty() ? "(batch)" : m->table, ": ", kernel_text));
}

// Sends `plan`; on success appends its changes.
absl::Status Send(internal::NetlinkTransport& nl, const BatchPlan& plan,
                  const std::string& what, std::vector<std::string>* changes) {
  const uint32_t first_seq = nl.ReserveSeq(CountMessages(plan));
  Batch batch = BuildBatch(plan, first_seq);
  MESHCAP_ASSIGN_OR_RETURN(std::vector<NetlinkError> errors,
                           nl.SendBatch(batch.bytes));
  internal::CrashPoint("batch sent");
  if (!errors.empty()) {
    // The kernel goes on checking after the first failure; later errors
    // are often its consequences, so the first one is the cause.
    return ExplainError(batch, errors.front(), what);
  }
  std::set<std::string> created;
  for (const LoweredTable* t : plan.create) created.insert(t->name());
  for (const std::string& name : plan.remove) {
    if (created.count(name) == 0 && changes != nullptr) {
      changes->push_back(absl::StrCat("deleted table inet ", name));
    }
  }
  for (const LoweredTable* t : plan.create) {
    if (changes == nullptr) continue;
    const bool replaced = std::find(plan.remove.begin(), plan.remove.end(),
                                    t->name()) != plan.remove.end();
    changes->push_back(absl::StrCat(replaced ? "replaced" : "created",
                                    " table inet ", t->name()));
  }
  for (const BatchPlan::SetUpdate& u : plan.sets) {
    if (changes == nullptr) continue;
    changes->push_back(absl::StrCat("updated set inet ", u.table->name(), " ",
                                    u.edit.set->spec->name, ": ",
                                    u.edit.add.size(), " element(s) added, ",
                                    u.edit.remove.size(), " removed"));
  }
  for (const BatchPlan::ChainUpdate& u : plan.update) {
    if (changes == nullptr) continue;
    changes->push_back(absl::StrCat("edited chain inet ", u.table->name(), " ",
                                    u.edit.chain->spec->name, ": ",
                                    u.edit.inserts.size(), " rule(s) added, ",
                                    u.edit.deletes.size(), " deleted"));
  }
  return absl::OkStatus();
}

class Factory : public internal::BackendFactory {
 public:
  std::string_view Name() const override { return "nftables"; }
  int Priority() const override { return 100; }
  ir::Dialect dialect() const override { return ir::Dialect::kNftables; }
  std::string Render(const ir::RuleSet& rules) const override {
    return nft::Render(rules);
  }
  std::string SpellRule(const ir::RuleSet& rules, const ir::Table& table,
                        const std::string& chain,
                        const ir::Rule& rule) const override {
    return nft::RuleText(
        rule, nft::SpellContext{rules.profile, table.kind, chain, rule.scope});
  }

  absl::Status Probe() const override {
    MESHCAP_ASSIGN_OR_RETURN(auto sock,
                             internal::NetlinkSocket::Open(NETLINK_NETFILTER));
    absl::StatusOr<uint32_t> gen = GetGeneration(*sock);
    if (!gen.ok()) return internal::Annotate(gen.status(), "nftables");
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<internal::Backend>> Create(
      const internal::BackendOptions&) const override {
    MESHCAP_ASSIGN_OR_RETURN(auto sock,
                             internal::NetlinkSocket::Open(NETLINK_NETFILTER));
    return std::unique_ptr<internal::Backend>(
        new NftablesBackend(std::move(sock)));
  }
};

}  // namespace

NftablesBackend::NftablesBackend(
    std::unique_ptr<internal::NetlinkTransport> transport)
    : nl_(std::move(transport)) {}

absl::Status NftablesBackend::Apply(
    const ir::RuleSet& rules, const ApplyOptions& options,
    std::vector<std::string>* changes,
    const std::function<absl::Status()>& before_commit) {
  bool before_commit_ran = false;
  auto run_before_commit = [&]() -> absl::Status {
    if (!before_commit || before_commit_ran) return absl::OkStatus();
    before_commit_ran = true;
    return before_commit();
  };
  // The rule set, owned, so that what it lowers to can be remembered; made
  // with the lowering, which a no-op never needs.
  std::shared_ptr<const ir::RuleSet> owned;
  std::shared_ptr<const LoweredRuleSet> lowered;
  for (int attempt = 1;; ++attempt) {
    MESHCAP_ASSIGN_OR_RETURN(uint32_t generation, GetGeneration(*nl_));
    if (options.expected_generation.has_value() &&
        generation != *options.expected_generation) {
      return absl::AbortedError(absl::StrCat(
          "nftables apply: the ruleset changed since it was read (generation ",
          *options.expected_generation, ", now ", generation,
          "); nothing was changed"));
    }
    const bool known = known_.has_value() && known_->generation == generation;
    // Nothing has changed since we saw the kernel hold exactly this.
    if (known && !rules.fingerprint.empty() &&
        known_->fingerprint == rules.fingerprint) {
      return run_before_commit();
    }
    if (lowered == nullptr) {
      owned = std::make_shared<const ir::RuleSet>(rules);
      MESHCAP_ASSIGN_OR_RETURN(LoweredRuleSet l, Lower(*owned));
      lowered = std::make_shared<const LoweredRuleSet>(std::move(l));
    }
    BatchPlan plan;
    plan.generation = generation;
    // Same chains: edit those that changed in place (none: unchanged,
    // nothing sent). Different chains: the whole table.
    bool stale = false;  // the known state did not match the kernel
    auto plan_table = [&](const LoweredTable& t, auto changed_chains,
                          auto set_edits, auto edit) {
      std::optional<std::vector<const LoweredChain*>> changed = changed_chains;
      std::optional<std::vector<SetEdit>> sets = set_edits;
      if (!changed.has_value() || !sets.has_value()) {
        plan.remove.push_back(t.name());
        plan.create.push_back(&t);
        return;
      }
      // A set's elements change in place, the rules that look it up stay.
      for (SetEdit& e : *sets) {
        plan.sets.push_back(MakeSetUpdate(t, std::move(e)));
      }
      for (const LoweredChain* c : *changed) {
        std::optional<ChainEdit> e = edit(*c);
        if (!e.has_value()) {
          stale = true;
          return;
        }
        plan.update.push_back({&t, std::move(*e)});
      }
    };
    if (known) {
      // What the kernel holds is what we committed or saw last.
      const LoweredRuleSet* before = known_->lowered.get();
      if (before != nullptr) {
        for (const LoweredTable& b : before->tables) {
          if (lowered->Find(b.name()) == nullptr)
            plan.remove.push_back(b.name());
        }
      }
      for (const LoweredTable& t : lowered->tables) {
        const LoweredTable* b =
            before != nullptr ? before->Find(t.name()) : nullptr;
        if (b == nullptr) {
          plan.create.push_back(&t);
          continue;
        }
        plan_table(t, ChangedChains(t, *b), EditSets(t, *b),
                   [&](const LoweredChain& c) -> std::optional<ChainEdit> {
                     // The kernel holds `b`'s rules: only their handles
                     // are needed.
                     absl::StatusOr<std::vector<uint64_t>> handles =
                         ReadRuleHandles(*nl_, t.name(), c.spec->name);
                     size_t n = 0;
                     for (const LoweredRule& r : b->rules) {
                       n += r.chain == c.spec->name;
                     }
                     if (!handles.ok() || handles->size() != n) {
                       return std::nullopt;
                     }
                     return EditChain(t, c, *b, *handles);
                   });
      }
    } else {
      // What is there, read at `generation`: a change after that makes the
      // kernel refuse the batch below, and we look again.
      absl::StatusOr<std::set<std::string>> present = ListOurTables(*nl_);
      std::vector<std::string> to_read;
      if (present.ok()) {
        for (const LoweredTable& t : lowered->tables) {
          if (present->count(t.name()) > 0) to_read.push_back(t.name());
        }
      }
      absl::StatusOr<std::map<std::string, KernelTable>> kernel =
          present.ok() ? ReadTables(*nl_, to_read)
                       : absl::StatusOr<std::map<std::string, KernelTable>>(
                             present.status());
      if (!kernel.ok()) {
        if (absl::IsAborted(kernel.status()) && attempt < kAttempts) continue;
        return kernel.status();
      }
      for (const std::string& name : *present) {
        if (lowered->Find(name) == nullptr) plan.remove.push_back(name);
      }
      for (const LoweredTable& t : lowered->tables) {
        auto it = kernel->find(t.name());
        if (it == kernel->end()) {
          plan.create.push_back(&t);
          continue;
        }
        const KernelTable& have = it->second;
        plan_table(t, ChangedChains(t, have), EditSets(t, have),
                   [&](const LoweredChain& c) -> std::optional<ChainEdit> {
                     return EditChain(t, c, have);
                   });
      }
    }
    if (stale) {
      known_.reset();
      continue;  // read the kernel instead
    }
    if (plan.empty()) {
      known_ = Known{generation, rules.fingerprint, owned, lowered};
      return run_before_commit();
    }
    MESHCAP_RETURN_IF_ERROR(run_before_commit());
    known_.reset();
    absl::Status s = Send(*nl_, plan, "nftables apply", changes);
    if (absl::IsAborted(s) && !options.expected_generation.has_value() &&
        attempt < kAttempts) {
      continue;  // somebody committed between our look and our batch
    }
    if (s.ok()) {
      RememberAfterCommit(generation,
                          Known{0, rules.fingerprint, owned, lowered});
    }
    return s;
  }
}

void NftablesBackend::RememberAfterCommit(uint32_t before, Known k) {
  // Our batch carried NFNL_BATCH_GENID `before`, so it committed only at
  // `before` and took the kernel to `before + 1`.
  // Whether it is still there is what the next operation's GETGEN tells
  // (any commit since moves it further): no round trip now.
  k.generation = before + 1;
  known_ = std::move(k);
}

absl::Status NftablesBackend::Remove(std::vector<std::string>* changes) {
  for (int attempt = 1;; ++attempt) {
    MESHCAP_ASSIGN_OR_RETURN(uint32_t generation, GetGeneration(*nl_));
    std::set<std::string> present;
    if (known_.has_value() && known_->generation == generation) {
      if (known_->lowered != nullptr) {
        for (const LoweredTable& t : known_->lowered->tables) {
          present.insert(t.name());
        }
      }
    } else {
      MESHCAP_ASSIGN_OR_RETURN(present, ListOurTables(*nl_));
    }
    if (present.empty()) {
      known_ = Known{generation, "", nullptr, nullptr};
      return absl::OkStatus();
    }
    known_.reset();
    BatchPlan plan;
    plan.generation = generation;
    plan.remove.assign(present.begin(), present.end());
    absl::Status s = Send(*nl_, plan, "nftables remove", changes);
    if (absl::IsAborted(s) && attempt < kAttempts) continue;
    if (s.ok()) RememberAfterCommit(generation, Known{0, "", nullptr, nullptr});
    return s;
  }
}

absl::Status NftablesBackend::Verify(const ir::RuleSet& rules,
                                     VerifyReport* report) {
  auto owned = std::make_shared<const ir::RuleSet>(rules);
  MESHCAP_ASSIGN_OR_RETURN(LoweredRuleSet l, Lower(*owned));
  auto lowered = std::make_shared<const LoweredRuleSet>(std::move(l));
  for (int attempt = 1;; ++attempt) {
    std::vector<Difference> diffs;
    MESHCAP_ASSIGN_OR_RETURN(uint32_t generation, GetGeneration(*nl_));
    absl::StatusOr<std::set<std::string>> present = ListOurTables(*nl_);
    if (!present.ok()) return present.status();
    absl::StatusOr<std::map<std::string, KernelTable>> kernel = ReadTables(
        *nl_, std::vector<std::string>(present->begin(), present->end()));
    if (!kernel.ok()) {
      // A dump that races with a commit is flagged by the kernel; read again.
      if (absl::IsAborted(kernel.status()) && attempt < kAttempts) continue;
      return kernel.status();
    }
    // The dumps above are one per object kind: a commit between them could
    // give a view the kernel never held. The generation tells.
    MESHCAP_ASSIGN_OR_RETURN(uint32_t after, GetGeneration(*nl_));
    if (after != generation && attempt < kAttempts) continue;
    for (const LoweredTable& t : lowered->tables) {
      auto it = kernel->find(t.name());
      if (it == kernel->end()) {
        diffs.push_back({Difference::Kind::kMissing, "table", t.name(), "", 0,
                         "table inet " + t.name(), ""});
        continue;
      }
      CompareTable(t, it->second, &diffs);
    }
    for (const auto& [name, table] : *kernel) {
      if (lowered->Find(name) == nullptr) diffs.push_back(ExtraTable(table));
    }
    report->generation = generation;
    // Seen to hold exactly this: remembered as if committed.
    if (diffs.empty() && after == generation) {
      known_ = Known{generation, rules.fingerprint, owned, lowered};
    }
    for (Difference& d : diffs) report->differences.push_back(std::move(d));
    return absl::OkStatus();
  }
}

absl::StatusOr<bool> NftablesBackend::HoldsOurs() {
  MESHCAP_ASSIGN_OR_RETURN(std::set<std::string> present, ListOurTables(*nl_));
  return !present.empty();
}

}  // namespace nft

namespace internal {

void RegisterNftablesBackend(std::vector<const BackendFactory*>& out) {
  static const nft::Factory kFactory;
  out.push_back(&kFactory);
}

}  // namespace internal
}  // namespace meshcap
