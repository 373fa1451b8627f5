// SPDX-License-Identifier: GPL-2.0-or-later
//
// The nft_rule fuzz target's input format, shared with make_seeds:
//   rule := expr*                  (at most kMaxExprs)
//   expr := type:u8 count:u8 attr{count}
//   attr := id:u8 len:u8 bytes[len]
// `type` indexes kExprTypes; `id` is a libnftnl NFTNL_EXPR_* attribute
// (below kMaxAttr); values longer than 16 bytes are skipped. Values are handed
// to nftnl_expr_set() in a zeroed, NUL-terminated buffer of at least 32 bytes,
// so that libnftnl's setters, which copy fixed sizes or strings whatever the
// length says, stay inside it.

#ifndef MESHCAP_TESTS_FUZZ_NFT_FUZZ_RULE_H_
#define MESHCAP_TESTS_FUZZ_NFT_FUZZ_RULE_H_

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nf_tables.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/nftables/lower.h"

namespace meshcap::fuzz {

inline constexpr const char* kExprTypes[] = {
    "meta", "cmp",     "payload", "lookup", "immediate", "counter",
    "ct",   "bitwise", "redir",   "tproxy", "range"};
inline constexpr size_t kExprTypeCount = sizeof(kExprTypes) / sizeof(char*);
inline constexpr int kMaxExprs = 32;
inline constexpr uint16_t kMaxAttr = 24;

inline nft::NftnlPtr<nftnl_rule> RuleFromBytes(const uint8_t* data,
                                               size_t size) {
  nft::NftnlPtr<nftnl_rule> rule(nftnl_rule_alloc());
  size_t i = 0;
  auto byte = [&]() -> int { return i < size ? data[i++] : -1; };
  for (int n = 0; n < kMaxExprs; ++n) {
    const int type = byte();
    const int count = byte();
    if (type < 0 || count < 0) break;
    const std::string name = kExprTypes[type % kExprTypeCount];
    const bool is_immediate = name == "immediate";
    nftnl_expr* e = nftnl_expr_alloc(name.c_str());
    if (e == nullptr) break;
    for (int a = 0; a < count; ++a) {
      const int id = byte();
      const int len = byte();
      if (id < 0 || len < 0) break;
      std::vector<char> value(static_cast<size_t>(len) + 32, 0);
      for (int k = 0; k < len && i < size; ++k) value[k] = data[i++];
      // libnftnl copies data attributes into 16-byte registers unchecked
      // (the kernel never sends more); strings and u32s fit too.
      if (len > 16) continue;
      // Attribute 0 is the expression's name: libnftnl does not set it.
      // libnftnl leaks a string attribute set twice: set each once.
      const uint16_t attr = static_cast<uint16_t>(id % kMaxAttr);
      if (attr == 0 || nftnl_expr_is_set(e, attr)) continue;
      // An immediate's data and its verdict (with a chain) share a union
      // in libnftnl: one or the other, as the kernel sends them.
      if (is_immediate &&
          (attr == NFTNL_EXPR_IMM_DATA
               ? nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT) ||
                     nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)
               : (attr == NFTNL_EXPR_IMM_VERDICT ||
                  attr == NFTNL_EXPR_IMM_CHAIN) &&
                     nftnl_expr_is_set(e, NFTNL_EXPR_IMM_DATA))) {
        continue;
      }
      nftnl_expr_set(e, attr, value.data(), static_cast<uint32_t>(len));
    }
    // libnftnl frees an immediate's chain only with a jump or goto verdict
    // (the only ones that carry a chain): keep to that.
    if (is_immediate && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)) {
      const uint32_t v = nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)
                             ? nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT)
                             : 0;
      if (v != static_cast<uint32_t>(NFT_JUMP) &&
          v != static_cast<uint32_t>(NFT_GOTO)) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_JUMP);
      }
    }
    nftnl_rule_add_expr(rule.get(), e);
  }
  return rule;
}

// The inverse, for seeds: `rule`'s expressions in the format above.
inline std::string RuleToBytes(const nftnl_rule* rule) {
  std::string out;
  nftnl_expr_iter* it = nftnl_expr_iter_create(rule);
  while (nftnl_expr* e = nftnl_expr_iter_next(it)) {
    const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    size_t type = 0;
    while (type < kExprTypeCount && std::string(kExprTypes[type]) != name) {
      ++type;
    }
    std::string attrs;
    int count = 0;
    for (uint16_t id = 1; id < kMaxAttr; ++id) {
      if (!nftnl_expr_is_set(e, id)) continue;
      uint32_t len = 0;
      const void* v = nftnl_expr_get(e, id, &len);
      if (v == nullptr || len > 255) continue;
      attrs += static_cast<char>(id);
      attrs += static_cast<char>(len);
      attrs.append(static_cast<const char*>(v), len);
      ++count;
    }
    out += static_cast<char>(type);
    out += static_cast<char>(count);
    out += attrs;
  }
  nftnl_expr_iter_destroy(it);
  return out;
}

}  // namespace meshcap::fuzz

#endif  // MESHCAP_TESTS_FUZZ_NFT_FUZZ_RULE_H_
