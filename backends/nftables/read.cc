// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/read.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/netlink/nl_attr.h"
#include "src/status_macros.h"

namespace meshcap::nft {

using internal::NetlinkTransport;

const KernelChain* KernelTable::Find(const std::string& chain) const {
  for (const KernelChain& c : chains) {
    if (c.name == chain) return &c;
  }
  return nullptr;
}

absl::StatusOr<std::set<std::string>> ListOurTables(NetlinkTransport& nl) {
  char buf[256] = {};
  nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE,
                                              NFPROTO_INET, NLM_F_DUMP, 0);
  const auto& ours = OurTableNames();
  std::set<std::string> present;
  MESHCAP_RETURN_IF_ERROR(nl.Request(
      nlh, "cannot list the nftables tables", [&](const nlmsghdr* m) {
        NftnlPtr<nftnl_table> t(nftnl_table_alloc());
        if (nftnl_table_nlmsg_parse(m, t.get()) < 0) {
          return absl::InternalError("cannot parse a table from the kernel");
        }
        const char* name = nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME);
        if (name != nullptr &&
            std::find(ours.begin(), ours.end(), name) != ours.end()) {
          present.insert(name);
        }
        return absl::OkStatus();
      }));
  return present;
}

namespace {

absl::Status ReadSets(NetlinkTransport& nl, KernelTable& table) {
  char buf[512] = {};
  NftnlPtr<nftnl_set> filter(nftnl_set_alloc());
  nftnl_set_set_str(filter.get(), NFTNL_SET_TABLE, table.name.c_str());
  nlmsghdr* nlh = nftnl_set_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET,
                                            NLM_F_DUMP, 0);
  nftnl_set_nlmsg_build_payload(nlh, filter.get());
  std::vector<std::string> names;
  MESHCAP_RETURN_IF_ERROR(
      nl.Request(nlh, "cannot list the nftables sets", [&](const nlmsghdr* m) {
        NftnlPtr<nftnl_set> s(nftnl_set_alloc());
        if (nftnl_set_nlmsg_parse(m, s.get()) < 0) {
          return absl::InternalError("cannot parse a set from the kernel");
        }
        const char* t = nftnl_set_get_str(s.get(), NFTNL_SET_TABLE);
        const char* name = nftnl_set_get_str(s.get(), NFTNL_SET_NAME);
        if (t != nullptr && name != nullptr && table.name == t) {
          names.emplace_back(name);
          const uint32_t flags = nftnl_set_get_u32(s.get(), NFTNL_SET_FLAGS);
          if ((flags & NFT_SET_ANONYMOUS) == 0) {
            KernelSet& ks = table.named_sets[name];
            ks.flags = flags;
            ks.key_type = nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_TYPE);
            ks.key_len = nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_LEN);
          }
        }
        return absl::OkStatus();
      }));
  for (const std::string& name : names) {
    NftnlPtr<nftnl_set> s(nftnl_set_alloc());
    nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.name.c_str());
    nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name.c_str());
    nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nlh = nftnl_set_elem_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
                                         NLM_F_DUMP, 0);
    nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
    std::vector<std::string>& keys = table.sets[name];
    std::vector<std::pair<std::string, bool>> elements;
    MESHCAP_RETURN_IF_ERROR(nl.Request(
        nlh, "cannot list the elements of an nftables set",
        [&](const nlmsghdr* m) {
          NftnlPtr<nftnl_set> got(nftnl_set_alloc());
          if (nftnl_set_elems_nlmsg_parse(m, got.get()) < 0) {
            return absl::InternalError(
                "cannot parse set elements from the kernel");
          }
          nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(got.get());
          while (nftnl_set_elem* e = nftnl_set_elems_iter_next(it)) {
            uint32_t len = 0;
            const void* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
            if (key != nullptr) {
              keys.emplace_back(static_cast<const char*>(key), len);
              const bool end =
                  nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
                  (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
                   NFT_SET_ELEM_INTERVAL_END) != 0;
              elements.emplace_back(keys.back(), end);
            }
          }
          nftnl_set_elems_iter_destroy(it);
          return absl::OkStatus();
        }));
    std::sort(keys.begin(), keys.end());
    auto named = table.named_sets.find(name);
    if (named != table.named_sets.end()) {
      named->second.elements = CanonicalFromKernel(
          std::move(elements), (named->second.flags & NFT_SET_INTERVAL) != 0,
          named->second.key_len);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadRules(NetlinkTransport& nl, KernelTable& table) {
  char buf[512] = {};
  NftnlPtr<nftnl_rule> filter(nftnl_rule_alloc());
  nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, table.name.c_str());
  nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
                                             NLM_F_DUMP, 0);
  nftnl_rule_nlmsg_build_payload(nlh, filter.get());
  return nl.Request(
      nlh, "cannot list the nftables rules", [&](const nlmsghdr* m) {
        NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
        if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) {
          return absl::InternalError("cannot parse a rule from the kernel");
        }
        const char* t = nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE);
        const char* chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
        if (t == nullptr || chain == nullptr || table.name != t) {
          return absl::OkStatus();
        }
        for (KernelChain& c : table.chains) {
          if (c.name == chain) {
            c.rules.push_back(std::move(r));
            break;
          }
        }
        return absl::OkStatus();
      });
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> ReadRuleHandles(
    NetlinkTransport& nl, const std::string& table, const std::string& chain) {
  char buf[512] = {};
  NftnlPtr<nftnl_rule> filter(nftnl_rule_alloc());
  nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(filter.get(), NFTNL_RULE_CHAIN, chain.c_str());
  nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
                                             NLM_F_DUMP, 0);
  nftnl_rule_nlmsg_build_payload(nlh, filter.get());
  std::vector<uint64_t> handles;
  MESHCAP_RETURN_IF_ERROR(
      nl.Request(nlh, "cannot list the nftables rules", [&](const nlmsghdr* m) {
        NftnlPtr<nftnl_rule> r(nftnl_rule_alloc());
        if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) {
          return absl::InternalError("cannot parse a rule from the kernel");
        }
        const char* t = nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE);
        const char* c = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
        if (t != nullptr && c != nullptr && table == t && chain == c) {
          handles.push_back(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE));
        }
        return absl::OkStatus();
      }));
  return handles;
}

