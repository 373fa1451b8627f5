// SPDX-License-Identifier: GPL-2.0-or-later
// A tool for dev/golden/xt-nft-kinds.sh, not a test: prints every rule of an
// ip or ip6 chain in the calling process's namespace as the kernel dumps it,
// one ExprKey line per expression (backends/iptables_nft/xt_rule.h), each
// rule after a "#" line of nft's own rendering of its expressions.
//
//   xt_nft_dump 4|6 TABLE CHAIN

#include <linux/netlink.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "backends/iptables_nft/read.h"
#include "backends/iptables_nft/xt_rule.h"

int main(int argc, char** argv) {
  using namespace meshcap;  // NOLINT: a small tool
  if (argc != 4) {
    std::fprintf(stderr, "usage: xt_nft_dump 4|6 TABLE CHAIN\n");
    return 2;
  }
  const IpFamily family =
      std::strcmp(argv[1], "6") == 0 ? IpFamily::kIpv6 : IpFamily::kIpv4;
  auto nl = internal::NetlinkSocket::Open(NETLINK_NETFILTER);
  if (!nl.ok()) {
    std::fprintf(stderr, "%s\n", std::string(nl.status().message()).c_str());
    return 1;
  }
  const std::string table = argv[2];
  auto state = iptnft::ReadTables(
      **nl, iptnft::ReadRules::kAll,
      [&](const std::string& name) { return name == table; });
  if (!state.ok()) {
    std::fprintf(stderr, "%s\n", std::string(state.status().message()).c_str());
    return 1;
  }
  const iptnft::KTable* t = state->Find(family, table);
  const iptnft::KChain* c = t != nullptr ? t->Find(argv[3]) : nullptr;
  if (c == nullptr) {
    std::fprintf(stderr, "no chain %s in %s\n", argv[3], argv[2]);
    return 1;
  }
  for (const auto& r : c->rules) {
    std::string human = iptnft::ExprListText(r.get());
    for (size_t at = 0; (at = human.find('\n', at)) != std::string::npos &&
                        at + 1 < human.size();) {
      human.replace(at, 1, "\n# ");
      at += 3;
    }
    std::printf("# %s%s", human.c_str(), iptnft::ExprKey(r.get()).c_str());
  }
  return 0;
}
