// SPDX-License-Identifier: GPL-2.0-or-later
// Spell / Encode / Decode for every IR kind; each defined in kinds/<kind>.cc
// (rule_codec.h says what they are for).
//
// Matches:
//   void Spell(const K&, SpellContext&, std::string& out);  // " -i eth0"
//   void Encode(const K&, RuleWriter&);
//   bool Decode(RuleReader&, K*);  // consumes on success only
// Verdicts and statements (the entry's target):
//   void Spell(const K&, SpellContext&, std::string& out);  // " -j RETURN"
//   void Encode(const K&, RuleWriter&);
//   bool Decode(const RuleReader&, K*);

#ifndef MESHCAP_BACKENDS_IPTABLES_KINDS_H_
#define MESHCAP_BACKENDS_IPTABLES_KINDS_H_

#include <string>

#include "backends/iptables/rule_codec.h"

namespace meshcap::ipt {

#define MESHCAP_IPT_MATCH(K)                                       \
  void Spell(const ir::K& m, SpellContext& ctx, std::string& out); \
  void Encode(const ir::K& m, RuleWriter& w);                      \
  bool Decode(RuleReader& r, ir::K* out);

MESHCAP_IPT_MATCH(InterfaceMatch)  // kinds/interface.cc
MESHCAP_IPT_MATCH(AddressMatch)    // kinds/address.cc
MESHCAP_IPT_MATCH(ProtocolMatch)   // kinds/protocol.cc
MESHCAP_IPT_MATCH(PortMatch)       // kinds/port.cc
MESHCAP_IPT_MATCH(OwnerMatch)      // kinds/owner.cc
MESHCAP_IPT_MATCH(MarkMatch)       // kinds/mark.cc
MESHCAP_IPT_MATCH(ConnmarkMatch)   // kinds/connmark.cc
MESHCAP_IPT_MATCH(CtStateMatch)    // kinds/ct_state.cc
#undef MESHCAP_IPT_MATCH

#define MESHCAP_IPT_VERDICT(K)                                     \
  void Spell(const ir::K& v, SpellContext& ctx, std::string& out); \
  void Encode(const ir::K& v, RuleWriter& w);                      \
  bool Decode(const RuleReader& r, ir::K* out);

MESHCAP_IPT_VERDICT(JumpVerdict)             // kinds/verdict.cc
MESHCAP_IPT_VERDICT(ReturnVerdict)           // kinds/verdict.cc
MESHCAP_IPT_VERDICT(AcceptVerdict)           // kinds/verdict.cc
MESHCAP_IPT_VERDICT(DropVerdict)             // kinds/verdict.cc
MESHCAP_IPT_VERDICT(RedirectVerdict)         // kinds/redirect.cc
MESHCAP_IPT_VERDICT(TproxyVerdict)           // kinds/tproxy.cc
MESHCAP_IPT_VERDICT(SetMarkVerdict)          // kinds/mark.cc
MESHCAP_IPT_VERDICT(SaveConnmarkVerdict)     // kinds/connmark.cc
MESHCAP_IPT_VERDICT(RestoreConnmarkVerdict)  // kinds/connmark.cc
MESHCAP_IPT_VERDICT(SetConnmarkVerdict)      // kinds/connmark.cc
MESHCAP_IPT_VERDICT(CtZoneVerdict)           // kinds/ct_zone.cc
#undef MESHCAP_IPT_VERDICT

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_KINDS_H_
