// SPDX-License-Identifier: GPL-2.0-or-later
//
// The nftables backend's read-back decoders (expr/*.cc) on arbitrary
// rules, as another tool may leave them in our tables: any sequence of the
// expression types meshcap makes (and two it does not), each with any of
// its attributes set to any bytes. The input encodes the rule
// (nft_fuzz_rule.h); it is built with libnftnl's setters rather than
// parsed from a netlink message, because libnftnl 1.2.4 trusts the kernel
// and crashes on malformed messages the kernel never sends. The decoders
// must describe every rule without crashing or reading out of bounds.

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/nftables/decode.h"
#include "backends/nftables/lower.h"
#include "tests/fuzz/nft_fuzz_rule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meshcap::nft::NftnlPtr<nftnl_rule> rule =
      meshcap::fuzz::RuleFromBytes(data, size);
  // Lookups resolve to a small set of ports.
  static const std::vector<std::string> kKeys = {std::string("\x00\x35", 2),
                                                 std::string("\x3a\x99", 2)};
  auto sets = [](const nftnl_expr*) { return &kKeys; };
  (void)meshcap::nft::DecodeRule(rule.get(), sets);
  (void)meshcap::nft::DescribeRule(rule.get(), sets,
                                   meshcap::nft::SpellContext{});
  return 0;
}
