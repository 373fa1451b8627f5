// SPDX-License-Identifier: GPL-2.0-or-later
// An entry read back from the kernel to IR, with each kind's decoder
// (match/<kind>.cc): to describe what the kernel holds in iptables' words.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_DECODE_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_DECODE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "src/ir/rule_set.h"

namespace meshcap::ipt {

// The IR rule whose lowering is `entry` (a whole ipt_entry/ip6t_entry;
// `standard` names a standard target, else null), or nullopt when some part
// of it is not one meshcap makes.
std::optional<ir::Rule> DecodeEntry(IpFamily family,
                                    std::span<const uint8_t> entry,
                                    const char* standard);

// "-A CHAIN ..." for a decoded entry, or a generic description.
std::string DescribeEntry(IpFamily family, const std::string& chain,
                          std::span<const uint8_t> entry, const char* standard,
                          Profile profile, ir::TableKind table);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_DECODE_H_
