// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/compare.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>

#include <algorithm>
#include <iterator>
#include <set>

#include "absl/strings/str_cat.h"
#include "backends/nftables/decode.h"
#include "backends/nftables/render.h"
#include "src/seq_diff.h"

namespace meshcap::nft {
namespace {

using Keys = std::vector<std::string>;

// Resolves a lookup to its set's keys: by set id on our side, by kernel
// set name on the kernel's.
struct Resolvers {
  ExprCursor::SetResolver want;
  ExprCursor::SetResolver have;
};

Resolvers MakeResolvers(const LoweredTable& want, const KernelTable& have) {
  Resolvers r;
  r.want = [&want](const nftnl_expr* lookup) -> const Keys* {
    if (!nftnl_expr_is_set(lookup, NFTNL_EXPR_LOOKUP_SET_ID)) return nullptr;
    const uint32_t id = nftnl_expr_get_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID);
    for (const LoweredSet& s : want.sets) {
      if (s.id == id) return &s.keys;
    }
    return nullptr;
  };
  r.have = [&have](const nftnl_expr* lookup) -> const Keys* {
    const char* name = nftnl_expr_get_str(lookup, NFTNL_EXPR_LOOKUP_SET);
    if (name == nullptr) return nullptr;
    auto it = have.sets.find(name);
    return it == have.sets.end() ? nullptr : &it->second;
  };
  return r;
}

bool ExprEqual(const nftnl_expr* a, const ExprCursor::SetResolver& ra,
               const nftnl_expr* b, const ExprCursor::SetResolver& rb) {
  const bool lookup = nftnl::ExprName(a) == "lookup";
  // Set names differ by side; the sets' contents are compared below.
  if (!nftnl::ExprEqual(a, b, [lookup](uint16_t type) {
        return lookup && (type == NFTNL_EXPR_LOOKUP_SET ||
                          type == NFTNL_EXPR_LOOKUP_SET_ID);
      })) {
    return false;
  }
  if (lookup) {
    // A named set is itself compared (EditSets, CompareTable): here its
    // name.
    std::string na, nb;
    const bool named_a = LooksUpNamedSet(a, &na);
    const bool named_b = LooksUpNamedSet(b, &nb);
    if (named_a || named_b) return named_a && named_b && na == nb;
    const Keys* ka = ra(a);
    const Keys* kb = rb(b);
    if (ka == nullptr || kb == nullptr || *ka != *kb) return false;
  }
  return true;
}

bool RuleEqual(const std::vector<const nftnl_expr*>& a,
               const ExprCursor::SetResolver& ra,
               const std::vector<const nftnl_expr*>& b,
               const ExprCursor::SetResolver& rb) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!ExprEqual(a[i], ra, b[i], rb)) return false;
  }
  return true;
}

uint32_t HookNumber(ir::Hook h) {
  return h == ir::Hook::kPrerouting ? NF_INET_PRE_ROUTING : NF_INET_LOCAL_OUT;
}

std::string DescribeChain(bool base, uint32_t hook, int32_t prio,
                          const std::string& type) {
  if (!base) return "regular chain";
  return absl::StrCat(
      "type ", type, " hook ",
      hook == NF_INET_PRE_ROUTING
          ? "prerouting"
          : (hook == NF_INET_LOCAL_OUT ? "output" : absl::StrCat(hook)),
      " priority ", prio);
}

// The declaration as lowered (one source for both: the set object).
uint32_t FlagsOf(const LoweredNamedSet& s) {
  return nftnl_set_get_u32(s.set.get(), NFTNL_SET_FLAGS);
}

uint32_t KeyTypeOf(const LoweredNamedSet& s) {
  return nftnl_set_get_u32(s.set.get(), NFTNL_SET_KEY_TYPE);
}

// want - have and have - want of two sorted key lists.
SetEdit Diff(const LoweredNamedSet& want,
             const std::vector<std::string>& have) {
  SetEdit e;
  e.set = &want;
  std::set_difference(want.elements.begin(), want.elements.end(), have.begin(),
                      have.end(), std::back_inserter(e.add));
  std::set_difference(have.begin(), have.end(), want.elements.begin(),
                      want.elements.end(), std::back_inserter(e.remove));
  return e;
}

}  // namespace

