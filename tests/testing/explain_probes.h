// SPDX-License-Identifier: GPL-2.0-or-later
// Packets that exercise every rule of a compiled rule set, for the explain
// cross-check: derived from the rule set itself (each match's values, the
// boundaries of each CIDR and port list, their negations), kept when
// Explain says they reach something no earlier packet reached.
//
// Every packet is one the kernel cross-check can really send: loopback
// addresses only on lo, no multicast, broadcast or unspecified addresses,
// IPv6 out lo only to ::1 or the pod's 2001:db8::2, and sent packets
// (output) only in ct state new. The pod's addresses are 198.51.100.2 and
// 2001:db8::2.

#ifndef MESHCAP_TESTS_TESTING_EXPLAIN_PROBES_H_
#define MESHCAP_TESTS_TESTING_EXPLAIN_PROBES_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "meshcap/explain.h"
#include "src/backend.h"
#include "src/ir/rule_set.h"

namespace meshcap::testing {

// A rule of a rule set: "table|family|chain|index" (family empty for
// nftables, whose inet tables serve both).
std::string RuleKey(const ExplainStep& step, ir::Dialect dialect);

// Every rule of the set, each family's for iptables.
std::set<std::string> AllRuleKeys(const ir::RuleSet& rules);

// The rules of chains no packet enters: neither a base chain nor the
// target of a jump from a chain some packet enters (Istio declares chains
// it may not use: a sidecar with no inbound ports has an ISTIO_INBOUND).
std::set<std::string> RulesInUnusedChains(const ir::RuleSet& rules);

struct ProbeSet {
  std::vector<Packet> packets;
  std::set<std::string> rules;      // AllRuleKeys
  std::set<std::string> matched;    // rules some packet matched
  std::set<std::string> unmatched;  // rules some packet reached and missed
  size_t tried = 0;                 // packets explained to find them
};

// The interfaces the probes name besides lo: each one the rules name, and
// "eth0" and "podnic" (one no rule names).
std::vector<std::string> ProbeInterfaces(const ir::RuleSet& rules);

// The packets for `rules` (explained with `backend`), deterministic for a
// given `seed`; remembered per rule set (its fingerprint) for the life of
// the process.
ProbeSet GenerateProbes(const ir::RuleSet& rules,
                        const internal::BackendFactory& backend,
                        uint64_t seed = 1);
ProbeSet GenerateProbesUncached(const ir::RuleSet& rules,
                                const internal::BackendFactory& backend,
                                uint64_t seed);

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_EXPLAIN_PROBES_H_
