// SPDX-License-Identifier: GPL-2.0-or-later
// The backends compiled into this build, registered explicitly.

#include "config.h"
#include "src/backend.h"

#ifdef MESHCAP_HAVE_NFTABLES
#include "backends/nftables/nft_backend.h"
#endif
#ifdef MESHCAP_HAVE_IPTABLES_LEGACY
#include "backends/iptables_legacy/ipt_backend.h"
#endif

namespace meshcap {

const std::vector<const BackendFactory*>& BuiltinBackends() {
  static const std::vector<const BackendFactory*> kFactories = [] {
    std::vector<const BackendFactory*> v;
#ifdef MESHCAP_HAVE_NFTABLES
    v.push_back(&NftablesBackendFactory());
#endif
#ifdef MESHCAP_HAVE_IPTABLES_LEGACY
    v.push_back(&IptablesLegacyBackendFactory());
#endif
    return v;
  }();
  return kFactories;
}

}  // namespace meshcap
