// SPDX-License-Identifier: GPL-2.0-or-later
// The nftables backend: one netlink batch per change, read back over
// netlink for Verify and to send only what changed.

#ifndef MESHCAP_BACKENDS_NFTABLES_BACKEND_H_
#define MESHCAP_BACKENDS_NFTABLES_BACKEND_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/nftables/lower.h"
#include "src/backend.h"
#include "src/netlink/netlink.h"

namespace meshcap::nft {

class NftablesBackend : public internal::Backend {
 public:
  // Over `transport` (a socket in the target namespace, or a test's fake).
  explicit NftablesBackend(
      std::unique_ptr<internal::NetlinkTransport> transport);

  std::string_view name() const override { return "nftables"; }
  [[nodiscard]] absl::Status Apply(
      const ir::RuleSet& rules, const ApplyOptions& options,
      std::vector<std::string>* changes,
      const std::function<absl::Status()>& before_commit) override;
  [[nodiscard]] absl::Status Remove(std::vector<std::string>* changes) override;
  absl::Status Verify(const ir::RuleSet& rules, VerifyReport* report) override;
  [[nodiscard]] absl::StatusOr<bool> HoldsOurs() override;

  internal::NetlinkTransport& transport() { return *nl_; }

 private:
  // What the kernel held, exactly, when this backend last looked or
  // committed: if the ruleset generation has not moved since, nobody has
  // changed anything. Then an Apply of the same rule set needs no read, no
  // lowering and no batch, and an Apply of another one is planned against
  // this instead of a kernel read (its batch still carries the generation,
  // so the kernel refuses it if that was wrong).
  struct Known {
    uint32_t generation = 0;
    // The rule set's fingerprint; empty: no table of ours at all.
    std::string fingerprint;
    // What it lowered to (null when no table of ours), and the rule set
    // those tables point into.
    std::shared_ptr<const ir::RuleSet> rules;
    std::shared_ptr<const LoweredRuleSet> lowered;
  };
  // After our commit at `before`: `k` holds at `before + 1`, which a later
  // GETGEN confirms or refutes.
  void RememberAfterCommit(uint32_t before, Known k);

  std::unique_ptr<internal::NetlinkTransport> nl_;
  std::optional<Known> known_;
};

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_BACKEND_H_
