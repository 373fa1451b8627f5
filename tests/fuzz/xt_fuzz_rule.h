// SPDX-License-Identifier: GPL-2.0-or-later
//
// The xt_rule fuzz target's input format, shared with make_seeds:
//   rule  := family:u8 udata_len:u8 udata[udata_len] expr*
//   expr  := type:u8 count:u8 attr{count}       (at most kMaxExprs)
//   attr  := id:u8 len:u8 bytes[len]
// `family` is IPv4 when even; `type` indexes kExprTypes; `id` is a libnftnl
// NFTNL_EXPR_* attribute (below kMaxAttr). A match's or target's INFO may be
// up to 255 bytes (xtables data), handed to libnftnl in a malloc'd copy it
// then owns; other values longer than 16 bytes are skipped, as in
// nft_fuzz_rule.h, whose buffer rules this follows.

#ifndef MESHCAP_TESTS_FUZZ_XT_FUZZ_RULE_H_
#define MESHCAP_TESTS_FUZZ_XT_FUZZ_RULE_H_

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/nftnl/nftnl.h"
#include "meshcap/net.h"

namespace meshcap::fuzz {

inline constexpr const char* kXtExprTypes[] = {
    "meta",    "cmp",   "payload", "bitwise", "immediate",
    "counter", "match", "target",  "lookup",  "range"};
inline constexpr size_t kXtExprTypeCount = sizeof(kXtExprTypes) / sizeof(char*);
inline constexpr int kXtMaxExprs = 32;
inline constexpr uint16_t kXtMaxAttr = 16;

struct XtFuzzRule {
  IpFamily family = IpFamily::kIpv4;
  nftnl::Ptr<nftnl_rule> rule;
};

inline XtFuzzRule XtRuleFromBytes(const uint8_t* data, size_t size) {
  XtFuzzRule out;
  out.rule.reset(nftnl_rule_alloc());
  size_t i = 0;
  auto byte = [&]() -> int { return i < size ? data[i++] : -1; };
  const int family = byte();
  out.family =
      family > 0 && family % 2 == 1 ? IpFamily::kIpv6 : IpFamily::kIpv4;
  const int udata_len = byte();
  if (udata_len > 0) {
    std::string udata;
    for (int k = 0; k < udata_len && i < size; ++k) udata += data[i++];
    nftnl_rule_set_data(out.rule.get(), NFTNL_RULE_USERDATA, udata.data(),
                        static_cast<uint32_t>(udata.size()));
  }
  for (int n = 0; n < kXtMaxExprs; ++n) {
    const int type = byte();
    const int count = byte();
    if (type < 0 || count < 0) break;
    const std::string name = kXtExprTypes[type % kXtExprTypeCount];
    const bool is_immediate = name == "immediate";
    const bool is_xt = name == "match" || name == "target";
    nftnl_expr* e = nftnl_expr_alloc(name.c_str());
    if (e == nullptr) break;
    for (int a = 0; a < count; ++a) {
      const int id = byte();
      const int len = byte();
      if (id < 0 || len < 0) break;
      std::vector<char> value(static_cast<size_t>(len) + 32, 0);
      for (int k = 0; k < len && i < size; ++k) value[k] = data[i++];
      const uint16_t attr = static_cast<uint16_t>(id % kXtMaxAttr);
      if (attr == 0 || nftnl_expr_is_set(e, attr)) continue;
      if (is_xt && attr == NFTNL_EXPR_MT_INFO) {
        // libnftnl keeps (and frees) the INFO pointer.
        void* copy = malloc(static_cast<size_t>(len) + 1);
        memcpy(copy, value.data(), static_cast<size_t>(len));
        nftnl_expr_set(e, attr, copy, static_cast<uint32_t>(len));
        continue;
      }
      if (len > 16) continue;
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
    if (is_immediate && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)) {
      const uint32_t v = nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)
                             ? nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT)
                             : 0;
      if (v != static_cast<uint32_t>(NFT_JUMP) &&
          v != static_cast<uint32_t>(NFT_GOTO)) {
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_JUMP);
      }
    }
    nftnl_rule_add_expr(out.rule.get(), e);
  }
  return out;
}

// The inverse, for seeds.
inline std::string XtRuleToBytes(IpFamily family, const nftnl_rule* rule) {
  std::string out;
  out += static_cast<char>(family == IpFamily::kIpv6 ? 1 : 0);
  uint32_t udata_len = 0;
  const char* udata = nftnl_rule_is_set(rule, NFTNL_RULE_USERDATA)
                          ? static_cast<const char*>(nftnl_rule_get_data(
                                rule, NFTNL_RULE_USERDATA, &udata_len))
                          : nullptr;
  if (udata == nullptr || udata_len > 255) udata_len = 0;
  out += static_cast<char>(udata_len);
  if (udata_len > 0) out.append(udata, udata_len);
  nftnl_expr_iter* it = nftnl_expr_iter_create(const_cast<nftnl_rule*>(rule));
  while (nftnl_expr* e = nftnl_expr_iter_next(it)) {
    const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    size_t type = 0;
    while (type < kXtExprTypeCount && std::string(kXtExprTypes[type]) != name) {
      ++type;
    }
    std::string attrs;
    int count = 0;
    for (uint16_t id = 1; id < kXtMaxAttr; ++id) {
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

#endif  // MESHCAP_TESTS_FUZZ_XT_FUZZ_RULE_H_
