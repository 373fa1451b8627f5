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

namespace meshcap::nft {

// --- RuleEncoder -------------------------------------------------------------

RuleEncoder::RuleEncoder(
    nftnl_rule* rule, std::vector<int16_t>* origins, ir::Scope scope,
    std::function<uint32_t(const std::vector<uint16_t>&)> add_set)
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

void RuleEncoder::MetaLoad(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
  Add(e);
}

void RuleEncoder::MetaSet(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
  Add(e);
}

void RuleEncoder::CtLoad(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
  Add(e);
}

void RuleEncoder::CtSet(uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
  Add(e);
}

void RuleEncoder::Cmp(uint32_t op, const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
  Add(e);
}

void RuleEncoder::Payload(uint32_t base, uint32_t offset, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  Add(e);
}

void RuleEncoder::Bitwise(const void* mask, const void* xor_value,
                          uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("bitwise");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor_value, len);
  Add(e);
}

void RuleEncoder::Lookup(uint32_t set_id, bool invert) {
  nftnl_expr* e = nftnl_expr_alloc("lookup");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "__set%d");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
  if (invert) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
  Add(e);
}

void RuleEncoder::Counter() {
  const int16_t saved = origin_;
  origin_ = kOriginCounter;
  Add(nftnl_expr_alloc("counter"));
  origin_ = saved;
}

void RuleEncoder::Verdict(int code, const std::string* chain) {
  nftnl_expr* e = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(code));
  if (chain != nullptr)
    nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain->c_str());
  Add(e);
}

void RuleEncoder::Immediate(const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
  nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
  Add(e);
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
