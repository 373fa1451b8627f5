// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_nft/batch.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "backends/iptables/dialect.h"
#include "backends/iptables_nft/xt_rule.h"
#include "src/netlink/nl_attr.h"
#include "src/seq_diff.h"

namespace meshcap::iptnft {
namespace {

constexpr ir::TableKind kKinds[] = {ir::TableKind::kMangle, ir::TableKind::kNat,
                                    ir::TableKind::kRaw};

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Our rules of chain `c` in the kernel, in order.
std::vector<const nftnl_rule*> OursOf(const KTable& t, const KChain& c) {
  std::vector<const nftnl_rule*> out;
  for (const auto& r : c.rules) {
    if (t.IsOurs(c, r.get())) out.push_back(r.get());
  }
  return out;
}

class Writer {
 public:
  Writer(Batch& batch, uint32_t first_seq) : batch_(batch), seq_(first_seq) {}

  MessageInfo& Finish(nlmsghdr* nlh, MessageInfo::Kind kind,
                      std::string table = {}, std::string chain = {}) {
    batch_.bytes.Commit(nlh);
    MessageInfo& info = batch_.messages.emplace_back();
    info.kind = kind;
    info.seq = seq_++;
    info.table = std::move(table);
    info.chain = std::move(chain);
    return info;
  }

  void Begin(std::optional<uint32_t> generation) {
    nlmsghdr* nlh = nftnl_batch_begin(batch_.bytes.Next(), seq_);
    if (generation.has_value()) {
      mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(*generation));
    }
    Finish(nlh, MessageInfo::Kind::kBegin);
  }

  void End() {
    Finish(nftnl_batch_end(batch_.bytes.Next(), seq_), MessageInfo::Kind::kEnd);
  }

  void Table(const TablePlan& p, uint16_t type, MessageInfo::Kind kind) {
    nftnl::Ptr<nftnl_table> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, p.name.c_str());
    nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(
        batch_.bytes.Next(), type, NfFamily(p.family),
        type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, seq_);
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    Finish(nlh, kind, p.Where());
  }

