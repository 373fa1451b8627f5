// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/decode.h"

#include "backends/iptables/dialect.h"
#include "backends/iptables_legacy/codec.h"

namespace meshcap::ipt {

std::optional<ir::Rule> DecodeEntry(IpFamily family,
                                    std::span<const uint8_t> entry,
                                    const char* standard) {
  EntryReader r(family, entry, standard);
  return DecodeRule(r);
}

std::string DescribeEntry(IpFamily family, const std::string& chain,
                          std::span<const uint8_t> entry, const char* standard,
                          Profile profile, ir::TableKind table) {
  EntryReader r(family, entry, standard);
  return DescribeRule(r, chain, profile, table);
}

}  // namespace meshcap::ipt
