// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/expr/codec.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>

#include "absl/strings/str_format.h"
#include "backends/nftnl/nftnl.h"

namespace meshcap::nft {

// --- RuleEncoder -------------------------------------------------------------

RuleEncoder::RuleEncoder(nftnl_rule* rule, std::vector<int16_t>* origins,
                         ir::Scope scope,
                         std::function<uint32_t(const ir::PortMatch&)> add_set)
    : rule_(rule),
      origins_(origins),
      scope_(scope),
      add_set_(std::move(add_set)) {}

void RuleEncoder::Add(nftnl_expr* e) {
  nftnl_rule_add_expr(rule_, e);
  origins_->push_back(origin_);
}

void RuleEncoder::NfprotoDependency(IpFamily family) {
  if (nfproto_) return;
  const uint8_t proto = family == IpFamily::kIpv4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
  MetaLoad(NFT_META_NFPROTO);
  Cmp(NFT_CMP_EQ, &proto, 1);
  nfproto_ = true;
}

void RuleEncoder::L4ProtoDependency(ir::L4Proto proto, bool explicit_match) {
  if (!explicit_match && l4proto_ == proto) return;
  const uint8_t p = proto == ir::L4Proto::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
  MetaLoad(NFT_META_L4PROTO);
  Cmp(NFT_CMP_EQ, &p, 1);
  l4proto_ = proto;
}

void RuleEncoder::MetaLoad(uint32_t key) { Add(nftnl::MetaLoad(key)); }
void RuleEncoder::MetaSet(uint32_t key) { Add(nftnl::MetaSet(key)); }
void RuleEncoder::CtLoad(uint32_t key) { Add(nftnl::CtLoad(key)); }
void RuleEncoder::CtSet(uint32_t key) { Add(nftnl::CtSet(key)); }

void RuleEncoder::Cmp(uint32_t op, const void* data, uint32_t len) {
  Add(nftnl::Cmp(op, data, len));
}

void RuleEncoder::Payload(uint32_t base, uint32_t offset, uint32_t len) {
  Add(nftnl::Payload(base, offset, len));
}

void RuleEncoder::Bitwise(const void* mask, const void* xor_value,
                          uint32_t len) {
  Add(nftnl::Bitwise(mask, xor_value, len));
}

void RuleEncoder::Lookup(uint32_t set_id, bool invert) {
  nftnl_expr* e = nftnl_expr_alloc("lookup");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "__set%d");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
  if (invert) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  Add(e);
}

void RuleEncoder::LookupNamed(const std::string& set, bool invert) {
  nftnl_expr* e = nftnl_expr_alloc("lookup");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
  if (invert) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  Add(e);
}

bool LooksUpNamedSet(const nftnl_expr* lookup, std::string* name) {
  if (!nftnl_expr_is_set(lookup, NFTNL_EXPR_LOOKUP_SET)) return false;
  const char* n = nftnl_expr_get_str(lookup, NFTNL_EXPR_LOOKUP_SET);
  if (n == nullptr || strncmp(n, "__set", 5) == 0) return false;
  if (name != nullptr) *name = n;
  return true;
}

void RuleEncoder::Counter() {
  const int16_t saved = origin_;
  origin_ = kOriginCounter;
  Add(nftnl::Counter());
  origin_ = saved;
}

void RuleEncoder::Verdict(int code, const std::string* chain) {
  Add(nftnl::Verdict(code, chain));
}

void RuleEncoder::Immediate(const void* data, uint32_t len) {
  Add(nftnl::Immediate(data, len));
}

void RuleEncoder::Redirect() {
  nftnl_expr* e = nftnl_expr_alloc("redir");
  nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
  Add(e);
}

void RuleEncoder::Tproxy(uint32_t family) {
  nftnl_expr* e = nftnl_expr_alloc("tproxy");
  nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, family);
  nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_1);
  Add(e);
}

// --- ExprCursor --------------------------------------------------------------

ExprCursor::ExprCursor(std::vector<const nftnl_expr*> exprs, SetResolver sets)
    : exprs_(std::move(exprs)), sets_(std::move(sets)) {}

const nftnl_expr* ExprCursor::Peek(size_t ahead) const {
  return pos_ + ahead < exprs_.size() ? exprs_[pos_ + ahead] : nullptr;
}

bool ExprCursor::Is(size_t ahead, const char* name) const {
  const nftnl_expr* e = Peek(ahead);
  if (e == nullptr) return false;
  const char* n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
  return n != nullptr && strcmp(n, name) == 0;
}

bool ExprCursor::IsMetaLoad(size_t ahead, uint32_t key) const {
  if (!Is(ahead, "meta")) return false;
  const nftnl_expr* e = Peek(ahead);
  return nftnl_expr_is_set(e, NFTNL_EXPR_META_DREG) &&
         nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY) == key;
}

bool ExprCursor::IsCtLoad(size_t ahead, uint32_t key) const {
  if (!Is(ahead, "ct")) return false;
  const nftnl_expr* e = Peek(ahead);
  return nftnl_expr_is_set(e, NFTNL_EXPR_CT_DREG) &&
         nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY) == key;
}

bool ExprCursor::IsCmp(size_t ahead, uint32_t* op, std::string* data) const {
  if (!Is(ahead, "cmp")) return false;
  const nftnl_expr* e = Peek(ahead);
  *op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
  *data = AttrBytes(e, NFTNL_EXPR_CMP_DATA);
  return true;
}

std::string U32Bytes(uint32_t v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

uint32_t BytesU32(const std::string& b) {
  uint32_t v = 0;
  memcpy(&v, b.data(), std::min(b.size(), sizeof(v)));
  return v;
}

std::string Hex(uint32_t v) { return absl::StrFormat("0x%x", v); }

}  // namespace meshcap::nft
