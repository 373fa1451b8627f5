// SPDX-License-Identifier: GPL-2.0-or-later
// The kernel's own share of an apply, for the benchmarks' floors: a bare
// nfnetlink socket that replays a prebuilt batch, and `::6/128` on lo added
// or deleted over a bare rtnetlink socket. Header-only (the benchmarks link
// libmnl; bench_util does not).

#ifndef MESHCAP_BENCH_RAW_NETLINK_H_
#define MESHCAP_BENCH_RAW_NETLINK_H_

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace meshcap::bench {

// A bare nfnetlink socket that replays prebuilt batches.
class RawSocket {
 public:
  RawSocket() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (fd_ >= 0 &&
        bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd_);
      fd_ = -1;
    }
    if (fd_ >= 0) {
      const int size = 64 << 20;
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
    }
  }
  ~RawSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Sends `batch` and drains the answer (only errors come back); false on
  // any error.
  bool Replay(const std::string& batch) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, batch.data(), batch.size(), 0,
               reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
      return false;
    }
    bool failed = false;
    char rx[8192];
    while (recv(fd_, rx, sizeof(rx), MSG_DONTWAIT) > 0) failed = true;
    return !failed;
  }

 private:
  int fd_ = -1;
};

// `::6/128` on lo, added or deleted over a bare rtnetlink socket (waiting
// for the kernel's answer, as Engine::Apply does).
class RawAddress {
 public:
  RawAddress() : nl_(mnl_socket_open(NETLINK_ROUTE)) {
    if (nl_ != nullptr && mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
      mnl_socket_close(nl_);
      nl_ = nullptr;
    }
  }
  ~RawAddress() {
    if (nl_ != nullptr) mnl_socket_close(nl_);
  }
  bool ok() const { return nl_ != nullptr; }
  bool Send(uint16_t type, uint16_t flags) {
    char buf[256] = {};
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    nlh->nlmsg_seq = ++seq_;
    auto* ifa = static_cast<ifaddrmsg*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET6;
    ifa->ifa_prefixlen = 128;
    ifa->ifa_flags = IFA_F_NODAD;
    ifa->ifa_index = 1;  // lo
    in6_addr six{};
    six.s6_addr[15] = 6;
    mnl_attr_put(nlh, IFA_LOCAL, sizeof(six), &six);
    mnl_attr_put(nlh, IFA_ADDRESS, sizeof(six), &six);
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return false;
    char rx[8192];
    const ssize_t n = mnl_socket_recvfrom(nl_, rx, sizeof(rx));
    if (n < static_cast<ssize_t>(sizeof(nlmsghdr) + sizeof(nlmsgerr))) {
      return false;
    }
    const auto* err = static_cast<const nlmsgerr*>(
        mnl_nlmsg_get_payload(reinterpret_cast<const nlmsghdr*>(rx)));
    return err->error == 0;
  }

 private:
  mnl_socket* nl_;
  uint32_t seq_ = 0;
};

}  // namespace meshcap::bench

#endif  // MESHCAP_BENCH_RAW_NETLINK_H_
