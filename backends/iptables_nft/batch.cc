// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_nft/batch.h"

#include <arpa/inet.h>
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

  void Rule(const TablePlan& p, const XtRule& rule, uint32_t id,
            std::optional<uint32_t> before_id, bool head) {
    const bool append = !head && !before_id.has_value();
    nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(
        batch_.bytes.Next(), NFT_MSG_NEWRULE, NfFamily(p.family),
        NLM_F_CREATE | (append ? NLM_F_APPEND : 0), seq_);
    nftnl_rule_nlmsg_build_payload(nlh, rule.rule.get());
    mnl_attr_put_u32(nlh, NFTA_RULE_ID, htonl(id));
    if (before_id.has_value()) {
      mnl_attr_put_u32(nlh, NFTA_RULE_POSITION_ID, htonl(*before_id));
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
  // chain created right before its first rule.
  void Create(const TablePlan& p, const std::vector<std::string>& existing) {
    const XtTable& t = *p.want;
    Table(p, NFT_MSG_NEWTABLE, MessageInfo::Kind::kTable);
    for (const std::string& c : t.user_chains) {
      Chain(p, c, NFT_MSG_NEWCHAIN, MessageInfo::Kind::kChain);
    }
    std::vector<std::string> created = existing;
    const uint32_t first_id = next_id_;
    for (const XtRule& r : t.rules) {
      if (r.builtin && !Contains(created, r.chain)) {
        Chain(p, r.chain, NFT_MSG_NEWCHAIN, MessageInfo::Kind::kChain, true);
        created.push_back(r.chain);
      }
      std::optional<uint32_t> before;
      if (r.before.has_value() && *r.before >= 0) {
        before = first_id + static_cast<uint32_t>(*r.before);
      }
      Rule(p, r, next_id_++, before, r.before.has_value() && *r.before < 0);
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

bool OursEqual(const KTable& have, const XtTable* want, bool tags) {
  std::set<std::string> have_chains, want_chains;
  for (const KChain& c : have.chains) {
    if (!c.base && ipt::IsOurChain(c.name)) have_chains.insert(c.name);
  }
  if (want != nullptr) {
    want_chains.insert(want->user_chains.begin(), want->user_chains.end());
    for (const std::string& b : want->base_chains) {
      const KChain* kc = have.Find(b);
      if (kc == nullptr || !have.IsBuiltin(*kc)) return false;
    }
  }
  if (have_chains != want_chains) return false;
  for (const KChain& c : have.chains) {
    if (c.base && !ipt::IsBuiltinChain(c.name)) continue;
    if (!c.base && !ipt::IsOurChain(c.name)) continue;
    const std::vector<const nftnl_rule*> ours = OursOf(have, c);
    const std::vector<size_t> wanted =
        want != nullptr ? want->ChainOrder(c.name) : std::vector<size_t>();
    if (ours.size() != wanted.size()) return false;
    for (size_t i = 0; i < ours.size(); ++i) {
      const XtRule& w = want->rules[wanted[i]];
      if (!SameExpressions(ours[i], w.rule.get())) return false;
      if (tags && c.base && !HasTag(ours[i])) return false;
    }
  }
  return true;
}

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
      if (OursEqual(*h, w, /*tags=*/true)) continue;
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
      if (h->WhollyOurs()) {
        p.action = w != nullptr ? TablePlan::Action::kReplace
                                : TablePlan::Action::kDelete;
        plans.push_back(std::move(p));
        continue;
      }
      p.action = TablePlan::Action::kEdit;
      for (const KChain& c : h->chains) {
        if (c.base) {
          p.existing_base_chains.push_back(c.name);
          for (const auto& r : c.rules) {
            if (h->IsOurs(c, r.get())) {
              p.delete_rules.emplace_back(
                  c.name, nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE));
            }
          }
        } else if (ipt::IsOurChain(c.name)) {
          p.delete_chains.push_back(c.name);
        }
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
      case TablePlan::Action::kReplace:
        n += 1 + CreateCount(*p.want, {});
        break;
      case TablePlan::Action::kCreate:
        n += CreateCount(*p.want, {});
        break;
      case TablePlan::Action::kEdit:
        n += static_cast<uint32_t>(p.delete_rules.size() +
                                   2 * p.delete_chains.size());
        if (p.want != nullptr)
          n += CreateCount(*p.want, p.existing_base_chains);
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
      case TablePlan::Action::kReplace:
        w.Table(p, NFT_MSG_DELTABLE, MessageInfo::Kind::kDeleteTable);
        w.Create(p, {});
        break;
      case TablePlan::Action::kCreate:
        w.Create(p, {});
        break;
      case TablePlan::Action::kEdit:
        // Jumps into our chains go first, then our chains' own rules (which
        // jump between them), then the chains.
        for (const auto& [chain, handle] : p.delete_rules) {
          w.DeleteRules(p, chain, handle);
        }
        for (const std::string& c : p.delete_chains) {
          w.DeleteRules(p, c, std::nullopt);
        }
        for (const std::string& c : p.delete_chains) {
          w.Chain(p, c, NFT_MSG_DELCHAIN, MessageInfo::Kind::kDeleteChain);
        }
        if (p.want != nullptr) w.Create(p, p.existing_base_chains);
        break;
    }
  }
  w.End();
  return batch;
}

}  // namespace meshcap::iptnft
