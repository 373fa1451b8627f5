// SPDX-License-Identifier: GPL-2.0-or-later
// The nftables backend: one netlink batch per change, read back over
// netlink for Verify and to send only what changed.

#ifndef MESHCAP_BACKENDS_NFTABLES_BACKEND_H_
#define MESHCAP_BACKENDS_NFTABLES_BACKEND_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/backend.h"
#include "src/netlink/netlink.h"

namespace meshcap::nft {

class NftablesBackend : public internal::Backend {
 public:
  // Over `transport` (a socket in the target namespace, or a test's fake).
  explicit NftablesBackend(
      std::unique_ptr<internal::NetlinkTransport> transport);

  std::string_view name() const override { return "nftables"; }
  absl::Status Apply(const ir::RuleSet& rules, const ApplyOptions& options,
                     std::vector<std::string>* changes) override;
  absl::Status Remove(std::vector<std::string>* changes) override;
  absl::Status Verify(const ir::RuleSet& rules, VerifyReport* report) override;
  absl::StatusOr<bool> HoldsOurs() override;

  internal::NetlinkTransport& transport() { return *nl_; }

 private:
  // Remembers that the kernel held `fingerprint`'s tables exactly at
  // `generation` (after this backend's own commit, or a comparison).
  void Remember(uint32_t generation, const std::string& fingerprint);

  std::unique_ptr<internal::NetlinkTransport> nl_;
  // What the kernel held when this backend last looked: if the ruleset
  // generation has not moved since, nobody has changed anything, and an
  // Apply of the same rule set needs no read, no lowering, no batch.
  struct Known {
    uint32_t generation;
    std::string fingerprint;
  };
  std::optional<Known> known_;
};

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_BACKEND_H_
