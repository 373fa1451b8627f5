// SPDX-License-Identifier: GPL-2.0-or-later
// Spell / Encode / Decode for every IR kind; each defined in expr/<kind>.cc.
//
// Matches:
//   void Spell(const K&, const SpellContext&, std::string& out);  // appends
//   void Encode(const K&, RuleEncoder&);
//   bool Decode(ExprCursor&, K*);   // consumes on success only
// Verdicts and statements (the rule's tail, counter included):
//   void Spell(const K&, const SpellContext&, bool counter, std::string&);
//   void Encode(const K&, bool counter, RuleEncoder&);
//   bool Decode(ExprCursor&, K*, bool* counter);  // must consume the rest

#ifndef MESHCAP_BACKENDS_NFTABLES_EXPR_KINDS_H_
#define MESHCAP_BACKENDS_NFTABLES_EXPR_KINDS_H_

#include <string>

#include "backends/nftables/expr/codec.h"

namespace meshcap::nft {

#define MESHCAP_NFT_MATCH(K)                                             \
  void Spell(const ir::K& m, const SpellContext& ctx, std::string& out); \
  void Encode(const ir::K& m, RuleEncoder& enc);                         \
  bool Decode(ExprCursor& c, ir::K* out);

MESHCAP_NFT_MATCH(InterfaceMatch)  // expr/interface.cc
MESHCAP_NFT_MATCH(AddressMatch)    // expr/address.cc
MESHCAP_NFT_MATCH(ProtocolMatch)   // expr/protocol.cc
MESHCAP_NFT_MATCH(PortMatch)       // expr/port.cc
MESHCAP_NFT_MATCH(OwnerMatch)      // expr/owner.cc
MESHCAP_NFT_MATCH(MarkMatch)       // expr/mark.cc
MESHCAP_NFT_MATCH(ConnmarkMatch)   // expr/connmark.cc
MESHCAP_NFT_MATCH(CtStateMatch)    // expr/ct_state.cc
#undef MESHCAP_NFT_MATCH

#define MESHCAP_NFT_VERDICT(K)                                      \
  void Spell(const ir::K& v, const SpellContext& ctx, bool counter, \
             std::string& out);                                     \
  void Encode(const ir::K& v, bool counter, RuleEncoder& enc);      \
  bool Decode(ExprCursor& c, ir::K* out, bool* counter);

MESHCAP_NFT_VERDICT(JumpVerdict)             // expr/verdict.cc
MESHCAP_NFT_VERDICT(ReturnVerdict)           // expr/verdict.cc
MESHCAP_NFT_VERDICT(AcceptVerdict)           // expr/verdict.cc
MESHCAP_NFT_VERDICT(DropVerdict)             // expr/verdict.cc
MESHCAP_NFT_VERDICT(RedirectVerdict)         // expr/redirect.cc
MESHCAP_NFT_VERDICT(TproxyVerdict)           // expr/tproxy.cc
MESHCAP_NFT_VERDICT(SetMarkVerdict)          // expr/mark.cc
MESHCAP_NFT_VERDICT(SaveConnmarkVerdict)     // expr/connmark.cc
MESHCAP_NFT_VERDICT(RestoreConnmarkVerdict)  // expr/connmark.cc
MESHCAP_NFT_VERDICT(SetConnmarkVerdict)      // expr/connmark.cc
MESHCAP_NFT_VERDICT(CtZoneVerdict)           // expr/ct_zone.cc
#undef MESHCAP_NFT_VERDICT

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_EXPR_KINDS_H_
