// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/nft_verify.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/nft_text.h"
#include "src/seq_diff.h"
#include "src/status_macros.h"

namespace meshcap::nft {
namespace {

// Enough attribute ids to cover every expression type's attributes.
constexpr uint16_t kExprAttrLimit = NFTNL_EXPR_BASE + 16;

using Elements = std::vector<std::string>;  // sorted keys, as bytes

struct ActualChain {
  std::string name;
  bool base = false;
  uint32_t hook = 0;
  int32_t prio = 0;
  std::string type;
  std::vector<NftnlPtr<nftnl_rule>> rules;
};

struct ActualTable {
  std::map<std::string, Elements> sets;  // by kernel name
  std::vector<ActualChain> chains;       // in kernel order

  ActualChain* Find(const std::string& name) {
    for (ActualChain& c : chains) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
};

// Resolves a lookup expression to its set's elements, on either side.
struct SetResolver {
  const LoweredTable* desired = nullptr;  // by NFTNL_EXPR_LOOKUP_SET_ID
  const ActualTable* actual = nullptr;    // by NFTNL_EXPR_LOOKUP_SET
  std::map<uint32_t, Elements> desired_sets;

  const Elements* Resolve(const nftnl_expr* lookup) const {
    if (desired != nullptr) {
      if (!nftnl_expr_is_set(lookup, NFTNL_EXPR_LOOKUP_SET_ID)) return nullptr;
      auto it = desired_sets.find(
          nftnl_expr_get_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID));
      return it == desired_sets.end() ? nullptr : &it->second;
    }
    const char* name = nftnl_expr_get_str(lookup, NFTNL_EXPR_LOOKUP_SET);
    if (name == nullptr) return nullptr;
    auto it = actual->sets.find(name);
    return it == actual->sets.end() ? nullptr : &it->second;
  }
};

bool AllZero(const void* data, uint32_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  return std::all_of(p, p + len, [](uint8_t b) { return b == 0; });
}

// An attribute's value, with the kernel's defaults filled in where it
// reports something we leave implicit.
const void* AttrValue(const nftnl_expr* e, const char* name, uint16_t type,
                      uint32_t* len) {
  if (strcmp(name, "redir") == 0 && type == NFTNL_EXPR_REDIR_REG_PROTO_MAX &&
      !nftnl_expr_is_set(e, type)) {
    // The kernel copies the min register when no max is given.
    type = NFTNL_EXPR_REDIR_REG_PROTO_MIN;
  }
  if (!nftnl_expr_is_set(e, type)) return nullptr;
  return nftnl_expr_get(e, type, len);
}

bool ExprEqual(const nftnl_expr* a, const SetResolver& ra, const nftnl_expr* b,
               const SetResolver& rb) {
  const char* name = nftnl_expr_get_str(a, NFTNL_EXPR_NAME);
  if (strcmp(name, nftnl_expr_get_str(b, NFTNL_EXPR_NAME)) != 0) return false;
  if (strcmp(name, "counter") == 0) return true;  // values always differ
  const bool lookup = strcmp(name, "lookup") == 0;
  for (uint16_t type = NFTNL_EXPR_BASE; type < kExprAttrLimit; ++type) {
    if (lookup &&
        (type == NFTNL_EXPR_LOOKUP_SET || type == NFTNL_EXPR_LOOKUP_SET_ID)) {
      continue;  // names differ by side; the contents are compared below
    }
    uint32_t la = 0, lb = 0;
    const void* da = AttrValue(a, name, type, &la);
    const void* db = AttrValue(b, name, type, &lb);
    if (da == nullptr && db == nullptr) continue;
    if (da == nullptr) {
      if (!AllZero(db, lb)) return false;
      continue;
    }
    if (db == nullptr) {
      if (!AllZero(da, la)) return false;
      continue;
    }
    if (la != lb || memcmp(da, db, la) != 0) return false;
  }
  if (lookup) {
    const Elements* ea = ra.Resolve(a);
    const Elements* eb = rb.Resolve(b);
    if (ea == nullptr || eb == nullptr || *ea != *eb) return false;
  }
  return true;
}

std::vector<const nftnl_expr*> Exprs(const nftnl_rule* r) {
  std::vector<const nftnl_expr*> out;
  nftnl_expr_iter* it = nftnl_expr_iter_create(r);
  while (const nftnl_expr* e = nftnl_expr_iter_next(it)) out.push_back(e);
  nftnl_expr_iter_destroy(it);
  return out;
}

bool RuleEqual(const nftnl_rule* a, const SetResolver& ra, const nftnl_rule* b,
               const SetResolver& rb) {
  const auto ea = Exprs(a);
  const auto eb = Exprs(b);
  if (ea.size() != eb.size()) return false;
  for (size_t i = 0; i < ea.size(); ++i) {
    if (!ExprEqual(ea[i], ra, eb[i], rb)) return false;
  }
  return true;
}

// A kernel rule nobody asked for, as its expressions.
std::string DescribeActual(const nftnl_rule* r, const SetResolver& rs) {
  std::vector<std::string> parts;
  char buf[512];
  for (const nftnl_expr* e : Exprs(r)) {
    const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    if (strcmp(name, "counter") == 0) {
      parts.push_back("[ counter ]");
      continue;
    }
    nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
    std::string text = absl::StrCat("[ ", name, " ", buf, "]");
    if (strcmp(name, "lookup") == 0) {
      if (const Elements* el = rs.Resolve(e)) {
        std::vector<std::string> ports;
        for (const std::string& k : *el) {
          if (k.size() == 2) {
            ports.push_back(absl::StrCat((static_cast<uint8_t>(k[0]) << 8) |
                                         static_cast<uint8_t>(k[1])));
          }
        }
        absl::StrAppend(&text, "{ ", absl::StrJoin(ports, ", "), " }");
      }
    }
    parts.push_back(std::move(text));
  }
  return absl::StrJoin(parts, " ");
}

std::string DescribeChainSpec(bool base, uint32_t hook, int32_t prio,
                              const std::string& type) {
  if (!base) return "regular chain";
  return absl::StrCat(
      "type ", type, " hook ",
      hook == NF_INET_PRE_ROUTING
          ? "prerouting"
          : (hook == NF_INET_LOCAL_OUT ? "output" : absl::StrCat(hook)),
      " priority ", prio);
}

// --- Reading the kernel ------------------------------------------------------

absl::StatusOr<std::set<std::string>> DumpOurTableNames(NetlinkSocket& sock) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE,
                                              NFPROTO_INET, NLM_F_DUMP, 0);
  std::set<std::string> ours;
  for (TableKind k : kOurTables) ours.insert(NftablesTableName(k));
  std::set<std::string> present;
  MESHCAP_RETURN_IF_ERROR(sock.Request(nlh, [&](const nlmsghdr* m) {
    NftnlPtr<nftnl_table> t(nftnl_table_alloc());
    if (nftnl_table_nlmsg_parse(m, t.get()) < 0) {
      return absl::InternalError("cannot parse a table from the kernel");
    }
    const char* name = nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME);
    if (name != nullptr && ours.count(name) > 0) present.insert(name);
    return absl::OkStatus();
  }));
  return present;
}

