// SPDX-License-Identifier: GPL-2.0-or-later
// The one netlink transport of meshcap: nfnetlink batches for the nftables
// backend, requests and dumps for both nfnetlink and rtnetlink.
//
// Messages are built with libmnl/libnftnl into a NetlinkBatch, a list of
// zeroed pages, and a batch of any size goes out in one sendmsg() over an
// iovec, with the socket's send buffer grown to fit it, as nft does. A
// transaction therefore never fails with EMSGSIZE because of its size.

#ifndef MESHCAP_SRC_NETLINK_NETLINK_H_
#define MESHCAP_SRC_NETLINK_NETLINK_H_

#include <linux/netlink.h>
#include <sys/uio.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/unique_fd.h"

namespace meshcap::internal {

// Messages laid out back to back in zeroed pages (so that no padding byte
// the kernel reads is uninitialised). Build a message at `Next()` (which
// has room for `kMaxMessage` bytes), then `Commit()` it.
class NetlinkBatch {
 public:
  static constexpr size_t kMaxMessage = 64 * 1024;
  // A page holds kPageSize + kMaxMessage bytes: just under glibc's
  // 128 KiB mmap threshold, so a usual batch costs no mmap and munmap.
  static constexpr size_t kPageSize = 56 * 1024;

  NetlinkBatch() = default;
  NetlinkBatch(NetlinkBatch&&) = default;
  NetlinkBatch& operator=(NetlinkBatch&&) = default;

  char* Next();
  void Commit(const nlmsghdr* nlh);

  size_t size() const { return size_; }
  size_t pages() const { return pages_.size(); }
  bool empty() const { return size_ == 0; }
  std::vector<iovec> Iovecs() const;
  // The whole batch as one string (tests, golden files, benchmarks).
  std::string Bytes() const;
  // Calls `f(const nlmsghdr*)` for every message, in order.
  void ForEach(const std::function<void(const nlmsghdr*)>& f) const;

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  struct Page {
    std::unique_ptr<char, Free> data;
    size_t used = 0;
    size_t capacity = 0;
  };
  std::vector<Page> pages_;
  size_t size_ = 0;
};

// The kernel's answer to one message: an error (or an ack, error 0).
struct NetlinkError {
  uint32_t seq = 0;
  int error = 0;  // positive errno; 0 for an ack
  // Offset of the offending attribute from the start of the message, when
  // the kernel said (extended ack); otherwise 0.
  uint32_t attr_offset = 0;
  std::string message;  // the kernel's extended-ack text, if any
};

using MessageCallback = std::function<absl::Status(const nlmsghdr*)>;

// What the nftables backend needs of a netlink socket; tests substitute a
// recording fake (tests/testing/fake_netlink.h).
class NetlinkTransport {
 public:
  virtual ~NetlinkTransport() = default;

  // Reserves `n` consecutive sequence numbers and returns the first.
  virtual uint32_t ReserveSeq(uint32_t n) = 0;
  // Sends a whole batch and returns every error the kernel reported for
  // it (messages without NLM_F_ACK answer only on failure).
  [[nodiscard]] virtual absl::StatusOr<std::vector<NetlinkError>> SendBatch(
      const NetlinkBatch& batch) = 0;
  // Sends one request (a dump with NLM_F_DUMP) and feeds each answer to
  // `on_message` until the kernel is done. An error answer becomes the
  // status (ErrnoStatus, prefixed with `what`); a dump that raced with a
  // change is kAborted.
  [[nodiscard]] virtual absl::Status Request(
      nlmsghdr* request, const std::string& what,
      const MessageCallback& on_message) = 0;
};

class NetlinkSocket : public NetlinkTransport {
 public:
  // Opens and binds a netlink socket of `protocol` (NETLINK_NETFILTER,
  // NETLINK_ROUTE) in the calling thread's network namespace, with extended
  // acks on.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<NetlinkSocket>> Open(
      int protocol);

  ~NetlinkSocket() override;

  uint32_t ReserveSeq(uint32_t n) override;
  [[nodiscard]] absl::StatusOr<std::vector<NetlinkError>> SendBatch(
      const NetlinkBatch& batch) override;
  [[nodiscard]] absl::Status Request(
      nlmsghdr* request, const std::string& what,
      const MessageCallback& on_message) override;

  // Sends one request with NLM_F_ACK and waits for its answer: the
  // returned error is 0 on success.
  [[nodiscard]] absl::StatusOr<NetlinkError> Call(nlmsghdr* request);

  uint32_t portid() const { return portid_; }
  int fd() const { return fd_.get(); }

 private:
  NetlinkSocket(UniqueFd fd, uint32_t portid, uint32_t seq);

  [[nodiscard]] absl::Status SendOne(const nlmsghdr* nlh,
                                     const std::string& what);

  UniqueFd fd_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  int sndbuf_ = 0;  // the send buffer size we last saw or set
  // Not zeroed: the kernel writes what is read, and the pages it does not
  // reach are never touched.
  std::unique_ptr<char[]> rx_;
};

// Reads the extended-ack attributes after the nlmsgerr of `nlh` into `out`.
void ParseExtAck(const nlmsghdr* nlh, NetlinkError* out);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETLINK_NETLINK_H_
