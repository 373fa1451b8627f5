// SPDX-License-Identifier: GPL-2.0-or-later
// What the kernel holds of a capture, read with the standard tools (nft,
// iptables-legacy-save, ip), for tests that compare whole states: "the
// kernel holds exactly policy A" is ReadCaptureState() == the state a clean
// apply of A leaves in a fresh namespace.

#ifndef MESHCAP_TESTS_TESTING_CAPTURE_STATE_H_
#define MESHCAP_TESTS_TESTING_CAPTURE_STATE_H_

#include <map>
#include <string>

namespace meshcap::testing {

struct CaptureState {
  // Our tables, by name ("istio-proxy-nat", "iptables-legacy-save nat",
  // "ip6tables-nft-save mangle"), as the tool lists them. iptables tables
  // are listed whole (with the built-in chains' jumps into ours) when they
  // hold anything of ours.
  std::map<std::string, std::string> tables;
  // Our policy-routing rules and routes (proto 109) and ::6 on lo, one per
  // line. Rules lose their preference: one added without a preference gets
  // one below the lowest in use, which depends on history.
  std::string routing;

  bool operator==(const CaptureState& o) const {
    return tables == o.tables && routing == o.routing;
  }
  bool empty() const { return tables.empty() && routing.empty(); }
};

// In the calling thread's network namespace; `backend` is "nftables",
// "iptables-legacy" or "iptables-nft".
CaptureState ReadCaptureState(const std::string& backend);

// A readable dump, for failure messages.
std::string ToString(const CaptureState& state);

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_CAPTURE_STATE_H_