absl::Status ReadTable(NetlinkSocket& sock, const std::string& table,
                       ActualTable* out) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  // Chains: the kernel does not filter chain dumps by table.
  nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN,
                                              NFPROTO_INET, NLM_F_DUMP, 0);
  MESHCAP_RETURN_IF_ERROR(sock.Request(nlh, [&](const nlmsghdr* m) {
    NftnlPtr<nftnl_chain> c(nftnl_chain_alloc());
    if (nftnl_chain_nlmsg_parse(m, c.get()) < 0) {
      return absl::InternalError("cannot parse a chain from the kernel");
    }
    if (table != nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE)) {
      return absl::OkStatus();
    }
    ActualChain& ac = out->chains.emplace_back();
    ac.name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
    ac.base = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM);
    if (ac.base) {
      ac.hook = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM);
      ac.prio = nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO);
      const char* type = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE);
      ac.type = type != nullptr ? type : "";
    }
    return absl::OkStatus();
  }));

  // Sets, then each set's elements.
  NftnlPtr<nftnl_set> filter(nftnl_set_alloc());
  nftnl_set_set_str(filter.get(), NFTNL_SET_TABLE, table.c_str());
  nlh = nftnl_set_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET, NLM_F_DUMP,
                                  0);
  nftnl_set_nlmsg_build_payload(nlh, filter.get());
  std::vector<std::string> set_names;
  MESHCAP_RETURN_IF_ERROR(sock.Request(nlh, [&](const nlmsghdr* m) {
    NftnlPtr<nftnl_set> s(nftnl_set_alloc());
    if (nftnl_set_nlmsg_parse(m, s.get()) < 0) {
      return absl::InternalError("cannot parse a set from the kernel");
    }
    if (table == nftnl_set_get_str(s.get(), NFTNL_SET_TABLE)) {
      set_names.emplace_back(nftnl_set_get_str(s.get(), NFTNL_SET_NAME));
    }
    return absl::OkStatus();
  }));
  for (const std::string& name : set_names) {
    NftnlPtr<nftnl_set> s(nftnl_set_alloc());
    nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
    nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name.c_str());
    nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nlh = nftnl_set_elem_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
                                         NLM_F_DUMP, 0);
    nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
    Elements& elements = out->sets[name];
    MESHCAP_RETURN_IF_ERROR(sock.Request(nlh, [&](const nlmsghdr* m) {
      NftnlPtr<nftnl_set> got(nftnl_set_alloc());
      if (nftnl_set_elems_nlmsg_parse(m, got.get()) < 0) {
        return absl::InternalError("cannot parse set elements from the kernel");
      }
      nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(got.get());
      while (nftnl_set_elem* e = nftnl_set_elems_iter_next(it)) {
        uint32_t len = 0;
        const void* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
        if (key != nullptr) {
          elements.emplace_back(static_cast<const char*>(key), len);
        }
      }
      nftnl_set_elems_iter_destroy(it);
      return absl::OkStatus();
    }));
    std::sort(elements.begin(), elements.end());
  }

  // Rules, filtered by the kernel to this table, in chain order.
  NftnlPtr<nftnl_rule> rfilter(nftnl_rule_alloc());
  nftnl_rule_set_str(rfilter.get(), NFTNL_RULE_TABLE, table.c_str());
  nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
                                   NLM_F_DUMP, 0);
  nftnl_rule_nlmsg_build_payload(nlh, rfilter.get());
  return sock.Request(nlh, [&](const nlmsghdr* m) {
    NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
    if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) {
      return absl::InternalError("cannot parse a rule from the kernel");
    }
    if (table != nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE)) {
      return absl::OkStatus();
    }
    ActualChain* c = out->Find(nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN));
    if (c != nullptr) c->rules.push_back(std::move(r));
    return absl::OkStatus();
  });
}

