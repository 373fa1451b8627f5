// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/netlink/netlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/errno_status.h"
#include "src/netlink/nl_attr.h"

namespace meshcap::internal {
namespace {

constexpr size_t kRxBufferSize = 64 * 1024;

}  // namespace

// --- NetlinkBatch ------------------------------------------------------------

char* NetlinkBatch::Next() {
  if (pages_.empty() ||
      pages_.back().capacity - pages_.back().used < kMaxMessage) {
    // A fresh page from calloc: zeroed, and for large sizes mmap'd pages
    // that cost nothing until touched.
    Page p;
    p.capacity = kPageSize + kMaxMessage;
    p.data.reset(static_cast<char*>(std::calloc(1, p.capacity)));
    if (p.data == nullptr) std::abort();
    pages_.push_back(std::move(p));
  }
  Page& p = pages_.back();
  return p.data.get() + p.used;
}

void NetlinkBatch::Commit(const nlmsghdr* nlh) {
  Page& p = pages_.back();
  const size_t len = NLMSG_ALIGN(nlh->nlmsg_len);
  p.used += len;
  size_ += len;
}

std::vector<iovec> NetlinkBatch::Iovecs() const {
  std::vector<iovec> out;
  out.reserve(pages_.size());
  for (const Page& p : pages_) {
    if (p.used > 0) out.push_back({p.data.get(), p.used});
  }
  return out;
}

std::string NetlinkBatch::Bytes() const {
  std::string out;
  out.reserve(size_);
  for (const Page& p : pages_) out.append(p.data.get(), p.used);
  return out;
}

void NetlinkBatch::ForEach(
    const std::function<void(const nlmsghdr*)>& f) const {
  for (const Page& p : pages_) {
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(p.data.get());
    int left = static_cast<int>(p.used);
    while (mnl_nlmsg_ok(nlh, left)) {
      f(nlh);
      nlh = mnl_nlmsg_next(nlh, &left);
    }
  }
}

// --- Extended acks -----------------------------------------------------------

void ParseExtAck(const nlmsghdr* nlh, NetlinkError* out) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  size_t hlen = sizeof(*err);
  // Without NETLINK_CAP_ACK the whole request is echoed before the TLVs.
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
    hlen += mnl_nlmsg_get_payload_len(&err->msg);
  }
  if (mnl_nlmsg_get_payload_len(nlh) < hlen) return;
  ForEachAttr(nlh, hlen, [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case NLMSGERR_ATTR_MSG:
        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
          out->message = mnl_attr_get_str(attr);
        }
        break;
      case NLMSGERR_ATTR_OFFS:
        if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
          out->attr_offset = mnl_attr_get_u32(attr);
        }
        break;
      default:
        break;
    }
  });
}

// --- NetlinkSocket -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<NetlinkSocket>> NetlinkSocket::Open(
    int protocol) {
  const char* what = protocol == NETLINK_ROUTE
                         ? "cannot open an rtnetlink socket"
                         : "cannot open a netfilter netlink socket";
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  if (!fd) return ErrnoStatus(errno, what);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, what);
  }
  socklen_t len = sizeof(addr);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus(errno, what);
  }
  // Both are best effort: without them errors still arrive, only less
  // precisely located and with the request echoed.
  const int on = 1;
  setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
  setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
  return std::unique_ptr<NetlinkSocket>(new NetlinkSocket(
      std::move(fd), addr.nl_pid, static_cast<uint32_t>(time(nullptr))));
}

NetlinkSocket::NetlinkSocket(UniqueFd fd, uint32_t portid, uint32_t seq)
    : fd_(std::move(fd)),
      portid_(portid),
      seq_(seq),
      rx_(new char[kRxBufferSize]) {}

NetlinkSocket::~NetlinkSocket() = default;

uint32_t NetlinkSocket::ReserveSeq(uint32_t n) {
  const uint32_t first = seq_;
  seq_ += n;
  return first;
}

