// SPDX-License-Identifier: GPL-2.0-or-later
// A tool for dev/golden/xt-kinds.sh, not a test: prints, one hex line per
// rule, the comparison key (backends/iptables_legacy/table.h EntryKey) of
// every rule of a legacy chain in the calling process's namespace.
//
//   xt_key_dump 4|6 TABLE CHAIN

#include <cstdio>
#include <cstring>
#include <string>

#include "backends/iptables_legacy/table.h"

int main(int argc, char** argv) {
  using namespace meshcap;  // NOLINT: a small tool
  if (argc != 4) {
    std::fprintf(stderr, "usage: xt_key_dump 4|6 TABLE CHAIN\n");
    return 2;
  }
  const IpFamily family =
      std::strcmp(argv[1], "6") == 0 ? IpFamily::kIpv6 : IpFamily::kIpv4;
  ir::TableKind kind = ir::TableKind::kNat;
  if (std::strcmp(argv[2], "mangle") == 0) kind = ir::TableKind::kMangle;
  if (std::strcmp(argv[2], "raw") == 0) kind = ir::TableKind::kRaw;
  absl::StatusOr<ipt::Table> t = ipt::Table::Open(family, kind);
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  for (const void* e = t->FirstRule(argv[3]); e != nullptr;
       e = t->NextRule(e)) {
    for (unsigned char c : t->EntryKey(e)) std::printf("%02x", c);
    std::printf("\n");
  }
  return 0;
}