std::optional<std::vector<SetEdit>> EditSets(const LoweredTable& want,
                                             const KernelTable& have) {
  if (want.named_sets.size() != have.named_sets.size()) return std::nullopt;
  std::vector<SetEdit> out;
  for (const LoweredNamedSet& s : want.named_sets) {
    auto it = have.named_sets.find(s.spec->name);
    if (it == have.named_sets.end()) return std::nullopt;
    const KernelSet& k = it->second;
    if (k.flags != FlagsOf(s) || k.key_type != KeyTypeOf(s) ||
        k.key_len != nftnl_set_get_u32(s.set.get(), NFTNL_SET_KEY_LEN)) {
      return std::nullopt;
    }
    SetEdit e = Diff(s, k.elements);
    if (!e.add.empty() || !e.remove.empty()) out.push_back(std::move(e));
  }
  return out;
}

std::optional<std::vector<SetEdit>> EditSets(const LoweredTable& want,
                                             const LoweredTable& before) {
  if (want.named_sets.size() != before.named_sets.size()) return std::nullopt;
  std::vector<SetEdit> out;
  for (const LoweredNamedSet& s : want.named_sets) {
    const LoweredNamedSet* b = before.FindNamedSet(s.spec->name);
    if (b == nullptr || b->spec->key != s.spec->key) return std::nullopt;
    SetEdit e = Diff(s, b->elements);
    if (!e.add.empty() || !e.remove.empty()) out.push_back(std::move(e));
  }
  return out;
}

Difference ExtraTable(const KernelTable& have) {
  size_t rules = 0;
  for (const KernelChain& c : have.chains) rules += c.rules.size();
  return {Difference::Kind::kExtra,
          "table",
          have.name,
          "",
          0,
          "",
          absl::StrCat("table inet ", have.name, " with ", have.chains.size(),
                       " chain(s) and ", rules, " rule(s)")};
}

std::optional<std::vector<const LoweredChain*>> ChangedChains(
    const LoweredTable& want, const KernelTable& have) {
  if (want.chains.size() != have.chains.size()) return std::nullopt;
  const Resolvers res = MakeResolvers(want, have);
  std::vector<const LoweredChain*> changed;
  for (const LoweredChain& c : want.chains) {
    const ir::ChainSpec& spec = *c.spec;
    const KernelChain* kc = have.Find(spec.name);
    if (kc == nullptr) return std::nullopt;
    if (DescribeChain(kc->base, kc->hook, kc->priority, kc->type) !=
        DescribeChain(spec.is_base(),
                      spec.is_base() ? HookNumber(*spec.hook) : 0,
                      spec.priority, ChainTypeName(spec.type))) {
      return std::nullopt;
    }
    std::vector<const LoweredRule*> desired;
    for (const LoweredRule& r : want.rules) {
      if (r.chain == spec.name) desired.push_back(&r);
    }
    bool same = desired.size() == kc->rules.size();
    for (size_t i = 0; same && i < desired.size(); ++i) {
      same = RuleEqual(Expressions(desired[i]->rule.get()), res.want,
                       Expressions(kc->rules[i].get()), res.have);
    }
    if (!same) changed.push_back(&c);
  }
  return changed;
}

std::optional<std::vector<const LoweredChain*>> ChangedChains(
    const LoweredTable& want, const LoweredTable& before) {
  if (want.chains.size() != before.chains.size()) return std::nullopt;
  auto by_id = [](const LoweredTable& t) -> ExprCursor::SetResolver {
    return [&t](const nftnl_expr* lookup) -> const Keys* {
      if (!nftnl_expr_is_set(lookup, NFTNL_EXPR_LOOKUP_SET_ID)) return nullptr;
      const uint32_t id = nftnl_expr_get_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID);
      for (const LoweredSet& s : t.sets) {
        if (s.id == id) return &s.keys;
      }
      return nullptr;
    };
  };
  const ExprCursor::SetResolver rw = by_id(want), rb = by_id(before);
  auto rules_of = [](const LoweredTable& t, const std::string& chain) {
    std::vector<const LoweredRule*> out;
    for (const LoweredRule& r : t.rules) {
      if (r.chain == chain) out.push_back(&r);
    }
    return out;
  };
  std::vector<const LoweredChain*> changed;
  for (const LoweredChain& c : want.chains) {
    const ir::ChainSpec& spec = *c.spec;
    const LoweredChain* old = nullptr;
    for (const LoweredChain& b : before.chains) {
      if (b.spec->name == spec.name) old = &b;
    }
    if (old == nullptr || old->spec->is_base() != spec.is_base() ||
        old->spec->hook != spec.hook || old->spec->priority != spec.priority ||
        old->spec->type != spec.type) {
      return std::nullopt;
    }
    const std::vector<const LoweredRule*> a = rules_of(want, spec.name);
    const std::vector<const LoweredRule*> b = rules_of(before, spec.name);
    bool same = a.size() == b.size();
    for (size_t i = 0; same && i < a.size(); ++i) {
      same = RuleEqual(Expressions(a[i]->rule.get()), rw,
                       Expressions(b[i]->rule.get()), rb);
    }
    if (!same) changed.push_back(&c);
  }
  return changed;
}

