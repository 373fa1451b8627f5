// SPDX-License-Identifier: GPL-2.0-or-later
// Reading our tables back from the kernel over netlink.

#ifndef MESHCAP_BACKENDS_NFTABLES_READ_H_
#define MESHCAP_BACKENDS_NFTABLES_READ_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/nftables/lower.h"
#include "backends/nftnl/nftnl.h"
#include "src/netlink/netlink.h"

namespace meshcap::nft {

struct KernelChain {
  std::string name;
  bool base = false;
  uint32_t hook = 0;
  int32_t priority = 0;
  std::string type;
  std::vector<NftnlPtr<nftnl_rule>> rules;  // in kernel order
};

// A named set (not one of nft's anonymous "__set%d").
struct KernelSet {
  uint32_t flags = 0;
  uint32_t key_type = 0;
  uint32_t key_len = 0;
  // CanonicalFromKernel() of its elements.
  std::vector<std::string> elements;
};

struct KernelTable {
  std::string name;
  // Anonymous and named sets by kernel name: their keys, sorted.
  std::map<std::string, std::vector<std::string>> sets;
  // The named sets, by name.
  std::map<std::string, KernelSet> named_sets;
  std::vector<KernelChain> chains;  // in kernel order

  const KernelChain* Find(const std::string& chain) const;
};

using nftnl::GetGeneration;

// Which of OurTableNames() exist.
[[nodiscard]] absl::StatusOr<std::set<std::string>> ListOurTables(
    internal::NetlinkTransport& nl);

// The chains, sets and rules of each table in `names` (which must exist).
// Chains are dumped once for all tables; sets and rules per table, filtered
// by the kernel, so foreign tables cost nothing.
[[nodiscard]] absl::StatusOr<std::map<std::string, KernelTable>> ReadTables(
    internal::NetlinkTransport& nl, const std::vector<std::string>& names);

// The handles of the rules of `table`/`chain`, in order (one dump, filtered
// by the kernel).
[[nodiscard]] absl::StatusOr<std::vector<uint64_t>> ReadRuleHandles(
    internal::NetlinkTransport& nl, const std::string& table,
    const std::string& chain);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_READ_H_
