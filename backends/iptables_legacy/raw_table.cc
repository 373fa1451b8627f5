// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/raw_table.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
// libip6tc.h has no C++ guard of its own.
extern "C" {
#include <libiptc/libip6tc.h>
}
#include <libiptc/libiptc.h>

#include "backends/iptables_legacy/ops.h"
#include "src/status_macros.h"
#include "src/unique_fd.h"

namespace meshcap::ipt {

namespace {

absl::StatusOr<internal::UniqueFd> RawSocket(const Ops& ops,
                                             ir::TableKind kind) {
  internal::UniqueFd fd(
      socket(ops.sock_family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!fd)
    return LibiptcError(ops, kind, "cannot open a raw socket for", errno);
  return fd;
}

absl::StatusOr<ipt_getinfo> GetInfo(const Ops& ops, ir::TableKind kind,
                                    int fd) {
  ipt_getinfo info{};
  strncpy(info.name, ir::TableKindName(kind), sizeof(info.name) - 1);
  socklen_t len = sizeof(info);
  if (getsockopt(fd, ops.level, IPT_SO_GET_INFO, &info, &len) != 0) {
    return LibiptcError(ops, kind, "cannot read", errno);
  }
  return info;
}

}  // namespace

absl::StatusOr<uint32_t> TableSize(IpFamily family, ir::TableKind kind) {
  const Ops& ops = OpsFor(family);
  MESHCAP_ASSIGN_OR_RETURN(internal::UniqueFd fd, RawSocket(ops, kind));
  MESHCAP_ASSIGN_OR_RETURN(ipt_getinfo info, GetInfo(ops, kind, fd.get()));
  return info.size;
}

absl::StatusOr<RawTable> ReadRaw(IpFamily family, ir::TableKind kind) {
  const Ops& ops = OpsFor(family);
  MESHCAP_ASSIGN_OR_RETURN(internal::UniqueFd fd, RawSocket(ops, kind));
  for (int attempt = 0;; ++attempt) {
    MESHCAP_ASSIGN_OR_RETURN(ipt_getinfo info, GetInfo(ops, kind, fd.get()));
    std::vector<uint8_t> buf(sizeof(ipt_get_entries) + info.size);
    auto* ge = reinterpret_cast<ipt_get_entries*>(buf.data());
    strncpy(ge->name, ir::TableKindName(kind), sizeof(ge->name) - 1);
    ge->size = info.size;
    socklen_t len = static_cast<socklen_t>(buf.size());
    if (getsockopt(fd.get(), ops.level, IPT_SO_GET_ENTRIES, ge, &len) == 0) {
      RawTable raw;
      raw.info.assign(reinterpret_cast<const uint8_t*>(&info),
                      reinterpret_cast<const uint8_t*>(&info) + sizeof(info));
      raw.entries.assign(buf.begin() + sizeof(ipt_get_entries), buf.end());
      return raw;
    }
    if (errno != EAGAIN || attempt >= kEagainRetries) {
      return LibiptcError(ops, kind, "cannot read", errno);
    }
  }
}

absl::Status WriteRaw(IpFamily family, ir::TableKind kind,
                      const RawTable& raw) {
  const Ops& ops = OpsFor(family);
  MESHCAP_ASSIGN_OR_RETURN(internal::UniqueFd fd, RawSocket(ops, kind));
  ipt_getinfo saved;
  memcpy(&saved, raw.info.data(), sizeof(saved));
  for (int attempt = 0;; ++attempt) {
    MESHCAP_ASSIGN_OR_RETURN(ipt_getinfo now, GetInfo(ops, kind, fd.get()));
    std::vector<xt_counters> counters(now.num_entries);
    std::vector<uint8_t> buf(sizeof(ipt_replace) + raw.entries.size());
    auto* r = reinterpret_cast<ipt_replace*>(buf.data());
    strncpy(r->name, ir::TableKindName(kind), sizeof(r->name) - 1);
    r->valid_hooks = saved.valid_hooks;
    r->num_entries = saved.num_entries;
    r->size = saved.size;
    memcpy(r->hook_entry, saved.hook_entry, sizeof(r->hook_entry));
    memcpy(r->underflow, saved.underflow, sizeof(r->underflow));
    r->num_counters = now.num_entries;
    r->counters = counters.data();
    memcpy(buf.data() + sizeof(ipt_replace), raw.entries.data(),
           raw.entries.size());
    if (setsockopt(fd.get(), ops.level, IPT_SO_SET_REPLACE, buf.data(),
                   static_cast<socklen_t>(buf.size())) == 0) {
      return absl::OkStatus();
    }
    if (errno != EAGAIN || attempt >= kEagainRetries) {
      return LibiptcError(ops, kind, "cannot restore", errno);
    }
  }
}

}  // namespace meshcap::ipt