absl::StatusOr<std::vector<NetlinkError>> NetlinkSocket::SendBatch(
    const NetlinkBatch& batch) {
  // The kernel refuses a message larger than the socket's send buffer
  // (EMSGSIZE); grow it to fit the batch, as nft does. SO_SNDBUFFORCE
  // needs CAP_NET_ADMIN, which a writer of rules has; SO_SNDBUF is the
  // fallback.
  const int want = static_cast<int>(std::min<size_t>(
      batch.size() + NetlinkBatch::kPageSize, static_cast<size_t>(INT32_MAX)));
  if (sndbuf_ == 0) {
    socklen_t len = sizeof(sndbuf_);
    getsockopt(fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf_, &len);
  }
  if (want > sndbuf_) {
    if (setsockopt(fd(), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) !=
        0) {
      setsockopt(fd(), SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    }
    socklen_t len = sizeof(sndbuf_);
    getsockopt(fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf_, &len);
  }
  std::vector<iovec> iov = batch.Iovecs();
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof(kernel);
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  ssize_t sent;
  do {
    sent = sendmsg(fd(), &msg, 0);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot send a netlink batch of ",
                                           batch.size(), " bytes"));
  }
  // nfnetlink handles a batch synchronously inside sendmsg(), so every
  // answer is queued by now.
  std::vector<NetlinkError> errors;
  for (;;) {
    const ssize_t n = recv(fd(), rx_.get(), kRxBufferSize, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read the kernel's answer to a batch");
    }
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_.get());
    int remaining = static_cast<int>(n);
    while (mnl_nlmsg_ok(nlh, remaining)) {
      if (nlh->nlmsg_type == NLMSG_ERROR &&
          mnl_nlmsg_get_payload_len(nlh) >= sizeof(nlmsgerr)) {
        const auto* err =
            static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error != 0) {
          NetlinkError e;
          e.seq = nlh->nlmsg_seq;
          e.error = -err->error;
          ParseExtAck(nlh, &e);
          errors.push_back(std::move(e));
        }
      }
      nlh = mnl_nlmsg_next(nlh, &remaining);
    }
  }
  return errors;
}

absl::Status NetlinkSocket::SendOne(const nlmsghdr* nlh,
                                    const std::string& what) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd(), nlh, nlh->nlmsg_len, 0,
                  reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ErrnoStatus(errno, what);
  return absl::OkStatus();
}

absl::Status NetlinkSocket::Request(nlmsghdr* request, const std::string& what,
                                    const MessageCallback& on_message) {
  request->nlmsg_flags |= NLM_F_REQUEST;
  request->nlmsg_seq = ReserveSeq(1);
  request->nlmsg_pid = 0;
  if (absl::Status s = SendOne(request, what); !s.ok()) return s;
  const bool dump = (request->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  bool interrupted = false;
  for (;;) {
    const ssize_t n = recv(fd(), rx_.get(), kRxBufferSize, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, what);
    }
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_.get());
    int remaining = static_cast<int>(n);
    while (mnl_nlmsg_ok(nlh, remaining)) {
      if (nlh->nlmsg_seq != request->nlmsg_seq || nlh->nlmsg_pid != portid_) {
        nlh = mnl_nlmsg_next(nlh, &remaining);
        continue;  // a late answer to something else
      }
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (nlh->nlmsg_type == NLMSG_DONE) {
        if (interrupted) {
          return absl::AbortedError(absl::StrCat(
              what, ": the dump was interrupted by a concurrent change"));
        }
        return absl::OkStatus();
      }
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err =
            static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error == 0) return absl::OkStatus();  // an ack
        NetlinkError e;
        e.error = -err->error;
        ParseExtAck(nlh, &e);
        std::string context = what;
        if (!e.message.empty()) absl::StrAppend(&context, " (", e.message, ")");
        return ErrnoStatus(e.error, context);
      }
      if (absl::Status s = on_message(nlh); !s.ok()) return s;
      if (!dump && !(request->nlmsg_flags & NLM_F_ACK)) {
        return absl::OkStatus();
      }
      nlh = mnl_nlmsg_next(nlh, &remaining);
    }
  }
}

absl::StatusOr<NetlinkError> NetlinkSocket::Call(nlmsghdr* request) {
  request->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  request->nlmsg_seq = ReserveSeq(1);
  request->nlmsg_pid = 0;
  if (absl::Status s = SendOne(request, "cannot send a netlink request");
      !s.ok()) {
    return s;
  }
  for (;;) {
    const ssize_t n = recv(fd(), rx_.get(), kRxBufferSize, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read a netlink answer");
    }
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_.get());
    int remaining = static_cast<int>(n);
    while (mnl_nlmsg_ok(nlh, remaining)) {
      if (nlh->nlmsg_seq == request->nlmsg_seq &&
          nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err =
            static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        NetlinkError e;
        e.seq = nlh->nlmsg_seq;
        e.error = -err->error;
        ParseExtAck(nlh, &e);
        return e;
      }
      nlh = mnl_nlmsg_next(nlh, &remaining);
    }
  }
}

}  // namespace meshcap::internal
