// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/batch.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "src/netlink/nl_attr.h"

namespace meshcap::nft {
namespace {

class BatchWriter {
 public:
  BatchWriter(Batch& batch, uint32_t first_seq)
      : batch_(batch), seq_(first_seq) {}

  MessageInfo& Finish(nlmsghdr* nlh, MessageInfo::Kind kind,
                      std::string table = {}) {
    batch_.bytes.Commit(nlh);
    MessageInfo& info = batch_.messages.emplace_back();
    info.kind = kind;
    info.seq = seq_++;
    info.table = std::move(table);
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

  void DeleteTable(const std::string& name) {
    NftnlPtr<nftnl_table> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    AddTable(t.get(), name, MessageInfo::Kind::kDeleteTable);
    nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_DELTABLE, NFPROTO_INET, 0, seq_);
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    Finish(nlh, MessageInfo::Kind::kDeleteTable, name);
  }

  void AddTable(const nftnl_table* t, const std::string& name,
                MessageInfo::Kind kind = MessageInfo::Kind::kTable) {
    // As `nft add table` sends it: the kernel creates or updates a table
    // without NLM_F_CREATE.
    nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_NEWTABLE, NFPROTO_INET, 0, seq_);
    nftnl_table_nlmsg_build_payload(nlh, t);
    Finish(nlh, kind, name);
  }

  void AddChain(const LoweredTable& table, const LoweredChain& chain) {
    nlmsghdr* nlh =
        nftnl_chain_nlmsg_build_hdr(batch_.bytes.Next(), NFT_MSG_NEWCHAIN,
                                    NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_chain_nlmsg_build_payload(nlh, chain.chain.get());
    Finish(nlh, MessageInfo::Kind::kChain, table.name()).chain = &chain;
  }

  void AddNamedSet(const LoweredTable& table, const LoweredNamedSet& set) {
    nlmsghdr* nlh = nftnl_set_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_set_nlmsg_build_payload(nlh, set.set.get());
    Finish(nlh, MessageInfo::Kind::kSet, table.name()).set = set.spec->name;
    SetElements(table, set.spec->name,
                ElementMessages(table.name(), *set.spec, set.elements,
                                /*leading=*/true),
                true);
  }

  // NEWSETELEM (add) or DELSETELEM messages, one per object.
  void SetElements(const LoweredTable& table, const std::string& name,
                   const std::vector<NftnlPtr<nftnl_set>>& messages, bool add) {
    for (const NftnlPtr<nftnl_set>& m : messages) {
      nlmsghdr* nlh = nftnl_set_elem_nlmsg_build_hdr(
          batch_.bytes.Next(), add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
          NFPROTO_INET, add ? NLM_F_CREATE : 0, seq_);
      nftnl_set_elems_nlmsg_build_payload(nlh, m.get());
      Finish(nlh,
             add ? MessageInfo::Kind::kSetElements
                 : MessageInfo::Kind::kDeleteSetElements,
             table.name())
          .set = name;
    }
  }

  void AddSet(const LoweredTable& table, const LoweredSet& set) {
    nlmsghdr* nlh = nftnl_set_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_set_nlmsg_build_payload(nlh, set.set.get());
    Finish(nlh, MessageInfo::Kind::kSet, table.name());
    nlh =
        nftnl_set_elem_nlmsg_build_hdr(batch_.bytes.Next(), NFT_MSG_NEWSETELEM,
                                       NFPROTO_INET, NLM_F_CREATE, seq_);
    nftnl_set_elems_nlmsg_build_payload(nlh, set.set.get());
    Finish(nlh, MessageInfo::Kind::kSetElements, table.name());
  }

  void DeleteRule(const LoweredTable& table, const LoweredChain& chain,
                  uint64_t handle) {
    NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.name().c_str());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.spec->name.c_str());
    nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
    nftnl_rule_set_u64(r.get(), NFTNL_RULE_HANDLE, handle);
    nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_DELRULE, NFPROTO_INET, 0, seq_);
    nftnl_rule_nlmsg_build_payload(nlh, r.get());
    Finish(nlh, MessageInfo::Kind::kDeleteRule, table.name()).chain = &chain;
  }

  // Appends `rule` to its chain; with `at`, after the rule with handle
  // *at, or (nullopt inside `at`) at the head of the chain.
  void AddRule(const LoweredTable& table, const LoweredRule& rule,
               std::optional<std::optional<uint64_t>> at = std::nullopt) {
    const bool append = !at.has_value() || at->has_value();
    nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_NEWRULE, NFPROTO_INET,
        NLM_F_CREATE | (append ? NLM_F_APPEND : 0), seq_);
    nftnl_rule_nlmsg_build_payload(nlh, rule.rule.get());
    if (at.has_value() && at->has_value()) {
      mnl_attr_put_u64(nlh, NFTA_RULE_POSITION, htobe64(**at));
    }
    MessageInfo& info = Finish(nlh, MessageInfo::Kind::kRule, table.name());
    info.rule = &rule;
    // Where each expression sits, to place an extended-ack offset.
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

 private:
  Batch& batch_;
  uint32_t seq_;
};

}  // namespace

