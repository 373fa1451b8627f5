// SPDX-License-Identifier: GPL-2.0-or-later
// Lowering a RuleSet to ipt_entry / ip6t_entry blobs with the match and
// target revisions iptables 1.8.9 picks on a current kernel, so that
// `iptables-legacy-save` shows what it shows after Istio's iptables-restore.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_IPT_LOWER_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_IPT_LOWER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "meshcap/net.h"
#include "meshcap/rule_set.h"

namespace meshcap::ipt {

// Written into every entry we install (ipt_entry::nfcache, which the kernel
// keeps and ignores and iptables-save does not print): how we recognise our
// own rules in built-in chains later.
inline constexpr uint32_t kOwnerTag = 0x6d657368;  // "mesh"

// Chain names the compiler can create; all of them are ours.
const std::vector<std::string>& OurChainNames();

struct LoweredEntry {
  std::string chain;
  int position = 0;  // 1-based in the chain, among ours
  const Rule* source = nullptr;
  // A whole ipt_entry or ip6t_entry, target included. For a standard target
  // (ACCEPT, DROP, RETURN, a jump) the target name is set and the verdict is
  // left for libiptc to fill in.
  std::vector<uint8_t> bytes;
};

struct LoweredTable {
  TableKind kind;
  IpFamily family;
  std::vector<std::string> user_chains;  // to create, in declaration order
  std::vector<LoweredEntry> entries;     // chain by chain, final order
};

// The tables of `rules` for `family` that hold at least one rule there.
absl::StatusOr<std::vector<LoweredTable>> Lower(const RuleSet& rules,
                                                IpFamily family);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_IPT_LOWER_H_
