// SPDX-License-Identifier: GPL-2.0-or-later
//
// The policy-routing read-back (src/routing.cc) on arbitrary rtnetlink
// dumps: the input is a buffer of netlink messages as a dump of rules,
// routes or addresses returns it, each message offered to the three
// decoders. They must not crash or read outside the message, and what
// they keep must be the message itself.

#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "src/routing.h"

namespace {

void Check(const std::optional<meshcap::internal::RoutingEntry>& e,
           const nlmsghdr* m) {
  if (!e.has_value()) return;
  if (e->message.size() != m->nlmsg_len ||
      memcmp(e->message.data(), m, m->nlmsg_len) != 0) {
    abort();  // an entry must carry its message, to be deleted exactly
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The kernel's buffers are aligned; only `size` bytes are addressable.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);
  memcpy(buf.get(), data, size);
  // The walk is bounds-checked here rather than by mnl_nlmsg_ok, which casts
  // nlmsg_len to int: a length of 2^31 or more passes it and the next step
  // leaves the buffer. A dump the kernel wrote never has one; fuzz input does.
  const uint8_t* p = buf.get();
  size_t left = size;
  while (left >= sizeof(nlmsghdr)) {
    const auto* m = reinterpret_cast<const nlmsghdr*>(p);
    if (m->nlmsg_len < sizeof(nlmsghdr) || m->nlmsg_len > left) break;
    Check(meshcap::internal::DecodeRule(m), m);
    Check(meshcap::internal::DecodeRoute(m), m);
    Check(meshcap::internal::DecodeAddress(m), m);
    const size_t step = NLMSG_ALIGN(m->nlmsg_len);
    if (step >= left) break;
    p += step;
    left -= step;
  }
  return 0;
}
