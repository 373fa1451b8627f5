// SPDX-License-Identifier: GPL-2.0-or-later
// Whole legacy tables as the kernel hands them out (IPT_SO_GET_INFO,
// IPT_SO_GET_ENTRIES) and takes them back (IPT_SO_SET_REPLACE), below
// libiptc: the transaction's snapshots (transaction.h), put back unchanged
// when an apply fails before its switch.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_RAW_TABLE_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_RAW_TABLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/ir/rule_set.h"

namespace meshcap::ipt {

// A table as the kernel hands it out, to hand back unchanged.
struct RawTable {
  std::vector<uint8_t> info;     // ipt_getinfo
  std::vector<uint8_t> entries;  // the blob
};

// The size in bytes of a table's entries (instantiates the table).
[[nodiscard]] absl::StatusOr<uint32_t> TableSize(IpFamily family,
                                                 ir::TableKind kind);
absl::StatusOr<RawTable> ReadRaw(IpFamily family, ir::TableKind kind);
[[nodiscard]] absl::Status WriteRaw(IpFamily family, ir::TableKind kind,
                                    const RawTable& raw);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_RAW_TABLE_H_
