// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/nftables/nl_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace meshcap::nft {
namespace {

constexpr size_t kRxBufferSize = 64 * 1024;

// Reads the extended-ack attributes that follow an nlmsgerr.
void ParseExtAck(const nlmsghdr* nlh, BatchError* out) {
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

}  // namespace

std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  return absl::StrCat(strerror(err), " (", name ? name : "?", ")");
}

absl::Status ErrnoStatus(int err, const std::string& what) {
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, ": ", ErrnoText(err),
                     "; nftables needs CAP_NET_ADMIN in the target network "
                     "namespace"));
  }
  if (err == EPROTONOSUPPORT || err == EAFNOSUPPORT) {
    return absl::UnavailableError(absl::StrCat(
        what, ": ", ErrnoText(err), "; the kernel has no nf_tables"));
  }
  return absl::InternalError(absl::StrCat(what, ": ", ErrnoText(err)));
}

absl::StatusOr<NetlinkSocket> NetlinkSocket::Open() {
  mnl_socket* sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (sock == nullptr) {
    return ErrnoStatus(errno, "cannot open a netfilter netlink socket");
  }
  if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int err = errno;
    mnl_socket_close(sock);
    return ErrnoStatus(err, "cannot bind the netfilter netlink socket");
  }
  int on = 1;
  // Both are best effort: without them errors still arrive, only less
  // precisely located and with the request echoed.
  mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &on, sizeof(on));
  mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &on, sizeof(on));
  return NetlinkSocket(sock, mnl_socket_get_portid(sock),
                       static_cast<uint32_t>(time(nullptr)));
}

NetlinkSocket::NetlinkSocket(mnl_socket* sock, uint32_t portid, uint32_t seq)
    : sock_(sock), portid_(portid), seq_(seq), rx_(kRxBufferSize) {}

NetlinkSocket::NetlinkSocket(NetlinkSocket&& other) noexcept
    : sock_(std::exchange(other.sock_, nullptr)),
      portid_(other.portid_),
      seq_(other.seq_),
      rx_(std::move(other.rx_)) {}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& other) noexcept {
  if (this != &other) {
    if (sock_ != nullptr) mnl_socket_close(sock_);
    sock_ = std::exchange(other.sock_, nullptr);
    portid_ = other.portid_;
    seq_ = other.seq_;
    rx_ = std::move(other.rx_);
  }
  return *this;
}

NetlinkSocket::~NetlinkSocket() {
  if (sock_ != nullptr) mnl_socket_close(sock_);
}

int NetlinkSocket::fd() const { return mnl_socket_get_fd(sock_); }

absl::StatusOr<std::vector<BatchError>> NetlinkSocket::SendBatch(
    const void* data, size_t len) {
  if (mnl_socket_sendto(sock_, data, len) < 0) {
    return ErrnoStatus(errno, "cannot send the nftables batch");
  }
  std::vector<BatchError> errors;
  for (;;) {
    const ssize_t n = recv(fd(), rx_.data(), rx_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read the kernel's answer");
    }
    const nlmsghdr* nlh = reinterpret_cast<const nlmsghdr*>(rx_.data());
    int remaining = static_cast<int>(n);
    while (mnl_nlmsg_ok(nlh, remaining)) {
      if (nlh->nlmsg_type == NLMSG_ERROR &&
          mnl_nlmsg_get_payload_len(nlh) >= sizeof(nlmsgerr)) {
        const auto* err =
            static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error != 0) {
          BatchError e;
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

absl::Status NetlinkSocket::Request(
    nlmsghdr* request,
    const std::function<absl::Status(const nlmsghdr*)>& on_message) {
  request->nlmsg_seq = NextSeq();
  if (mnl_socket_sendto(sock_, request, request->nlmsg_len) < 0) {
    return ErrnoStatus(errno, "cannot send a netlink request");
  }
  const bool dump = (request->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  bool interrupted = false;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(sock_, rx_.data(), rx_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read a netlink answer");
    }
    const nlmsghdr* nlh = reinterpret_cast<const nlmsghdr*>(rx_.data());
    int remaining = static_cast<int>(n);
    while (mnl_nlmsg_ok(nlh, remaining)) {
      if (nlh->nlmsg_seq != request->nlmsg_seq || nlh->nlmsg_pid != portid_) {
        nlh = mnl_nlmsg_next(nlh, &remaining);
        continue;  // a late answer to something else
      }
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (nlh->nlmsg_type == NLMSG_DONE) {
        if (interrupted) {
          return absl::AbortedError(
              "a netlink dump was interrupted by a concurrent change");
        }
        return absl::OkStatus();
      }
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err =
            static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error == 0) return absl::OkStatus();  // an ack
        return ErrnoStatus(-err->error, "the kernel refused a request");
      }
      absl::Status s = on_message(nlh);
      if (!s.ok()) return s;
      if (!dump) return absl::OkStatus();
      nlh = mnl_nlmsg_next(nlh, &remaining);
    }
  }
}

absl::StatusOr<uint32_t> NetlinkSocket::GetGeneration() {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* nfg =
      static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  uint32_t gen = 0;
  bool found = false;
  absl::Status s = Request(nlh, [&](const nlmsghdr* m) {
    ForEachAttr(m, sizeof(nfgenmsg), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) == NFTA_GEN_ID &&
          mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
        gen = ntohl(mnl_attr_get_u32(attr));
        found = true;
      }
    });
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) {
    return absl::UnavailableError(
        "the kernel did not report an nftables ruleset generation");
  }
  return gen;
}

}  // namespace meshcap::nft