namespace {

ExprCursor::SetResolver ById(const LoweredTable& t) {
  return [&t](const nftnl_expr* lookup) -> const Keys* {
    if (!nftnl_expr_is_set(lookup, NFTNL_EXPR_LOOKUP_SET_ID)) return nullptr;
    const uint32_t id = nftnl_expr_get_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID);
    for (const LoweredSet& s : t.sets) {
      if (s.id == id) return &s.keys;
    }
    return nullptr;
  };
}

std::vector<const LoweredRule*> RulesOf(const LoweredTable& t,
                                        const std::string& chain) {
  std::vector<const LoweredRule*> out;
  for (const LoweredRule& r : t.rules) {
    if (r.chain == chain) out.push_back(&r);
  }
  return out;
}

ChainEdit Edit(const LoweredTable& want, const LoweredChain& chain,
               const std::vector<std::vector<const nftnl_expr*>>& before,
               const ExprCursor::SetResolver& before_sets,
               const std::vector<uint64_t>& handles) {
  const std::vector<const LoweredRule*> desired =
      RulesOf(want, chain.spec->name);
  std::vector<std::vector<const nftnl_expr*>> d_exprs;
  for (const LoweredRule* r : desired) {
    d_exprs.push_back(Expressions(r->rule.get()));
  }
  const ExprCursor::SetResolver want_sets = ById(want);
  ChainEdit edit;
  edit.chain = &chain;
  for (const internal::EditRun& run : internal::EditScript(
           d_exprs.size(), before.size(), [&](size_t i, size_t j) {
             return RuleEqual(d_exprs[i], want_sets, before[j], before_sets);
           })) {
    for (size_t j : run.remove) edit.deletes.push_back(handles[j]);
    // Each goes right after the same kept rule: send them last first.
    const std::optional<uint64_t> after =
        run.after.has_value() ? std::optional<uint64_t>(handles[*run.after])
                              : std::nullopt;
    for (auto it = run.insert.rbegin(); it != run.insert.rend(); ++it) {
      edit.inserts.push_back({desired[*it], after});
    }
  }
  return edit;
}

}  // namespace

ChainEdit EditChain(const LoweredTable& want, const LoweredChain& chain,
                    const KernelTable& have) {
  const KernelChain* kc = have.Find(chain.spec->name);
  std::vector<std::vector<const nftnl_expr*>> before;
  std::vector<uint64_t> handles;
  if (kc != nullptr) {
    for (const auto& r : kc->rules) {
      before.push_back(Expressions(r.get()));
      handles.push_back(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE));
    }
  }
  return Edit(want, chain, before, MakeResolvers(want, have).have, handles);
}

ChainEdit EditChain(const LoweredTable& want, const LoweredChain& chain,
                    const LoweredTable& before,
                    const std::vector<uint64_t>& handles) {
  std::vector<std::vector<const nftnl_expr*>> exprs;
  for (const LoweredRule* r : RulesOf(before, chain.spec->name)) {
    exprs.push_back(Expressions(r->rule.get()));
  }
  return Edit(want, chain, exprs, ById(before), handles);
}

