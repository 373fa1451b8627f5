// SPDX-License-Identifier: GPL-2.0-or-later
// Reading our tables back over netlink and comparing them, expression by
// expression, with what Lower() makes.

#ifndef MESHCAP_BACKENDS_NFTABLES_NFT_VERIFY_H_
#define MESHCAP_BACKENDS_NFTABLES_NFT_VERIFY_H_

#include "absl/status/statusor.h"
#include "backends/nftables/nft_lower.h"
#include "backends/nftables/nl_transport.h"
#include "meshcap/engine.h"

namespace meshcap::nft {

// Compares the kernel's `istio-proxy-*` tables with `desired`: tables,
// chains (hook, priority, type) and rules (expressions and their data,
// port-set contents; counter values ignored). Foreign tables are not read.
absl::StatusOr<VerifyReport> VerifyTables(NetlinkSocket& sock,
                                          const LoweredRuleSet& desired);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_NFT_VERIFY_H_
