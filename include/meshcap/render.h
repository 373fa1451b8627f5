// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: render.h
// -----------------------------------------------------------------------------
//
// Dry runs. `Render` prints a policy in the text the corresponding Istio
// generator would run, byte for byte, without touching the kernel:
//
//   absl::StatusOr<std::string> text = meshcap::Render(policy, "nftables");
//   // "add table inet istio-proxy-nat\nflush table ...\n" (`nft -f` input)
//   text = meshcap::Render(policy, "iptables-legacy");
//   // "* nat\n-N ISTIO_INBOUND\n...COMMIT\n" (IPv4, then IPv6 if enabled)

#ifndef MESHCAP_RENDER_H_
#define MESHCAP_RENDER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "meshcap/export.h"
#include "meshcap/policy.h"

namespace meshcap {

// The dry-run text of `policy` for the backend named `backend`
// (`AvailableBackends()`, or "iptables"): the `nft -f` transaction, or the
// `iptables-restore --noflush` input (IPv4, then IPv6) for iptables-legacy
// and iptables-nft alike. kInvalidArgument for an unknown backend name.
[[nodiscard]] MESHCAP_EXPORT absl::StatusOr<std::string> Render(
    const CapturePolicy& policy, std::string_view backend);

}  // namespace meshcap

#endif  // MESHCAP_RENDER_H_
