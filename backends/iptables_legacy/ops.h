// SPDX-License-Identifier: GPL-2.0-or-later
// libiptc's two families behind one table of functions (libiptc and
// libip6tc have the same API with different names and entry types), and
// how their errors read.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_OPS_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_OPS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "src/ir/rule_set.h"

struct xtc_handle;

namespace meshcap::ipt {

// How often a raw read or replace is retried on EAGAIN (the table changed
// in between).
inline constexpr int kEagainRetries = 20;

struct Ops {
  IpFamily family;
  const char* label;         // "IPv4"
  const char* tables_names;  // /proc file listing this netns' tables
  xtc_handle* (*init)(const char*);
  void (*free)(xtc_handle*);
  const char* (*first_chain)(xtc_handle*);
  const char* (*next_chain)(xtc_handle*);
  int (*builtin)(const char*, xtc_handle*);
  int (*is_chain)(const char*, xtc_handle*);
  const void* (*first_rule)(const char*, xtc_handle*);
  const void* (*next_rule)(const void*, xtc_handle*);
  const char* (*get_target)(const void*, xtc_handle*);
  int (*append)(const char*, const void*, xtc_handle*);
  int (*delete_num)(const char*, unsigned int, xtc_handle*);
  int (*flush)(const char*, xtc_handle*);
  int (*create_chain)(const char*, xtc_handle*);
  int (*delete_chain)(const char*, xtc_handle*);
  int (*commit)(xtc_handle*);
  const char* (*strerror)(int);
  size_t header_size;  // sizeof(ipt_entry) / sizeof(ip6t_entry)
  size_t ip_size;      // sizeof(ipt_ip) / sizeof(ip6t_ip6)
  uint32_t (*nfcache)(const void*);
  uint16_t (*target_offset)(const void*);
  uint16_t (*next_offset)(const void*);
  int level;        // IPPROTO_IP / IPPROTO_IPV6 for the sockopts
  int sock_family;  // AF_INET / AF_INET6
};

const Ops& OpsFor(IpFamily family);

// "IPv4 table nat".
std::string Where(IpFamily family, ir::TableKind kind);

// A libiptc failure for table `kind`: UNAVAILABLE when the kernel lacks
// the table, else the errno's code, with libiptc's words.
absl::Status LibiptcError(const Ops& ops, ir::TableKind kind, const char* what,
                          int err);

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_OPS_H_
