// SPDX-License-Identifier: GPL-2.0-or-later
// What istio-iptables reads from its surroundings rather than from its
// flags, made available to every entry point (the tool, the CNI plugin).
// Internal.

#ifndef MESHCAP_SRC_ISTIO_ENV_H_
#define MESHCAP_SRC_ISTIO_ENV_H_

namespace meshcap::internal {

struct LocalAddresses {
  // Istio's IPv6 decision (tools/common/config getLocalIP): the first
  // address that is neither loopback nor link-local is IPv6, or, with
  // dual-stack, any such address is.
  bool ipv6 = false;
  // Whether there is any such address at all (istio-cni fails ADD when
  // there is none).
  bool any = false;
};

// The calling thread's network namespace's addresses, as above.
LocalAddresses DetectLocalAddresses(bool dual_stack);

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_ISTIO_ENV_H_
