// SPDX-License-Identifier: GPL-2.0-or-later
//
// What every IR kind needs from the nftables backend, and the tools the
// per-kind files (expr/<kind>.cc) share: a rule encoder that tracks nft's
// implicit dependencies, a cursor over a rule's expressions for decoding,
// and the context Istio's spelling quirks depend on.
//
// Each expr/<kind>.cc holds, side by side, for one IR kind:
//   Spell   its `nft -f` text, as Istio's generators write it;
//   Encode  the expressions `nft` emits for that text;
//   Decode  the reverse: expressions read back from the kernel -> the kind.
// kinds.h declares them; dispatch (lower.cc, render.cc, decode.cc) is an
// exhaustive std::visit, so a kind without them does not compile.

#ifndef MESHCAP_BACKENDS_NFTABLES_EXPR_CODEC_H_
#define MESHCAP_BACKENDS_NFTABLES_EXPR_CODEC_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/nftnl/nftnl.h"
#include "src/ir/rule_set.h"

struct nftnl_rule;
struct nftnl_expr;

namespace meshcap::nft {

// Where a rule sits: Istio's nftables generators spell a few things
// differently by profile and table.
struct SpellContext {
  Profile profile = Profile::kSidecar;
  ir::TableKind table = ir::TableKind::kNat;
  std::string_view chain;
  ir::Scope scope = ir::Scope::kBoth;
};

// Marks which IR item produced an expression, to trace the kernel's error
// offset back to it: a match index, or one of these.
inline constexpr int16_t kOriginCounter = -1;
inline constexpr int16_t kOriginVerdict = -2;

// Builds one rule's expressions the way nft lowers its text.
class RuleEncoder {
 public:
  // `add_set(match)` registers an anonymous set of the match's ports for
  // this rule and returns its batch-wide id.
  RuleEncoder(nftnl_rule* rule, std::vector<int16_t>* origins, ir::Scope scope,
              std::function<uint32_t(const ir::PortMatch&)> add_set);

  void SetOrigin(int16_t origin) { origin_ = origin; }
  ir::Scope scope() const { return scope_; }

  // nft proves the family before reading an address (`meta nfproto`, once
  // per rule in an inet table) and the transport protocol before reading a
  // port (`meta l4proto`: an explicit match proves it, and so does an
  // earlier port of that protocol).
  void NfprotoDependency(IpFamily family);
  void L4ProtoDependency(ir::L4Proto proto, bool explicit_match);

  // [ meta load KEY => reg 1 ]
  void MetaLoad(uint32_t key);
  // [ meta set KEY with reg 1 ]
  void MetaSet(uint32_t key);
  // [ ct load KEY => reg 1 ]
  void CtLoad(uint32_t key);
  // [ ct set KEY with reg 1 ]
  void CtSet(uint32_t key);
  // [ cmp OP reg 1 DATA ]
  void Cmp(uint32_t op, const void* data, uint32_t len);
  // [ payload load LEN @ BASE + OFFSET => reg 1 ]
  void Payload(uint32_t base, uint32_t offset, uint32_t len);
  // [ bitwise reg 1 = ( reg 1 & MASK ) ^ XOR ]
  void Bitwise(const void* mask, const void* xor_value, uint32_t len);
  // [ lookup reg 1 set __setN [0x8: inverted] ]
  void Lookup(uint32_t set_id, bool invert);
  // [ lookup reg 1 set NAME [0x8: inverted] ]: a named set of the table.
  void LookupNamed(const std::string& set, bool invert);
  // [ counter pkts 0 bytes 0 ]
  void Counter();
  // [ immediate reg 0 VERDICT [CHAIN] ]
  void Verdict(int code, const std::string* chain = nullptr);
  // [ immediate reg 1 DATA ]
  void Immediate(const void* data, uint32_t len);
  // [ redir proto_min reg 1 flags 0x2 ]
  void Redirect();
  // [ tproxy FAMILY port reg 1 ]
  void Tproxy(uint32_t family);

  uint32_t AddPortSet(const ir::PortMatch& match) { return add_set_(match); }

 private:
  void Add(nftnl_expr* e);

  nftnl_rule* rule_;
  std::vector<int16_t>* origins_;
  ir::Scope scope_;
  std::function<uint32_t(const ir::PortMatch&)> add_set_;
  int16_t origin_ = kOriginVerdict;
  bool nfproto_ = false;
  std::optional<ir::L4Proto> l4proto_;
};

// The expressions of one rule, read back, for the decoders.
class ExprCursor {
 public:
  // `set_elements(lookup)` resolves a lookup's set to its sorted keys, or
  // null when unknown.
  using SetResolver =
      std::function<const std::vector<std::string>*(const nftnl_expr*)>;

  ExprCursor(std::vector<const nftnl_expr*> exprs, SetResolver sets);

  bool done() const { return pos_ >= exprs_.size(); }
  size_t pos() const { return pos_; }
  void Rewind(size_t pos) { pos_ = pos; }
  void Advance(size_t n) { pos_ += n; }
  size_t remaining() const { return exprs_.size() - pos_; }

  // The expression `ahead` places on, or null past the end.
  const nftnl_expr* Peek(size_t ahead = 0) const;
  // Whether that expression is `name` ("meta", "cmp", ...).
  bool Is(size_t ahead, const char* name) const;
  // [ meta load KEY => reg 1 ] / [ ct load KEY => reg 1 ] at `ahead`.
  bool IsMetaLoad(size_t ahead, uint32_t key) const;
  bool IsCtLoad(size_t ahead, uint32_t key) const;
  // [ cmp ... ] at `ahead`: its op and data.
  bool IsCmp(size_t ahead, uint32_t* op, std::string* data) const;

  const std::vector<std::string>* SetElements(const nftnl_expr* lookup) const {
    return sets_ ? sets_(lookup) : nullptr;
  }

  // What the rule has proven so far, as the encoder tracks it.
  bool nfproto_seen = false;
  std::optional<ir::L4Proto> l4proto;

 private:
  std::vector<const nftnl_expr*> exprs_;
  SetResolver sets_;
  size_t pos_ = 0;
};

// Whether `lookup` reads a named set (not one of nft's anonymous
// "__set%d"); its name in `name`.
bool LooksUpNamedSet(const nftnl_expr* lookup, std::string* name = nullptr);

using nftnl::AttrBytes;
using nftnl::AttrU32;

// A 32-bit value in host order as nft stores marks: little-endian bytes here.
std::string U32Bytes(uint32_t v);
uint32_t BytesU32(const std::string& b);

// "0x%x".
std::string Hex(uint32_t v);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_EXPR_CODEC_H_
