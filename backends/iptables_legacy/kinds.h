// SPDX-License-Identifier: GPL-2.0-or-later
// Spell / Encode / Decode for every IR kind; each defined in match/<kind>.cc.
//
// Matches:
//   void Spell(const K&, SpellContext&, std::string& out);  // " -i eth0"
//   void Encode(const K&, EntryWriter&);
//   bool Decode(EntryReader&, K*);  // consumes on success only
// Verdicts and statements (the entry's target):
//   void Spell(const K&, SpellContext&, std::string& out);  // " -j RETURN"
//   void Encode(const K&, EntryWriter&);
//   bool Decode(const EntryReader&, K*);

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_KINDS_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_KINDS_H_

#include <string>

#include "backends/iptables_legacy/codec.h"

namespace meshcap::ipt {

#define MESHCAP_IPT_MATCH(K)                                       \
  void Spell(const ir::K& m, SpellContext& ctx, std::string& out); \
  void Encode(const ir::K& m, EntryWriter& w);                     \
  bool Decode(EntryReader& r, ir::K* out);

MESHCAP_IPT_MATCH(InterfaceMatch)  // match/interface.cc
MESHCAP_IPT_MATCH(AddressMatch)    // match/address.cc
MESHCAP_IPT_MATCH(ProtocolMatch)   // match/protocol.cc
MESHCAP_IPT_MATCH(PortMatch)       // match/port.cc
MESHCAP_IPT_MATCH(OwnerMatch)      // match/owner.cc
MESHCAP_IPT_MATCH(MarkMatch)       // match/mark.cc
MESHCAP_IPT_MATCH(ConnmarkMatch)   // match/connmark.cc
MESHCAP_IPT_MATCH(CtStateMatch)    // match/ct_state.cc
#undef MESHCAP_IPT_MATCH

#define MESHCAP_IPT_VERDICT(K)                                     \
  void Spell(const ir::K& v, SpellContext& ctx, std::string& out); \
  void Encode(const ir::K& v, EntryWriter& w);                     \
  bool Decode(const EntryReader& r, ir::K* out);

MESHCAP_IPT_VERDICT(JumpVerdict)             // match/verdict.cc
MESHCAP_IPT_VERDICT(ReturnVerdict)           // match/verdict.cc
MESHCAP_IPT_VERDICT(AcceptVerdict)           // match/verdict.cc
MESHCAP_IPT_VERDICT(DropVerdict)             // match/verdict.cc
MESHCAP_IPT_VERDICT(RedirectVerdict)         // match/redirect.cc
MESHCAP_IPT_VERDICT(TproxyVerdict)           // match/tproxy.cc
MESHCAP_IPT_VERDICT(SetMarkVerdict)          // match/mark.cc
MESHCAP_IPT_VERDICT(SaveConnmarkVerdict)     // match/connmark.cc
MESHCAP_IPT_VERDICT(RestoreConnmarkVerdict)  // match/connmark.cc
MESHCAP_IPT_VERDICT(SetConnmarkVerdict)      // match/connmark.cc
MESHCAP_IPT_VERDICT(CtZoneVerdict)           // match/ct_zone.cc
#undef MESHCAP_IPT_VERDICT

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_KINDS_H_
