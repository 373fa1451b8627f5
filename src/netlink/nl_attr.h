// SPDX-License-Identifier: GPL-2.0-or-later
// Walking netlink attributes from C++ (libmnl's mnl_attr_for_each macros
// assign from void*, which C++ refuses).

#ifndef MESHCAP_SRC_NETLINK_NL_ATTR_H_
#define MESHCAP_SRC_NETLINK_NL_ATTR_H_

#include <libmnl/libmnl.h>

namespace meshcap::internal {

// Calls `f(const nlattr*)` for each attribute after `offset` bytes of
// `nlh`'s payload.
template <typename F>
void ForEachAttr(const nlmsghdr* nlh, size_t offset, F f) {
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  const auto* a =
      static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
  while (mnl_attr_ok(
      a, static_cast<int>(tail - reinterpret_cast<const char*>(a)))) {
    f(a);
    a = mnl_attr_next(a);
  }
}

// Calls `f(const nlattr*)` for each attribute nested in `nest`.
template <typename F>
void ForEachNested(const nlattr* nest, F f) {
  const auto* a = static_cast<const nlattr*>(mnl_attr_get_payload(nest));
  int left = static_cast<int>(mnl_attr_get_payload_len(nest));
  while (mnl_attr_ok(a, left)) {
    f(a);
    left -= static_cast<int>(MNL_ALIGN(a->nla_len));
    a = mnl_attr_next(a);
  }
}

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_NETLINK_NL_ATTR_H_
