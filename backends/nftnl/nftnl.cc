// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftnl/nftnl.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "src/netlink/nl_attr.h"
#include "src/status_macros.h"

namespace meshcap::nftnl {

void Deleter::operator()(nftnl_table* p) const { nftnl_table_free(p); }
void Deleter::operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
void Deleter::operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
void Deleter::operator()(nftnl_set* p) const { nftnl_set_free(p); }
void Deleter::operator()(nftnl_expr* p) const { nftnl_expr_free(p); }

nftnl_expr* MetaLoad(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
  return e;
}

nftnl_expr* MetaSet(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
  return e;
}

nftnl_expr* CtLoad(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
  return e;
}

nftnl_expr* CtSet(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
  return e;
}

nftnl_expr* Cmp(uint32_t op, const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
  return e;
}

nftnl_expr* Payload(uint32_t base, uint32_t offset, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  return e;
}

nftnl_expr* Bitwise(const void* mask, const void* xor_value, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("bitwise");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor_value, len);
  return e;
}

nftnl_expr* Counter() { return nftnl_expr_alloc("counter"); }

nftnl_expr* Verdict(int code, const std::string* chain) {
  nftnl_expr* e = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(code));
  if (chain != nullptr) {
    nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain->c_str());
  }
  return e;
}

nftnl_expr* Immediate(const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
  nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
  return e;
}

namespace {

// A malloc'd copy, for libnftnl to own.
void* OwnedCopy(const void* data, uint32_t len) {
  void* p = malloc(len > 0 ? len : 1);
  if (len > 0) memcpy(p, data, len);
  return p;
}

}  // namespace

nftnl_expr* XtMatch(const char* name, uint32_t revision, const void* data,
                    uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("match");
  nftnl_expr_set_str(e, NFTNL_EXPR_MT_NAME, name);
  nftnl_expr_set_u32(e, NFTNL_EXPR_MT_REV, revision);
  // libnftnl keeps (and frees) the INFO pointer it is given.
  nftnl_expr_set(e, NFTNL_EXPR_MT_INFO, OwnedCopy(data, len), len);
  return e;
}

nftnl_expr* XtTarget(const char* name, uint32_t revision, const void* data,
                     uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("target");
  nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, name);
  nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, revision);
  nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, OwnedCopy(data, len), len);
  return e;
}

std::string ExprName(const nftnl_expr* e) {
  const char* n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
  return n != nullptr ? n : "";
}

std::string AttrBytes(const nftnl_expr* e, uint16_t attr) {
  if (!nftnl_expr_is_set(e, attr)) return {};
  uint32_t len = 0;
  const void* p = nftnl_expr_get(e, attr, &len);
  return p == nullptr ? std::string()
                      : std::string(static_cast<const char*>(p), len);
}

uint32_t AttrU32(const nftnl_expr* e, uint16_t attr) {
  return nftnl_expr_is_set(e, attr) ? nftnl_expr_get_u32(e, attr) : 0;
}

namespace {

// Enough attribute ids to cover every expression type's attributes.
constexpr uint16_t kExprAttrLimit = NFTNL_EXPR_BASE + 16;

bool AllZero(const void* data, uint32_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (uint32_t i = 0; i < len; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// An attribute's value, with the kernel's defaults filled in where it
// reports something we leave implicit.
const void* AttrValue(const nftnl_expr* e, const std::string& name,
                      uint16_t type, uint32_t* len) {
  if (name == "redir" && type == NFTNL_EXPR_REDIR_REG_PROTO_MAX &&
      !nftnl_expr_is_set(e, type)) {
    // The kernel copies the min register when no max is given.
    type = NFTNL_EXPR_REDIR_REG_PROTO_MIN;
  }
  if (!nftnl_expr_is_set(e, type)) return nullptr;
  return nftnl_expr_get(e, type, len);
}

}  // namespace

bool ExprEqual(const nftnl_expr* a, const nftnl_expr* b,
               const std::function<bool(uint16_t type)>& skip) {
  const std::string name = ExprName(a);
  if (name != ExprName(b)) return false;
  if (name == "counter") return true;  // values always differ
  for (uint16_t type = NFTNL_EXPR_BASE; type < kExprAttrLimit; ++type) {
    if (skip && skip(type)) continue;
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
  return true;
}

absl::StatusOr<uint32_t> GetGeneration(internal::NetlinkTransport& nl) {
  char buf[256] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* nfg =
      static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  uint32_t gen = 0;
  bool found = false;
  MESHCAP_RETURN_IF_ERROR(nl.Request(
      nlh, "cannot read the nftables ruleset generation",
      [&](const nlmsghdr* m) {
        internal::ForEachAttr(m, sizeof(nfgenmsg), [&](const nlattr* attr) {
          if (mnl_attr_get_type(attr) == NFTA_GEN_ID &&
              mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
            gen = ntohl(mnl_attr_get_u32(attr));
            found = true;
          }
        });
        return absl::OkStatus();
      }));
  if (!found) {
    return absl::UnavailableError(
        "the kernel did not report an nftables ruleset generation");
  }
  return gen;
}

}  // namespace meshcap::nftnl
