// SPDX-License-Identifier: GPL-2.0-or-later
// The host's addresses as Istio reads them to decide on IPv6, for
// ApplyIstioEnvironment (the tool) and the CNI plugin. Internal.

#ifndef MESHCAP_SRC_LOCAL_ADDRESSES_H_
#define MESHCAP_SRC_LOCAL_ADDRESSES_H_

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

#endif  // MESHCAP_SRC_LOCAL_ADDRESSES_H_