  void Chain(const TablePlan& p, const std::string& name, uint16_t type,
             MessageInfo::Kind kind, bool base = false) {
    nftnl::Ptr<nftnl_chain> c(nftnl_chain_alloc());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, p.name.c_str());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name.c_str());
    if (base) {
      const BaseChainSpec spec = *BuiltinChain(p.name, name);
      nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, spec.hook);
      nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, spec.priority);
      nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, spec.type);
      nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(
        batch_.bytes.Next(), type, NfFamily(p.family),
        type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, seq_);
    nftnl_chain_nlmsg_build_payload(nlh, c.get());
    MessageInfo& info = Finish(nlh, kind, p.Where(), name);
    info.xt_table = p.want;
  }

  // DELRULE by handle, or (no handle) every rule of the chain.
  void DeleteRules(const TablePlan& p, const std::string& chain,
                   std::optional<uint64_t> handle) {
    nftnl::Ptr<nftnl_rule> r(nftnl_rule_alloc());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, p.name.c_str());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
    if (handle.has_value()) {
      nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, *handle);
    }
    nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_DELRULE, NfFamily(p.family), 0, seq_);
    nftnl_rule_nlmsg_build_payload(nlh, r.get());
    Finish(nlh,
           handle.has_value() ? MessageInfo::Kind::kDeleteRule
                              : MessageInfo::Kind::kFlushChain,
           p.Where(), chain);
  }

  // Adds `rule` with NFTA_RULE_ID `id`: after (`append`) or before the
  // kernel's rule `handle` or the batch's rule `ref_id`, or with neither at
  // the chain's end (`append`) or head.
  void Rule(const TablePlan& p, const XtRule& rule, uint32_t id, bool append,
            std::optional<uint64_t> handle = std::nullopt,
            std::optional<uint32_t> ref_id = std::nullopt) {
    nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_NEWRULE, NfFamily(p.family),
        NLM_F_CREATE | (append ? NLM_F_APPEND : 0), seq_);
    nftnl_rule_nlmsg_build_payload(nlh, rule.rule.get());
    mnl_attr_put_u32(nlh, NFTA_RULE_ID, htonl(id));
    if (handle.has_value()) {
      mnl_attr_put_u64(nlh, NFTA_RULE_POSITION, htobe64(*handle));
    }
    if (ref_id.has_value()) {
      mnl_attr_put_u32(nlh, NFTA_RULE_POSITION_ID, htonl(*ref_id));
    }
    MessageInfo& info =
        Finish(nlh, MessageInfo::Kind::kRule, p.Where(), rule.chain);
    info.xt_table = p.want;
    info.rule = &rule;
    const char* base = reinterpret_cast<const char*>(nlh);
    internal::ForEachAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) != NFTA_RULE_EXPRESSIONS) return;
      internal::ForEachNested(attr, [&](const nlattr* elem) {
        const auto begin =
            static_cast<uint32_t>(reinterpret_cast<const char*>(elem) - base);
        info.expr_spans.emplace_back(begin, begin + elem->nla_len);
      });
    });
  }

  // The table's chains and rules, as iptables-nft-restore adds them: user
  // chains in `-N` order, then rule by rule in input order, each built-in
  // chain created right before its first rule, `-I CHAIN N` before the rule
  // then N-th.
  void Create(const TablePlan& p) {
    const XtTable& t = *p.want;
    Table(p, NFT_MSG_NEWTABLE, MessageInfo::Kind::kTable);
    for (const std::string& c : t.user_chains) {
      Chain(p, c, NFT_MSG_NEWCHAIN, MessageInfo::Kind::kChain);
    }
    std::vector<std::string> created;
    const uint32_t first_id = next_id_;
    for (const XtRule& r : t.rules) {
      if (r.builtin && !Contains(created, r.chain)) {
        Chain(p, r.chain, NFT_MSG_NEWCHAIN, MessageInfo::Kind::kChain, true);
        created.push_back(r.chain);
      }
      if (!r.before.has_value()) {
        Rule(p, r, next_id_++, /*append=*/true);
      } else if (*r.before < 0) {
        Rule(p, r, next_id_++, /*append=*/false);
      } else {
        Rule(p, r, next_id_++, /*append=*/false, std::nullopt,
             first_id + static_cast<uint32_t>(*r.before));
      }
    }
  }

  // Ours changed in place (TablePlan::kEdit).
  void Edit(const TablePlan& p) {
    for (const auto& [chain, handle] : p.delete_rules) {
      DeleteRules(p, chain, handle);
    }
    for (const std::string& c : p.delete_chains) {
      DeleteRules(p, c, std::nullopt);
    }
    for (const std::string& c : p.delete_chains) {
      Chain(p, c, NFT_MSG_DELCHAIN, MessageInfo::Kind::kDeleteChain);
    }
    for (const std::string& c : p.new_user_chains) {
      Chain(p, c, NFT_MSG_NEWCHAIN, MessageInfo::Kind::kChain);
    }
    for (const std::string& c : p.new_base_chains) {
      Chain(p, c, NFT_MSG_NEWCHAIN, MessageInfo::Kind::kChain, true);
    }
    // Batch ids of the rules added, by want->rules index.
    std::vector<uint32_t> ids(p.want != nullptr ? p.want->rules.size() : 0);
    using Where = TablePlan::Insert::Where;
    for (const TablePlan::Insert& ins : p.inserts) {
      const XtRule& r = p.want->rules[ins.rule];
      const uint32_t id = next_id_++;
      ids[ins.rule] = id;
      switch (ins.where) {
        case Where::kAppend:
          Rule(p, r, id, true);
          break;
        case Where::kHead:
          Rule(p, r, id, false);
          break;
        case Where::kAfter:
          Rule(p, r, id, true, ins.handle);
          break;
        case Where::kBefore:
          Rule(p, r, id, false, ins.handle);
          break;
        case Where::kAfterRule:
          Rule(p, r, id, true, std::nullopt, ids[ins.after_rule]);
          break;
      }
    }
  }

 private:
  Batch& batch_;
  uint32_t seq_;
  uint32_t next_id_ = 1;
};

uint32_t CreateCount(const XtTable& t, const std::vector<std::string>& have) {
  uint32_t n = 1 + static_cast<uint32_t>(t.user_chains.size() + t.rules.size());
  for (const std::string& c : t.base_chains) n += !Contains(have, c);
  return n;
}

}  // namespace

std::string TablePlan::Where() const {
  return absl::StrCat(FamilyName(family), " ", name);
}

