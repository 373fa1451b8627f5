// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/istio_env.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

namespace meshcap::internal {

LocalAddresses DetectLocalAddresses(bool dual_stack) {
  LocalAddresses out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK)) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      const uint32_t ip = ntohl(sin->sin_addr.s_addr);
      if ((ip >> 24) == 127 || (ip >> 16) == 0xa9fe) continue;
      out.any = true;
      if (!dual_stack) break;
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) ||
          IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
        continue;
      }
      out.any = true;
      out.ipv6 = true;
      break;
    }
  }
  freeifaddrs(list);
  return out;
}

}  // namespace meshcap::internal
