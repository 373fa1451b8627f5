// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: render.h
// -----------------------------------------------------------------------------
//
// Dry-run renderers. Each prints a `RuleSet` in the text the corresponding
// Istio backend would run, byte for byte:
//
//   std::string restore = meshcap::RenderIptablesRestore(rules);
//   // "* nat\n-N ISTIO_INBOUND\n...COMMIT\n" (IPv4, then IPv6 if enabled)
//   std::string script = meshcap::RenderNftables(rules);
//   // "add table inet istio-proxy-nat\nflush table ...\n" (`nft -f` input)

#ifndef MESHCAP_RENDER_H_
#define MESHCAP_RENDER_H_

#include <string>

#include "meshcap/export.h"
#include "meshcap/net.h"
#include "meshcap/rule_set.h"

namespace meshcap {

// `iptables-restore --noflush` input for one family.
MESHCAP_EXPORT std::string RenderIptablesRestore(const RuleSet& rules,
                                                 IpFamily family);

// The IPv4 input followed by the IPv6 input (when `rules.ipv6`), as Istio's
// iptables backend feeds `iptables-restore` and `ip6tables-restore`.
MESHCAP_EXPORT std::string RenderIptablesRestore(const RuleSet& rules);

// The single `nft -f` transaction of Istio's nftables backend.
MESHCAP_EXPORT std::string RenderNftables(const RuleSet& rules);

}  // namespace meshcap

#endif  // MESHCAP_RENDER_H_