namespace {

// For each desired item, the actual one it is aligned with (LCS), if any.
template <typename Equal>
std::vector<std::optional<size_t>> Align(size_t n, size_t m, Equal equal) {
  std::vector<std::optional<size_t>> out(n);
  size_t i = 0, j = 0;
  auto pair_until = [&](size_t di, size_t aj) {
    while (i < di && j < aj) out[i++] = j++;
  };
  for (const internal::DiffRun& run : internal::AlignSequences(n, m, equal)) {
    const size_t di = run.desired.empty() ? i + (run.actual.front() - j)
                                          : run.desired.front();
    const size_t aj =
        run.actual.empty() ? j + (run.desired.front() - i) : run.actual.front();
    pair_until(di, aj);
    i += run.desired.size();
    j += run.actual.size();
  }
  pair_until(n, m);
  return out;
}

// Plans the rules of one chain: `have` are our rules in the kernel (null
// chain: it is new), `wanted` the desired rules' indices in final order.
void PlanChain(const XtTable& want, const KTable* table, const KChain* chain,
               const std::vector<size_t>& wanted, TablePlan& p) {
  std::vector<const nftnl_rule*> have;
  if (chain != nullptr) have = OursOf(*table, *chain);
  const bool base = chain != nullptr && chain->base;
  const std::vector<std::optional<size_t>> kept =
      Align(wanted.size(), have.size(), [&](size_t i, size_t j) {
        return SameExpressions(want.rules[wanted[i]].rule.get(), have[j]) &&
               (!base || HasTag(have[j]));
      });
  std::vector<bool> stays(have.size(), false);
  for (const std::optional<size_t>& k : kept) {
    if (k.has_value()) stays[*k] = true;
  }
  for (size_t j = 0; j < have.size(); ++j) {
    if (!stays[j]) {
      p.delete_rules.emplace_back(
          chain->name, nftnl_rule_get_u64(have[j], NFTNL_RULE_HANDLE));
    }
  }
  auto handle = [&](size_t j) {
    return nftnl_rule_get_u64(have[j], NFTNL_RULE_HANDLE);
  };
  using Where = TablePlan::Insert::Where;
  // The previous desired rule: kept (a kernel handle) or added (its index).
  std::optional<uint64_t> prev_kept;
  std::optional<size_t> prev_added;
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (kept[i].has_value()) {
      prev_kept = handle(*kept[i]);
      prev_added.reset();
      continue;
    }
    TablePlan::Insert ins;
    ins.rule = wanted[i];
    if (prev_added.has_value()) {
      ins.where = Where::kAfterRule;
      ins.after_rule = *prev_added;
    } else if (prev_kept.has_value()) {
      ins.where = Where::kAfter;
      ins.handle = *prev_kept;
    } else {
      // The first of ours: before the next rule of ours that stays, if any;
      // else at the head when Istio inserts it there (`-I CHAIN 1`), at the
      // end otherwise.
      std::optional<uint64_t> next;
      for (size_t k = i + 1; k < wanted.size() && !next; ++k) {
        if (kept[k].has_value()) next = handle(*kept[k]);
      }
      if (next.has_value()) {
        ins.where = Where::kBefore;
        ins.handle = *next;
      } else {
        const std::optional<int>& b = want.rules[wanted[i]].before;
        ins.where = b.has_value() && *b < 0 ? Where::kHead : Where::kAppend;
      }
    }
    prev_added = wanted[i];
    prev_kept.reset();
    p.inserts.push_back(ins);
  }
}

}  // namespace

