// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/ops.h"

#include <errno.h>
// libip6tc.h has no C++ guard of its own.
extern "C" {
#include <libiptc/libip6tc.h>
}
#include <libiptc/libiptc.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "src/errno_status.h"

namespace meshcap::ipt {

namespace {

const Ops kIpv4Ops = {
    IpFamily::kIpv4,
    "IPv4",
    "/proc/thread-self/net/ip_tables_names",
    iptc_init,
    iptc_free,
    iptc_first_chain,
    iptc_next_chain,
    iptc_builtin,
    iptc_is_chain,
    [](const char* c, xtc_handle* h) -> const void* {
      return iptc_first_rule(c, h);
    },
    [](const void* e, xtc_handle* h) -> const void* {
      return iptc_next_rule(static_cast<const ipt_entry*>(e), h);
    },
    [](const void* e, xtc_handle* h) {
      return iptc_get_target(static_cast<const ipt_entry*>(e), h);
    },
    [](const char* c, const void* e, xtc_handle* h) {
      return iptc_append_entry(c, static_cast<const ipt_entry*>(e), h);
    },
    iptc_delete_num_entry,
    iptc_flush_entries,
    iptc_create_chain,
    iptc_delete_chain,
    iptc_commit,
    iptc_strerror,
    sizeof(ipt_entry),
    sizeof(ipt_ip),
    [](const void* e) { return static_cast<const ipt_entry*>(e)->nfcache; },
    [](const void* e) {
      return static_cast<const ipt_entry*>(e)->target_offset;
    },
    [](const void* e) { return static_cast<const ipt_entry*>(e)->next_offset; },
    IPPROTO_IP,
    AF_INET,
};

const Ops kIpv6Ops = {
    IpFamily::kIpv6,
    "IPv6",
    "/proc/thread-self/net/ip6_tables_names",
    ip6tc_init,
    ip6tc_free,
    ip6tc_first_chain,
    ip6tc_next_chain,
    ip6tc_builtin,
    ip6tc_is_chain,
    [](const char* c, xtc_handle* h) -> const void* {
      return ip6tc_first_rule(c, h);
    },
    [](const void* e, xtc_handle* h) -> const void* {
      return ip6tc_next_rule(static_cast<const ip6t_entry*>(e), h);
    },
    [](const void* e, xtc_handle* h) {
      return ip6tc_get_target(static_cast<const ip6t_entry*>(e), h);
    },
    [](const char* c, const void* e, xtc_handle* h) {
      return ip6tc_append_entry(c, static_cast<const ip6t_entry*>(e), h);
    },
    ip6tc_delete_num_entry,
    ip6tc_flush_entries,
    ip6tc_create_chain,
    ip6tc_delete_chain,
    ip6tc_commit,
    ip6tc_strerror,
    sizeof(ip6t_entry),
    sizeof(ip6t_ip6),
    [](const void* e) { return static_cast<const ip6t_entry*>(e)->nfcache; },
    [](const void* e) {
      return static_cast<const ip6t_entry*>(e)->target_offset;
    },
    [](const void* e) {
      return static_cast<const ip6t_entry*>(e)->next_offset;
    },
    IPPROTO_IPV6,
    AF_INET6,
};

}  // namespace

const Ops& OpsFor(IpFamily family) {
  return family == IpFamily::kIpv4 ? kIpv4Ops : kIpv6Ops;
}

std::string Where(IpFamily family, ir::TableKind kind) {
  return absl::StrCat(OpsFor(family).label, " table ", ir::TableKindName(kind));
}

absl::Status LibiptcError(const Ops& ops, ir::TableKind kind, const char* what,
                          int err) {
  const std::string where = Where(ops.family, kind);
  // A table libiptc cannot find is a kernel feature missing (its module),
  // not a missing object of the caller's: UNAVAILABLE, not NOT_FOUND.
  if (err == ENOENT || err == ENOPROTOOPT || err == EAFNOSUPPORT) {
    return absl::UnavailableError(
        absl::StrCat(what, " ", where, ": ", ops.strerror(err),
                     "; the kernel lacks this legacy xtables table"));
  }
  return internal::ErrnoStatus(
      err,
      absl::StrCat(what, " ", where, " (libiptc: ", ops.strerror(err), ")"));
}

}  // namespace meshcap::ipt