absl::StatusOr<std::map<std::string, KernelTable>> ReadTables(
    NetlinkTransport& nl, const std::vector<std::string>& names) {
  std::map<std::string, KernelTable> tables;
  if (names.empty()) return tables;
  for (const std::string& n : names) tables[n].name = n;
  char buf[256] = {};
  nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN,
                                              NFPROTO_INET, NLM_F_DUMP, 0);
  MESHCAP_RETURN_IF_ERROR(nl.Request(
      nlh, "cannot list the nftables chains", [&](const nlmsghdr* m) {
        NftnlPtr<nftnl_chain> c(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(m, c.get()) < 0) {
          return absl::InternalError("cannot parse a chain from the kernel");
        }
        const char* t = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE);
        auto it = t != nullptr ? tables.find(t) : tables.end();
        if (it == tables.end()) return absl::OkStatus();
        KernelChain& kc = it->second.chains.emplace_back();
        kc.name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
        kc.base = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM);
        if (kc.base) {
          kc.hook = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM);
          kc.priority = nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO);
          const char* type = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE);
          kc.type = type != nullptr ? type : "";
        }
        return absl::OkStatus();
      }));
  for (auto& [name, table] : tables) {
    absl::Status s = ReadSets(nl, table);
    if (s.ok()) s = ReadRules(nl, table);
    // A table listed a moment ago and gone now: somebody else committed in
    // between. Aborted makes the caller read again.
    if (absl::IsNotFound(s)) {
      return absl::AbortedError(
          absl::StrCat("nftables table ", name,
                       " went away while it was read: ", s.message()));
    }
    MESHCAP_RETURN_IF_ERROR(s);
  }
  return tables;
}

}  // namespace meshcap::nft
