// SPDX-License-Identifier: GPL-2.0-or-later
// The legacy iptables backend: libiptc, in-process, all-or-nothing across
// tables and families.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_IPT_BACKEND_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_IPT_BACKEND_H_

#include "src/backend.h"

namespace meshcap {

const BackendFactory& IptablesLegacyBackendFactory();

}  // namespace meshcap

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_IPT_BACKEND_H_
