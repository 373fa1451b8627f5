// SPDX-License-Identifier: GPL-2.0-or-later
// The iptables dialect beyond single kinds: which chains are Istio's and
// which are built in, a rule's `iptables-restore` text, and reading a rule
// back into IR through its writer's RuleReader (rule_codec.h).

#ifndef MESHCAP_BACKENDS_IPTABLES_DIALECT_H_
#define MESHCAP_BACKENDS_IPTABLES_DIALECT_H_

#include <optional>
#include <string>
#include <vector>

#include "backends/iptables/rule_codec.h"
#include "src/ir/rule_set.h"

namespace meshcap::ipt {

// Every chain either profile creates: all of them are ours.
const std::vector<std::string>& OurChainNames();
bool IsOurChain(const std::string& name);
// INPUT, OUTPUT, FORWARD, PREROUTING, POSTROUTING.
bool IsBuiltinChain(const std::string& name);

// Whether `rule`, read back from built-in chain `chain` of `table`, has the
// shape of one of the rules Istio's generators put in built-in chains other
// than the jumps to its chains (those are recognised by their target):
//   nat, mangle PREROUTING  -i IF -j RETURN          (excluded and kube-virt
//   nat, mangle OUTPUT      -o IF -j RETURN           interfaces)
//   mangle PREROUTING  -p tcp -m mark --mark M -j CONNMARK --save-mark
//   mangle OUTPUT      -p tcp -o lo -m mark --mark M -j RETURN
//   mangle OUTPUT      ! -d LOOPBACK -p tcp -o lo -m owner --uid-owner|
//                      --gid-owner N -j MARK --set-mark M
//   mangle OUTPUT      -p tcp -m connmark --mark M -j CONNMARK --restore-mark
// The backends count such a rule as Istio's only in a table that also holds
// Istio's chains, where their own cleanup would remove it too.
bool IsIstioBuiltinRule(const ir::Rule& rule, ir::TableKind table,
                        const std::string& chain);

// Writes `rule` through `w`: its matches, then its verdict.
void EncodeRule(const ir::Rule& rule, RuleWriter& w);

// The IR rule `r` reads as, or nullopt when some part of it is not one
// meshcap makes.
std::optional<ir::Rule> DecodeRule(RuleReader& r);

// "-A ISTIO_OUTPUT -o lo -p tcp -m owner --uid-owner 1337 -j RETURN"
// (`position` > 0: "-I CHAIN N ...").
std::string RuleText(const std::string& chain, int position,
                     const ir::Rule& rule, Profile profile,
                     ir::TableKind table);

// "-A CHAIN ..." for the rule `r` reads as, or a generic description.
std::string DescribeRule(RuleReader& r, const std::string& chain,
                         Profile profile, ir::TableKind table);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_DIALECT_H_
