// SPDX-License-Identifier: GPL-2.0-or-later
// Lowering an iptables-dialect RuleSet to ipt_entry / ip6t_entry blobs with
// the match and target revisions iptables 1.8.9 picks on a current kernel
// (backends/iptables/kinds/), so that `iptables-legacy-save` shows what it
// shows after Istio's iptables-restore.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_LOWER_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_LOWER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/iptables/dialect.h"
#include "backends/iptables_legacy/codec.h"
#include "src/ir/rule_set.h"

namespace meshcap::ipt {

struct LoweredEntry {
  std::string chain;
  int position = 0;  // 1-based in the chain, among ours
  const ir::Rule* source = nullptr;
  // A whole ipt_entry or ip6t_entry, target included. For a standard target
  // (ACCEPT, DROP, RETURN, a jump) the target name is set and the verdict is
  // left for libiptc to fill in.
  std::vector<uint8_t> bytes;
};

struct LoweredTable {
  ir::TableKind kind = ir::TableKind::kNat;
  IpFamily family = IpFamily::kIpv4;
  Profile profile = Profile::kSidecar;
  std::vector<std::string> user_chains;  // to create
  std::vector<LoweredEntry> entries;     // chain by chain, final order
};

// The tables of `rules` for `family` that declare a chain there.
[[nodiscard]] absl::StatusOr<std::vector<LoweredTable>> Lower(
    const ir::RuleSet& rules, IpFamily family);

// One rule as an entry of `family`.
std::vector<uint8_t> LowerRule(const ir::Rule& rule, IpFamily family);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_LOWER_H_