// --- Comparing ---------------------------------------------------------------

void DiffRules(const LoweredTable& want, const std::string& chain,
               const std::vector<const LoweredRule*>& desired,
               const SetResolver& rd, const ActualChain& have,
               const SetResolver& ra, std::vector<Difference>* out) {
  auto eq = [&](size_t i, size_t j) {
    return RuleEqual(desired[i]->rule.get(), rd, have.rules[j].get(), ra);
  };
  auto text_of_actual = [&](size_t j) {
    for (const LoweredRule* d : desired) {
      if (RuleEqual(d->rule.get(), rd, have.rules[j].get(), ra)) {
        return internal::NftRuleText(*d->source);
      }
    }
    return DescribeActual(have.rules[j].get(), ra);
  };
  for (const internal::DiffRun& run :
       internal::AlignSequences(desired.size(), have.rules.size(), eq)) {
    const size_t paired = std::min(run.desired.size(), run.actual.size());
    for (size_t k = 0; k < run.desired.size(); ++k) {
      Difference d;
      d.table = want.name;
      d.chain = chain;
      d.position = static_cast<int>(run.desired[k]) + 1;
      d.desired = internal::NftRuleText(*desired[run.desired[k]]->source);
      if (k < paired) {
        d.kind = Difference::Kind::kChanged;
        d.actual = text_of_actual(run.actual[k]);
      } else {
        d.kind = Difference::Kind::kMissing;
      }
      out->push_back(std::move(d));
    }
    for (size_t k = paired; k < run.actual.size(); ++k) {
      Difference d;
      d.kind = Difference::Kind::kExtra;
      d.table = want.name;
      d.chain = chain;
      d.position = static_cast<int>(run.actual[k]) + 1;
      d.actual = text_of_actual(run.actual[k]);
      out->push_back(std::move(d));
    }
  }
}