const MessageInfo* Batch::FindSeq(uint32_t seq) const {
  for (const MessageInfo& m : messages) {
    if (m.seq == seq) return &m;
  }
  return nullptr;
}

BatchPlan::SetUpdate MakeSetUpdate(const LoweredTable& table, SetEdit edit) {
  BatchPlan::SetUpdate u;
  u.table = &table;
  u.remove = ElementMessages(table.name(), *edit.set->spec, edit.remove,
                             /*leading=*/false);
  u.add = ElementMessages(table.name(), *edit.set->spec, edit.add,
                          /*leading=*/false);
  u.edit = std::move(edit);
  return u;
}

uint32_t CountMessages(const BatchPlan& plan) {
  uint32_t n = 2 + 2 * static_cast<uint32_t>(plan.remove.size());
  for (const LoweredTable* t : plan.create) {
    n += 1 + static_cast<uint32_t>(t->chains.size() + 2 * t->sets.size() +
                                   t->rules.size());
    for (const LoweredNamedSet& s : t->named_sets) {
      n += 1 + static_cast<uint32_t>(
                   CountElementMessages(*s.spec, s.elements, true));
    }
  }
  for (const BatchPlan::SetUpdate& u : plan.sets) {
    n += static_cast<uint32_t>(u.remove.size() + u.add.size());
  }
  for (const BatchPlan::ChainUpdate& u : plan.update) {
    n += static_cast<uint32_t>(u.edit.deletes.size());
    for (const ChainEdit::Insert& i : u.edit.inserts) {
      n += 1 + 2 * static_cast<uint32_t>(i.rule->sets.size());
    }
  }
  return n;
}

Batch BuildBatch(const BatchPlan& plan, uint32_t first_seq) {
  Batch batch;
  batch.messages.reserve(CountMessages(plan));
  BatchWriter w(batch, first_seq);
  w.Begin(plan.generation);
  for (const std::string& name : plan.remove) w.DeleteTable(name);
  for (const LoweredTable* t : plan.create) {
    w.AddTable(t->table.get(), t->name());
    for (const LoweredChain& c : t->chains) w.AddChain(*t, c);
    for (const LoweredNamedSet& s : t->named_sets) w.AddNamedSet(*t, s);
    for (const LoweredRule& r : t->rules) {
      for (size_t s : r.sets) w.AddSet(*t, t->sets[s]);
      w.AddRule(*t, r);
    }
  }
  for (const BatchPlan::SetUpdate& u : plan.sets) {
    const std::string& name = u.edit.set->spec->name;
    w.SetElements(*u.table, name, u.remove, /*add=*/false);
    w.SetElements(*u.table, name, u.add, /*add=*/true);
  }
  for (const BatchPlan::ChainUpdate& u : plan.update) {
    for (uint64_t handle : u.edit.deletes) {
      w.DeleteRule(*u.table, *u.edit.chain, handle);
    }
    for (const ChainEdit::Insert& i : u.edit.inserts) {
      for (size_t s : i.rule->sets) w.AddSet(*u.table, u.table->sets[s]);
      w.AddRule(*u.table, *i.rule, i.after);
    }
  }
  w.End();
  return batch;
}

}  // namespace meshcap::nft
