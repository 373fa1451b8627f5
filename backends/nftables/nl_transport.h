// SPDX-License-Identifier: GPL-2.0-or-later
// A NETLINK_NETFILTER socket: batches out, errors and dumps back.

#ifndef MESHCAP_BACKENDS_NFTABLES_NL_TRANSPORT_H_
#define MESHCAP_BACKENDS_NFTABLES_NL_TRANSPORT_H_

#include <libmnl/libmnl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/nl_attr.h"

struct mnl_socket;

namespace meshcap::nft {

// The kernel's answer to one message of a batch.
struct BatchError {
  uint32_t seq = 0;
  int error = 0;  // positive errno
  // Offset of the offending attribute from the start of the message, when
  // the kernel said (extended ack); otherwise 0.
  uint32_t attr_offset = 0;
  std::string message;  // the kernel's extended-ack text, if any
};

class NetlinkSocket {
 public:
  // Opens and binds a NETLINK_NETFILTER socket in the calling thread's
  // network namespace, with extended acks on.
  static absl::StatusOr<NetlinkSocket> Open();

  NetlinkSocket(NetlinkSocket&& other) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&& other) noexcept;
  ~NetlinkSocket();

  // Sends a whole batch in one sendmsg() and collects every error the
  // kernel reported. nfnetlink handles the batch synchronously inside
  // sendmsg(), so all answers are queued when it returns; messages sent
  // without NLM_F_ACK only answer on failure.
  absl::StatusOr<std::vector<BatchError>> SendBatch(const void* data,
                                                    size_t len);

  // Sends one request (NLM_F_DUMP or not) and calls `on_message` for each
  // answer until the kernel is done. An error answer becomes the status.
  absl::Status Request(
      nlmsghdr* request,
      const std::function<absl::Status(const nlmsghdr*)>& on_message);

  // The ruleset generation id (NFT_MSG_GETGEN).
  absl::StatusOr<uint32_t> GetGeneration();

  uint32_t NextSeq() { return seq_++; }
  // Reserves `n` more sequence numbers (a batch's messages).
  void SkipSeq(uint32_t n) { seq_ += n; }
  uint32_t portid() const { return portid_; }
  int fd() const;

 private:
  NetlinkSocket(mnl_socket* sock, uint32_t portid, uint32_t seq);

  mnl_socket* sock_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::vector<char> rx_;
};

using internal::ForEachAttr;
using internal::ForEachNested;

// "Operation not permitted" with the errno's name.
std::string ErrnoText(int err);
// EPERM as PermissionDenied naming CAP_NET_ADMIN; other errors as `code`.
absl::Status ErrnoStatus(int err, const std::string& what);

}  // namespace meshcap::nft

#endif  // MESHCAP_BACKENDS_NFTABLES_NL_TRANSPORT_H_