void DiffTable(const LoweredTable& want, ActualTable& have,
               std::vector<Difference>* out) {
  SetResolver rd;
  rd.desired = &want;
  for (const LoweredSet& s : want.sets) {
    Elements& e = rd.desired_sets[s.id];
    for (uint16_t p : s.ports) {
      const uint16_t key = htons(p);
      e.emplace_back(reinterpret_cast<const char*>(&key), 2);
    }
    std::sort(e.begin(), e.end());
  }
  SetResolver ra;
  ra.actual = &have;

  std::set<std::string> wanted_chains;
  for (const LoweredChain& c : want.chains) {
    wanted_chains.insert(c.name);
    ActualChain* ac = have.Find(c.name);
    std::vector<const LoweredRule*> desired;
    for (const LoweredRule& r : want.rules) {
      if (r.chain == c.name) desired.push_back(&r);
    }
    const ChainSpec& spec = *c.spec;
    const std::string want_spec = DescribeChainSpec(
        spec.is_base(),
        spec.is_base() && *spec.hook == Hook::kPrerouting ? NF_INET_PRE_ROUTING
                                                          : NF_INET_LOCAL_OUT,
        spec.priority, internal::NftChainTypeName(spec.type));
    if (ac == nullptr) {
      out->push_back(
          {Difference::Kind::kMissing, want.name, c.name, 0, want_spec, ""});
      for (const LoweredRule* r : desired) {
        out->push_back({Difference::Kind::kMissing, want.name, c.name,
                        r->position, internal::NftRuleText(*r->source), ""});
      }
      continue;
    }
    const std::string have_spec =
        DescribeChainSpec(ac->base, ac->hook, ac->prio, ac->type);
    if (have_spec != want_spec) {
      out->push_back({Difference::Kind::kChanged, want.name, c.name, 0,
                      want_spec, have_spec});
    }
    DiffRules(want, c.name, desired, rd, *ac, ra, out);
  }
  for (const ActualChain& ac : have.chains) {
    if (wanted_chains.count(ac.name) > 0) continue;
    out->push_back(
        {Difference::Kind::kExtra, want.name, ac.name, 0, "",
         absl::StrCat(DescribeChainSpec(ac.base, ac.hook, ac.prio, ac.type),
                      " with ", ac.rules.size(), " rule(s)")});
  }
}

absl::StatusOr<VerifyReport> ReadAndCompare(NetlinkSocket& sock,
                                            const LoweredRuleSet& desired) {
  VerifyReport report;
  MESHCAP_ASSIGN_OR_RETURN(report.generation, sock.GetGeneration());
  MESHCAP_ASSIGN_OR_RETURN(std::set<std::string> present,
                           DumpOurTableNames(sock));
  for (TableKind kind : kOurTables) {
    const std::string name = NftablesTableName(kind);
    const LoweredTable* want = nullptr;
    for (const LoweredTable& t : desired.tables) {
      if (t.kind == kind) want = &t;
    }
    const bool there = present.count(name) > 0;
    if (want == nullptr && !there) continue;
    if (want == nullptr) {
      report.differences.push_back(
          {Difference::Kind::kExtra, name, "", 0, "", "table inet " + name});
      continue;
    }
    if (!there) {
      report.differences.push_back(
          {Difference::Kind::kMissing, name, "", 0, "table inet " + name, ""});
      continue;
    }
    ActualTable have;
    MESHCAP_RETURN_IF_ERROR(ReadTable(sock, name, &have));
    DiffTable(*want, have, &report.differences);
  }
  return report;
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyTables(NetlinkSocket& sock,
                                          const LoweredRuleSet& desired) {
  // A dump that races with a commit is flagged by the kernel; read again.
  constexpr int kAttempts = 5;
  absl::StatusOr<VerifyReport> report;
  for (int i = 0; i < kAttempts; ++i) {
    report = ReadAndCompare(sock, desired);
    if (!absl::IsAborted(report.status())) break;
  }
  return report;
}

}  // namespace meshcap::nft
