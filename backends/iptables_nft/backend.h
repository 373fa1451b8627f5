// SPDX-License-Identifier: GPL-2.0-or-later
// The iptables-nft backend: what `iptables-nft-restore --noflush` of
// Istio's rules puts in the ip and ip6 tables, written through libnftnl as
// one netlink batch for both families, guarded by the ruleset generation;
// read back over netlink for Verify and to send only what changed.

#ifndef MESHCAP_BACKENDS_IPTABLES_NFT_BACKEND_H_
#define MESHCAP_BACKENDS_IPTABLES_NFT_BACKEND_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "backends/iptables_nft/batch.h"
#include "backends/iptables_nft/lower.h"
#include "src/backend.h"
#include "src/netlink/netlink.h"

namespace meshcap::iptnft {

class IptablesNftBackend : public internal::Backend {
 public:
  // Over `transport` (a socket in the target namespace, or a test's fake).
  explicit IptablesNftBackend(
      std::unique_ptr<internal::NetlinkTransport> transport);

  std::string_view name() const override { return "iptables-nft"; }
  [[nodiscard]] absl::Status Apply(
      const ir::RuleSet& rules, const ApplyOptions& options,
      std::vector<std::string>* changes,
      const std::function<absl::Status()>& before_commit) override;
  [[nodiscard]] absl::Status Remove(std::vector<std::string>* changes) override;
  absl::Status Verify(const ir::RuleSet& rules, VerifyReport* report) override;
  [[nodiscard]] absl::StatusOr<bool> HoldsOurs() override;

 private:
  // Makes the kernel hold `rules` (null: nothing of ours).
  absl::Status Converge(const ir::RuleSet* rules, const ApplyOptions& options,
                        std::vector<std::string>* changes,
                        const std::function<absl::Status()>& before_commit,
                        const std::string& what);

  // What the kernel held when this backend last looked or committed: if
  // the generation has not moved since, an apply of the same rule set
  // needs no read and sends nothing.
  struct Known {
    uint32_t generation = 0;
    std::string fingerprint;  // empty: nothing of ours
  };

  std::unique_ptr<internal::NetlinkTransport> nl_;
  std::optional<Known> known_;
};

// What the kernel's answer to the message `seq` of `batch` means.
absl::Status ExplainError(internal::NetlinkTransport& nl, const Batch& batch,
                          const internal::NetlinkError& e,
                          const std::string& what);

// Whether the kernel has nft_compat, and the xtables extension `name`
// (`target` or match) at `revision` for `family`: OK, or kUnavailable
// naming what is missing (nft_compat, or the extension's module).
absl::Status ProbeExtension(internal::NetlinkTransport& nl, IpFamily family,
                            const std::string& name, uint32_t revision,
                            bool target);

}  // namespace meshcap::iptnft

#endif  // MESHCAP_BACKENDS_IPTABLES_NFT_BACKEND_H_
