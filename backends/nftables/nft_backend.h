// SPDX-License-Identifier: GPL-2.0-or-later
// The nftables backend: one netlink batch per change, read back over
// netlink for Verify.

#ifndef MESHCAP_BACKENDS_NFTABLES_NFT_BACKEND_H_
#define MESHCAP_BACKENDS_NFTABLES_NFT_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "backends/nftables/nl_transport.h"
#include "src/backend.h"

namespace meshcap {

const BackendFactory& NftablesBackendFactory();

namespace nft {

struct Batch;

// Exposed for tests and the benchmark (which replays the bytes on a bare
// socket); engines reach it through the factory.
class NftablesBackend : public Backend {
 public:
  // Opens the netlink socket inside `netns_fd` (or here, when -1).
  static absl::StatusOr<std::unique_ptr<NftablesBackend>> Create(int netns_fd);

  std::string_view name() const override { return "nftables"; }
  absl::Status Apply(const RuleSet& rules,
                     const ApplyOptions& options) override;
  absl::Status Remove() override;
  absl::StatusOr<VerifyReport> Verify(const RuleSet& rules) override;

  // The batch Apply would send, without sending it.
  absl::StatusOr<Batch> BuildBatch(const RuleSet& rules);
  NetlinkSocket& socket() { return sock_; }

 private:
  explicit NftablesBackend(NetlinkSocket sock) : sock_(std::move(sock)) {}

  absl::Status Send(const Batch& batch, const std::string& what);

  NetlinkSocket sock_;
};

}  // namespace nft
}  // namespace meshcap

#endif  // MESHCAP_BACKENDS_NFTABLES_NFT_BACKEND_H_
