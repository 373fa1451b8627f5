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
