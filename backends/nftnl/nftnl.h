// SPDX-License-Identifier: GPL-2.0-or-later
// libnftnl plumbing shared by the two nf_tables writers (the nftables
// backend and the iptables-nft one): owned objects, single expressions as
// the kernel's netlink wants them, and the ruleset generation.

#ifndef MESHCAP_BACKENDS_NFTNL_NFTNL_H_
#define MESHCAP_BACKENDS_NFTNL_NFTNL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/netlink/netlink.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_expr;

namespace meshcap::nftnl {

struct Deleter {
  void operator()(nftnl_table* p) const;
  void operator()(nftnl_chain* p) const;
  void operator()(nftnl_rule* p) const;
  void operator()(nftnl_set* p) const;
  void operator()(nftnl_expr* p) const;
};
template <typename T>
using Ptr = std::unique_ptr<T, Deleter>;

// One expression each, registers as nft uses them (loads into reg 1,
// verdicts in reg 0). The caller adds it to a rule, which then owns it.
// [ meta load KEY => reg 1 ] / [ meta set KEY with reg 1 ]
nftnl_expr* MetaLoad(uint32_t key);
nftnl_expr* MetaSet(uint32_t key);
// [ ct load KEY => reg 1 ] / [ ct set KEY with reg 1 ]
nftnl_expr* CtLoad(uint32_t key);
nftnl_expr* CtSet(uint32_t key);
// [ cmp OP reg 1 DATA ]
nftnl_expr* Cmp(uint32_t op, const void* data, uint32_t len);
// [ payload load LEN @ BASE + OFFSET => reg 1 ]
nftnl_expr* Payload(uint32_t base, uint32_t offset, uint32_t len);
// [ bitwise reg 1 = ( reg 1 & MASK ) ^ XOR ]
nftnl_expr* Bitwise(const void* mask, const void* xor_value, uint32_t len);
// [ counter pkts 0 bytes 0 ]
nftnl_expr* Counter();
// [ immediate reg 0 VERDICT [CHAIN] ]
nftnl_expr* Verdict(int code, const std::string* chain = nullptr);
// [ immediate reg 1 DATA ]
nftnl_expr* Immediate(const void* data, uint32_t len);
// nft_compat: [ match name NAME rev REV ] and [ target name NAME rev REV ]
// with the xtables structure `data`.
nftnl_expr* XtMatch(const char* name, uint32_t revision, const void* data,
                    uint32_t len);
nftnl_expr* XtTarget(const char* name, uint32_t revision, const void* data,
                     uint32_t len);

// An expression's name ("meta", "cmp", "match"), or "".
std::string ExprName(const nftnl_expr* e);
// Bytes of an expression attribute as a string (empty when unset).
std::string AttrBytes(const nftnl_expr* e, uint16_t attr);
uint32_t AttrU32(const nftnl_expr* e, uint16_t attr);

// Whether `a` and `b` are the same expression as the kernel runs it: the
// same name and, attribute by attribute, the same bytes, where an attribute
// one side leaves unset equals all-zero bytes on the other (the kernel
// reports defaults we leave implicit: bitwise's op) and redir's maximum
// register defaults to its minimum. Counters are always equal (their values
// move). Attributes for which `skip(type)` is true are left out.
bool ExprEqual(const nftnl_expr* a, const nftnl_expr* b,
               const std::function<bool(uint16_t type)>& skip = {});

// The ruleset generation id (NFT_MSG_GETGEN).
[[nodiscard]] absl::StatusOr<uint32_t> GetGeneration(
    internal::NetlinkTransport& nl);

}  // namespace meshcap::nftnl

#endif  // MESHCAP_BACKENDS_NFTNL_NFTNL_H_
