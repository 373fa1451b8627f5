// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/local_addresses.h"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "src/netlink/netlink.h"
#include "src/netlink/nl_attr.h"

namespace meshcap::internal {
namespace {

struct Address {
  uint32_t ifindex;
  int family;
  unsigned char bytes[16];
};

// Go's net.IP IsLoopback and IsLinkLocalUnicast: what Istio skips.
bool Skipped(const Address& a) {
  if (a.family == AF_INET) {
    return a.bytes[0] == 127 || (a.bytes[0] == 169 && a.bytes[1] == 254);
  }
  static const unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                              0, 0, 0, 0, 0, 0, 0, 1};
  return memcmp(a.bytes, kLoopback, 16) == 0 ||
         (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80);
}

}  // namespace

LocalAddresses DetectLocalAddresses(bool dual_stack) {
  LocalAddresses out;
  absl::StatusOr<std::unique_ptr<NetlinkSocket>> sock =
      NetlinkSocket::Open(NETLINK_ROUTE);
  if (!sock.ok()) return out;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETADDR;
  nlh->nlmsg_flags = NLM_F_DUMP;
  auto* req = static_cast<ifaddrmsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  req->ifa_family = AF_UNSPEC;
  std::vector<Address> addresses;
  absl::Status s = (*sock)->Request(
      nlh, "cannot list the addresses", [&](const nlmsghdr* m) {
        if (m->nlmsg_type != RTM_NEWADDR ||
            m->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) {
          return absl::OkStatus();
        }
        const auto* ifa =
            static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(m));
        const size_t len = ifa->ifa_family == AF_INET    ? 4
                           : ifa->ifa_family == AF_INET6 ? 16
                                                         : 0;
        if (len == 0) return absl::OkStatus();
        ForEachAttr(m, sizeof(ifaddrmsg), [&](const nlattr* attr) {
          if (mnl_attr_get_type(attr) == IFA_ADDRESS &&
              mnl_attr_get_payload_len(attr) == len) {
            Address a{ifa->ifa_index, ifa->ifa_family, {}};
            memcpy(a.bytes, mnl_attr_get_payload(attr), len);
            addresses.push_back(a);
          }
        });
        return absl::OkStatus();
      });
  if (!s.ok()) return out;
  // Go lists the addresses interface by interface (net.InterfaceAddrs),
  // and the kernel's dump gives IPv4 before IPv6: order by interface, the
  // dump's order kept within one.
  std::stable_sort(
      addresses.begin(), addresses.end(),
      [](const Address& a, const Address& b) { return a.ifindex < b.ifindex; });
  for (const Address& a : addresses) {
    if (Skipped(a)) continue;
    out.any = true;
    if (a.family == AF_INET6) {
      out.ipv6 = true;
      break;
    }
    if (!dual_stack) break;
  }
  return out;
}

}  // namespace meshcap::internal
