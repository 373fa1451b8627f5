// SPDX-License-Identifier: GPL-2.0-or-later
// iptables spelling shared by the iptables-restore renderer and the libiptc
// backend's messages.

#ifndef MESHCAP_SRC_IPT_TEXT_H_
#define MESHCAP_SRC_IPT_TEXT_H_

#include <string>

#include "meshcap/rule_set.h"

namespace meshcap::internal {

// "-A ISTIO_OUTPUT -o lo -p tcp -m owner --uid-owner 1337 -j RETURN".
std::string IptablesRuleText(const std::string& chain, const Rule& rule);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_IPT_TEXT_H_
