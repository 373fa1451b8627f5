// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_nft/read.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "backends/iptables/dialect.h"
#include "backends/iptables_nft/lower.h"
#include "backends/iptables_nft/xt_rule.h"
#include "src/status_macros.h"

namespace meshcap::iptnft {
namespace {

std::optional<IpFamily> FamilyOf(uint32_t nfproto) {
  if (nfproto == NFPROTO_IPV4) return IpFamily::kIpv4;
  if (nfproto == NFPROTO_IPV6) return IpFamily::kIpv6;
  return std::nullopt;
}

std::optional<ir::TableKind> KindOf(const std::string& name) {
  if (name == "nat") return ir::TableKind::kNat;
  if (name == "mangle") return ir::TableKind::kMangle;
  if (name == "raw") return ir::TableKind::kRaw;
  return std::nullopt;
}

}  // namespace

const KChain* KTable::Find(const std::string& chain) const {
  for (const KChain& c : chains) {
    if (c.name == chain) return &c;
  }
  return nullptr;
}

std::string KTable::Where() const {
  return absl::StrCat(FamilyName(family), " ", name);
}

bool KTable::HasIstioChain() const {
  return std::any_of(chains.begin(), chains.end(), [](const KChain& c) {
    return !c.base && ipt::IsOurChain(c.name);
  });
}

bool KTable::IsBuiltin(const KChain& c) const {
  if (!c.base) return false;
  std::optional<BaseChainSpec> spec = BuiltinChain(name, c.name);
  return spec.has_value() && spec->hook == c.hook &&
         spec->priority == c.priority && c.type == spec->type;
}

bool KTable::IsOurs(const KChain& c, const nftnl_rule* rule) const {
  if (!c.base) return ipt::IsOurChain(c.name);
  if (!ipt::IsBuiltinChain(c.name)) return false;
  if (HasTag(rule)) return true;
  NftRuleReader r(family, rule);
  if (!r.jump().empty() && ipt::IsOurChain(r.jump())) return true;
  std::optional<ir::TableKind> kind = KindOf(name);
  if (!kind.has_value() || !HasIstioChain()) return false;
  std::optional<ir::Rule> decoded = ipt::DecodeRule(r);
  return decoded.has_value() &&
         ipt::IsIstioBuiltinRule(*decoded, *kind, c.name);
}

bool KTable::WhollyOurs() const {
  for (const KChain& c : chains) {
    if (c.base) {
      // A base chain of somebody else's making, or with another policy.
      if (!IsBuiltin(c) || c.policy != NF_ACCEPT) return false;
    } else if (!ipt::IsOurChain(c.name)) {
      return false;
    }
    for (const auto& r : c.rules) {
      if (!IsOurs(c, r.get())) return false;
    }
  }
  return true;
}

bool KTable::HoldsOurs() const {
  for (const KChain& c : chains) {
    if (!c.base && ipt::IsOurChain(c.name)) return true;
    if (!c.base) continue;
    for (const auto& r : c.rules) {
      if (IsOurs(c, r.get())) return true;
    }
  }
  return false;
}

const KTable* KState::Find(IpFamily f, const std::string& name) const {
  for (const KTable& t : tables) {
    if (t.family == f && t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<KState> ReadTables(
    internal::NetlinkTransport& nl, ReadRules rules,
    const std::function<bool(const std::string&)>& want) {
  auto wanted = [&](const std::string& name) {
    return want ? want(name) : KindOf(name).has_value();
  };
  KState state;
  auto find = [&](uint32_t nfproto, const char* table) -> KTable* {
    std::optional<IpFamily> f = FamilyOf(nfproto);
    if (!f.has_value() || table == nullptr) return nullptr;
    for (KTable& t : state.tables) {
      if (t.family == *f && t.name == table) return &t;
    }
    return nullptr;
  };
  char buf[256] = {};
  nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE,
                                              NFPROTO_UNSPEC, NLM_F_DUMP, 0);
  MESHCAP_RETURN_IF_ERROR(nl.Request(
      nlh, "cannot list the nf_tables tables", [&](const nlmsghdr* m) {
        nftnl::Ptr<nftnl_table> t(nftnl_table_alloc());
        if (nftnl_table_nlmsg_parse(m, t.get()) < 0) {
          return absl::InternalError("cannot parse a table from the kernel");
        }
        std::optional<IpFamily> f =
            FamilyOf(nftnl_table_get_u32(t.get(), NFTNL_TABLE_FAMILY));
        const char* name = nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME);
        if (f.has_value() && name != nullptr && wanted(name)) {
          KTable& kt = state.tables.emplace_back();
          kt.family = *f;
          kt.name = name;
        }
        return absl::OkStatus();
      }));
  if (state.tables.empty()) return state;
  // iptables-save's order: ip before ip6, then by name.
  std::sort(state.tables.begin(), state.tables.end(),
            [](const KTable& a, const KTable& b) {
              return std::make_pair(a.family, a.name) <
                     std::make_pair(b.family, b.name);
            });
  nlh = nftnl_chain_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC,
                                    NLM_F_DUMP, 0);
  MESHCAP_RETURN_IF_ERROR(nl.Request(
      nlh, "cannot list the nf_tables chains", [&](const nlmsghdr* m) {
        nftnl::Ptr<nftnl_chain> c(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(m, c.get()) < 0) {
          return absl::InternalError("cannot parse a chain from the kernel");
        }
        KTable* t = find(nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_FAMILY),
                         nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE));
        if (t == nullptr) return absl::OkStatus();
        KChain& kc = t->chains.emplace_back();
        const char* name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
        kc.name = name != nullptr ? name : "";
        kc.handle = nftnl_chain_get_u64(c.get(), NFTNL_CHAIN_HANDLE);
        kc.base = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM);
        if (kc.base) {
          kc.hook = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM);
          kc.priority = nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO);
          const char* type = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE);
          kc.type = type != nullptr ? type : "";
          if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_POLICY)) {
            kc.policy = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY);
          }
        }
        return absl::OkStatus();
      }));
  if (rules == ReadRules::kNone) return state;
  auto on_rule = [&](const nlmsghdr* m) {
    nftnl::Ptr<nftnl_rule> r(nftnl_rule_alloc());
    if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) {
      return absl::InternalError("cannot parse a rule from the kernel");
    }
    KTable* t = find(nftnl_rule_get_u32(r.get(), NFTNL_RULE_FAMILY),
                     nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE));
    const char* chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
    if (t == nullptr || chain == nullptr) return absl::OkStatus();
    for (KChain& c : t->chains) {
      if (c.name == chain) {
        c.rules.push_back(std::move(r));
        break;
      }
    }
    return absl::OkStatus();
  };
  if (rules == ReadRules::kAll) {
    nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_UNSPEC,
                                     NLM_F_DUMP, 0);
    MESHCAP_RETURN_IF_ERROR(
        nl.Request(nlh, "cannot list the nf_tables rules", on_rule));
    return state;
  }
  for (KTable& t : state.tables) {
    for (const KChain& c : t.chains) {
      const bool ours =
          c.base ? ipt::IsBuiltinChain(c.name) : ipt::IsOurChain(c.name);
      if (!ours) continue;
      char req[512] = {};
      nftnl::Ptr<nftnl_rule> filter(nftnl_rule_alloc());
      nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, t.name.c_str());
      nftnl_rule_set_str(filter.get(), NFTNL_RULE_CHAIN, c.name.c_str());
      nlmsghdr* r = nftnl_rule_nlmsg_build_hdr(
          req, NFT_MSG_GETRULE, NfFamily(t.family), NLM_F_DUMP, 0);
      nftnl_rule_nlmsg_build_payload(r, filter.get());
      absl::Status s =
          nl.Request(r, "cannot list the nf_tables rules", on_rule);
      // A chain listed a moment ago and gone now: somebody else committed
      // in between; the caller reads again.
      if (absl::IsNotFound(s)) {
        return absl::AbortedError(
            absl::StrCat("chain ", c.name, " of ", t.Where(),
                         " went away while it was read: ", s.message()));
      }
      MESHCAP_RETURN_IF_ERROR(s);
    }
  }
  return state;
}

}  // namespace meshcap::iptnft