absl::StatusOr<std::vector<TablePlan>> PlanTables(const XtRuleSet& want,
                                                  const KState& have) {
  std::vector<TablePlan> plans;
  for (IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    for (ir::TableKind kind : kKinds) {
      const std::string name = ir::TableKindName(kind);
      const XtTable* w = want.Find(family, kind);
      const KTable* h = have.Find(family, name);
      TablePlan p;
      p.family = family;
      p.name = name;
      p.want = w;
      if (h == nullptr) {
        if (w == nullptr) continue;
        p.action = TablePlan::Action::kCreate;
        plans.push_back(std::move(p));
        continue;
      }
      if (w != nullptr) {
        for (const std::string& b : w->base_chains) {
          const KChain* kc = h->Find(b);
          if (kc == nullptr || h->IsBuiltin(*kc)) continue;
          std::optional<BaseChainSpec> spec = BuiltinChain(name, b);
          return absl::FailedPreconditionError(absl::StrCat(
              "chain ", b, " of table ", h->Where(),
              " is not iptables-nft's built-in chain (",
              kc->base ? absl::StrCat("type ", kc->type, " hook ", kc->hook,
                                      " priority ", kc->priority)
                       : std::string("not a base chain"),
              "; iptables-nft makes type ", spec->type, " hook ", spec->hook,
              " priority ", spec->priority,
              "): meshcap leaves it alone and cannot add its rules there"));
        }
      }
      if (w == nullptr && h->WhollyOurs()) {
        if (h->HoldsOurs()) {
          p.action = TablePlan::Action::kDelete;
          plans.push_back(std::move(p));
        }
        continue;
      }
      p.action = TablePlan::Action::kEdit;
      static const std::vector<std::string> kNone;
      const std::vector<std::string>& user = w ? w->user_chains : kNone;
      // Our chains that go, with every rule in them.
      for (const KChain& c : h->chains) {
        if (!c.base && ipt::IsOurChain(c.name) &&
            std::find(user.begin(), user.end(), c.name) == user.end()) {
          p.delete_chains.push_back(c.name);
        }
      }
      // Chains that stay or come, rule by rule.
      std::vector<std::string> chains;
      for (const KChain& c : h->chains) {
        const bool ours_chain = !c.base && ipt::IsOurChain(c.name);
        const bool builtin = c.base && ipt::IsBuiltinChain(c.name);
        if ((ours_chain &&
             std::find(user.begin(), user.end(), c.name) != user.end()) ||
            builtin) {
          chains.push_back(c.name);
        }
      }
      if (w != nullptr) {
        for (const std::string& c : w->user_chains) {
          if (h->Find(c) == nullptr) p.new_user_chains.push_back(c);
        }
        for (const std::string& c : w->base_chains) {
          if (h->Find(c) == nullptr) p.new_base_chains.push_back(c);
        }
      }
      static const XtTable kEmpty;
      for (const std::string& c : chains) {
        PlanChain(w ? *w : kEmpty, h, h->Find(c),
                  w ? w->ChainOrder(c) : std::vector<size_t>(), p);
      }
      if (w != nullptr) {
        for (const std::string& c : p.new_user_chains) {
          PlanChain(*w, h, nullptr, w->ChainOrder(c), p);
        }
        for (const std::string& c : p.new_base_chains) {
          PlanChain(*w, h, nullptr, w->ChainOrder(c), p);
        }
      }
      if (p.delete_rules.empty() && p.delete_chains.empty() &&
          p.new_user_chains.empty() && p.new_base_chains.empty() &&
          p.inserts.empty()) {
        continue;  // ours are exactly right
      }
      plans.push_back(std::move(p));
    }
  }
  return plans;
}

std::vector<TablePlan> CreateAll(const XtRuleSet& want) {
  std::vector<TablePlan> plans;
  for (const XtTable& t : want.tables) {
    TablePlan& p = plans.emplace_back();
    p.family = t.family;
    p.name = t.name();
    p.want = &t;
  }
  return plans;
}

const MessageInfo* Batch::FindSeq(uint32_t seq) const {
  for (const MessageInfo& m : messages) {
    if (m.seq == seq) return &m;
  }
  return nullptr;
}

uint32_t CountMessages(const std::vector<TablePlan>& plans) {
  uint32_t n = 2;
  for (const TablePlan& p : plans) {
    switch (p.action) {
      case TablePlan::Action::kDelete:
        n += 1;
        break;
      case TablePlan::Action::kCreate:
        n += CreateCount(*p.want, {});
        break;
      case TablePlan::Action::kEdit:
        n += static_cast<uint32_t>(p.delete_rules.size() +
                                   2 * p.delete_chains.size() +
                                   p.new_user_chains.size() +
                                   p.new_base_chains.size() + p.inserts.size());
        break;
    }
  }
  return n;
}

Batch BuildBatch(const std::vector<TablePlan>& plans,
                 std::optional<uint32_t> generation, uint32_t first_seq) {
  Batch batch;
  batch.messages.reserve(CountMessages(plans));
  Writer w(batch, first_seq);
  w.Begin(generation);
  for (const TablePlan& p : plans) {
    switch (p.action) {
      case TablePlan::Action::kDelete:
        w.Table(p, NFT_MSG_DELTABLE, MessageInfo::Kind::kDeleteTable);
        break;
      case TablePlan::Action::kCreate:
        w.Create(p);
        break;
      case TablePlan::Action::kEdit:
        w.Edit(p);
        break;
    }
  }
  w.End();
  return batch;
}

}  // namespace meshcap::iptnft