bool CompareTable(const LoweredTable& want, const KernelTable& have,
                  std::vector<Difference>* out) {
  const Resolvers res = MakeResolvers(want, have);
  bool equal = true;
  auto report = [&](Difference d) {
    equal = false;
    if (out != nullptr) out->push_back(std::move(d));
  };
  std::set<std::string> wanted;
  for (const LoweredChain& c : want.chains) {
    const ir::ChainSpec& spec = *c.spec;
    wanted.insert(spec.name);
    std::vector<const LoweredRule*> desired;
    for (const LoweredRule& r : want.rules) {
      if (r.chain == spec.name) desired.push_back(&r);
    }
    const std::string want_spec = DescribeChain(
        spec.is_base(), spec.is_base() ? HookNumber(*spec.hook) : 0,
        spec.priority, ChainTypeName(spec.type));
    const KernelChain* kc = have.Find(spec.name);
    if (kc == nullptr) {
      report({Difference::Kind::kMissing, "chain", want.name(), spec.name, 0,
              want_spec, ""});
      if (out == nullptr) return false;
      for (const LoweredRule* r : desired) {
        report({Difference::Kind::kMissing, "rule", want.name(), spec.name,
                r->position, RuleText(*r->source, r->context), ""});
      }
      continue;
    }
    const std::string have_spec =
        DescribeChain(kc->base, kc->hook, kc->priority, kc->type);
    if (have_spec != want_spec) {
      report({Difference::Kind::kChanged, "chain", want.name(), spec.name, 0,
              want_spec, have_spec});
      if (out == nullptr) return false;
    }
    std::vector<std::vector<const nftnl_expr*>> d_exprs, h_exprs;
    for (const LoweredRule* r : desired) {
      d_exprs.push_back(Expressions(r->rule.get()));
    }
    for (const auto& r : kc->rules) h_exprs.push_back(Expressions(r.get()));
    if (out == nullptr) {
      if (d_exprs.size() != h_exprs.size()) return false;
      for (size_t i = 0; i < d_exprs.size(); ++i) {
        if (!RuleEqual(d_exprs[i], res.want, h_exprs[i], res.have)) {
          return false;
        }
      }
      continue;
    }
    auto eq = [&](size_t i, size_t j) {
      return RuleEqual(d_exprs[i], res.want, h_exprs[j], res.have);
    };
    auto text_of_actual = [&](size_t j) {
      const SpellContext ctx{want.profile, want.source->kind, spec.name,
                             ir::Scope::kBoth};
      return DescribeRule(kc->rules[j].get(), res.have, ctx);
    };
    for (const internal::DiffRun& run :
         internal::AlignSequences(d_exprs.size(), h_exprs.size(), eq)) {
      const size_t paired = std::min(run.desired.size(), run.actual.size());
      for (size_t k = 0; k < run.desired.size(); ++k) {
        const LoweredRule* r = desired[run.desired[k]];
        Difference d;
        d.table = want.name();
        d.chain = spec.name;
        d.position = r->position;
        d.desired = RuleText(*r->source, r->context);
        if (k < paired) {
          d.kind = Difference::Kind::kChanged;
          d.actual = text_of_actual(run.actual[k]);
        } else {
          d.kind = Difference::Kind::kMissing;
        }
        report(std::move(d));
      }
      for (size_t k = paired; k < run.actual.size(); ++k) {
        report({Difference::Kind::kExtra, "rule", want.name(), spec.name,
                static_cast<int>(run.actual[k]) + 1, "",
                text_of_actual(run.actual[k])});
      }
    }
  }
  // Named sets: declared alike, holding the same elements.
  for (const LoweredNamedSet& s : want.named_sets) {
    const std::string& name = s.spec->name;
    const std::string want_type = SetTypeText(KeyTypeOf(s), FlagsOf(s));
    auto it = have.named_sets.find(name);
    if (it == have.named_sets.end()) {
      report({Difference::Kind::kMissing, "set", want.name(), name, 0,
              absl::StrCat(want_type, "; ", s.elements.size(), " element(s)"),
              ""});
      if (out == nullptr) return false;
      continue;
    }
    const KernelSet& k = it->second;
    const std::string have_type = SetTypeText(k.key_type, k.flags);
    if (have_type != want_type ||
        k.key_len != nftnl_set_get_u32(s.set.get(), NFTNL_SET_KEY_LEN)) {
      report({Difference::Kind::kChanged, "set", want.name(), name, 0,
              want_type, have_type});
      if (out == nullptr) return false;
      continue;
    }
    const SetEdit e = Diff(s, k.elements);
    for (const std::string& key : e.add) {
      report({Difference::Kind::kMissing, "set element", want.name(), name, 0,
              ElementText(key), ""});
    }
    for (const std::string& key : e.remove) {
      report({Difference::Kind::kExtra, "set element", want.name(), name, 0, "",
              ElementText(key)});
    }
    if (!equal && out == nullptr) return false;
  }
  for (const auto& [name, k] : have.named_sets) {
    if (want.FindNamedSet(name) != nullptr) continue;
    report({Difference::Kind::kExtra, "set", want.name(), name, 0, "",
            absl::StrCat(SetTypeText(k.key_type, k.flags), "; ",
                         k.elements.size(), " element(s)")});
    if (out == nullptr) return false;
  }
  for (const KernelChain& kc : have.chains) {
    if (wanted.count(kc.name) > 0) continue;
    report({Difference::Kind::kExtra, "chain", want.name(), kc.name, 0, "",
            absl::StrCat(DescribeChain(kc.base, kc.hook, kc.priority, kc.type),
                         " with ", kc.rules.size(), " rule(s)")});
    if (out == nullptr) return false;
  }
  return equal;
}

}  // namespace meshcap::nft
