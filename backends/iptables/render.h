// SPDX-License-Identifier: GPL-2.0-or-later
// The `iptables-restore --noflush` input Istio's iptables generators run,
// byte for byte: the IPv4 part, then the IPv6 part when the set is IPv6.
// Both iptables writers' dry run (iptables-legacy-restore and
// iptables-nft-restore read the same text).

#ifndef MESHCAP_BACKENDS_IPTABLES_RENDER_H_
#define MESHCAP_BACKENDS_IPTABLES_RENDER_H_

#include <string>

#include "src/ir/rule_set.h"

namespace meshcap::ipt {

// One family: tables alphabetically, each `* table`, `-N` for its chains in
// first-use order (then jump targets not yet declared), the rules as
// emitted, `COMMIT`.
std::string Render(const ir::RuleSet& rules, IpFamily family);

// The IPv4 input followed by the IPv6 input (when `rules.ipv6`).
std::string Render(const ir::RuleSet& rules);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_RENDER_H_
