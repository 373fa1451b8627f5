// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/table.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
// libip6tc.h has no C++ guard of its own.
extern "C" {
#include <libiptc/libip6tc.h>
}
#include <libiptc/libiptc.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backends/iptables_legacy/decode.h"
#include "src/errno_status.h"
#include "src/status_macros.h"
#include "src/unique_fd.h"

namespace meshcap::ipt {

constexpr int kEagainRetries = 20;

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

// The parts of an entry that define it: addresses, interfaces, protocol,
// tag, matches and target. Counters and kernel bookkeeping are left out,
// and so are the bytes after a match or target name's NUL, which the kernel
// does not clear. `standard` names a standard verdict or jump target.
std::string KeyOf(const Ops& ops, const void* e, const char* standard) {
  const auto* p = static_cast<const char*>(e);
  const uint16_t to = ops.target_offset(e);
  const uint16_t next = ops.next_offset(e);
  std::string key(p, ops.ip_size);
  const uint32_t tag = ops.nfcache(e);
  key.append(reinterpret_cast<const char*>(&tag), sizeof(tag));
  for (size_t off = ops.header_size; off < to;) {
    const auto* m = reinterpret_cast<const xt_entry_match*>(p + off);
    const uint16_t size = m->u.user.match_size;
    if (size < sizeof(xt_entry_match)) break;
    key.append(m->u.user.name, strnlen(m->u.user.name, sizeof(m->u.user.name)));
    key += '\0';
    key += static_cast<char>(m->u.user.revision);
    key.append(reinterpret_cast<const char*>(m->data),
               size - sizeof(xt_entry_match));
    off += size;
  }
  key += '|';
  if (standard != nullptr) {
    key += standard;
    return key;
  }
  const auto* t = reinterpret_cast<const xt_entry_target*>(p + to);
  key.append(t->u.user.name, strnlen(t->u.user.name, sizeof(t->u.user.name)));
  key += '\0';
  key += static_cast<char>(t->u.user.revision);
  key.append(reinterpret_cast<const char*>(t->data),
             next - to - sizeof(xt_entry_target));
  return key;
}

}  // namespace

const Ops& OpsFor(IpFamily family) {
  return family == IpFamily::kIpv4 ? kIpv4Ops : kIpv6Ops;
}

std::string Where(IpFamily family, ir::TableKind kind) {
  return absl::StrCat(OpsFor(family).label, " table ", ir::TableKindName(kind));
}

bool TableExists(IpFamily family, ir::TableKind kind) {
  const std::vector<std::string> names = ExistingTables(family);
  return std::find(names.begin(), names.end(), ir::TableKindName(kind)) !=
         names.end();
}

TableNames::TableNames() {
  for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    fd_[f == IpFamily::kIpv6].reset(
        open(OpsFor(f).tables_names, O_RDONLY | O_CLOEXEC));
  }
}

std::vector<std::string> TableNames::Read(IpFamily family) {
  const int fd = fd_[family == IpFamily::kIpv6].get();
  if (fd < 0) return ExistingTables(family);
  std::string text;
  char buf[4096];
  for (off_t off = 0;;) {
    const ssize_t n = pread(fd, buf, sizeof(buf), off);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
  std::vector<std::string> names;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) names.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return names;
}

std::vector<std::string> ExistingTables(IpFamily family) {
  std::vector<std::string> names;
  std::ifstream in(OpsFor(family).tables_names);
  std::string line;
  while (std::getline(in, line)) names.push_back(line);
  return names;
}

// --- Table -------------------------------------------------------------------

Table::Table(IpFamily family, ir::TableKind kind, xtc_handle* h)
    : family_(family), kind_(kind), ops_(&OpsFor(family)), h_(h) {}

Table::Table(Table&& o) noexcept
    : family_(o.family_),
      kind_(o.kind_),
      ops_(o.ops_),
      h_(std::exchange(o.h_, nullptr)) {}

Table& Table::operator=(Table&& o) noexcept {
  if (this != &o) {
    if (h_ != nullptr) ops_->free(h_);
    family_ = o.family_;
    kind_ = o.kind_;
    ops_ = o.ops_;
    h_ = std::exchange(o.h_, nullptr);
  }
  return *this;
}

Table::~Table() {
  if (h_ != nullptr) ops_->free(h_);
}

absl::StatusOr<Table> Table::Open(IpFamily family, ir::TableKind kind) {
  const Ops& ops = OpsFor(family);
  errno = 0;
  xtc_handle* h = ops.init(ir::TableKindName(kind));
  if (h == nullptr) return LibiptcError(ops, kind, "cannot read", errno);
  return Table(family, kind, h);
}

std::vector<std::string> Table::Chains() const {
  std::vector<std::string> out;
  for (const char* c = ops_->first_chain(h_); c != nullptr;
       c = ops_->next_chain(h_)) {
    out.emplace_back(c);
  }
  return out;
}

bool Table::IsBuiltin(const std::string& chain) const {
  return ops_->builtin(chain.c_str(), h_) != 0;
}

bool Table::HasChain(const std::string& chain) const {
  return ops_->is_chain(chain.c_str(), h_) != 0;
}

const void* Table::FirstRule(const std::string& chain) const {
  return ops_->first_rule(chain.c_str(), h_);
}

const void* Table::NextRule(const void* entry) const {
  return ops_->next_rule(entry, h_);
}

const char* Table::StandardTarget(const void* entry) const {
  const auto* t = reinterpret_cast<const xt_entry_target*>(
      static_cast<const char*>(entry) + ops_->target_offset(entry));
  const bool standard = t->u.user.name[0] == '\0' ||
                        strcmp(t->u.user.name, XT_STANDARD_TARGET) == 0;
  return standard ? ops_->get_target(entry, h_) : nullptr;
}

bool Table::HasIstioChain() const {
  for (const std::string& name : OurChainNames()) {
    if (HasChain(name)) return true;
  }
  return false;
}

bool Table::IsOursRule(const std::string& chain, const void* entry) const {
  if (ops_->nfcache(entry) == kOwnerTag) return true;
  const char* target = ops_->get_target(entry, h_);
  if (target != nullptr && IsOurChain(target)) return true;
  if (!HasIstioChain()) return false;
  std::optional<ir::Rule> rule =
      DecodeEntry(family_, EntryBytes(family_, entry), StandardTarget(entry));
  return rule.has_value() && IsIstioBuiltinRule(*rule, kind_, chain);
}

bool Table::HoldsOurs() const {
  for (const std::string& chain : Chains()) {
    if (IsOurChain(chain)) return true;
  }
  return OursAttached();
}

bool Table::OursAttached() const {
  for (const std::string& chain : Chains()) {
    if (!IsBuiltin(chain)) continue;
    for (const void* e = FirstRule(chain); e != nullptr; e = NextRule(e)) {
      if (IsOursRule(chain, e)) return true;
    }
  }
  return false;
}

std::string Table::EntryKey(const void* entry) const {
  return KeyOf(*ops_, entry, StandardTarget(entry));
}

std::string Table::DesiredKey(IpFamily family, const LoweredEntry& le) {
  const Ops& ops = OpsFor(family);
  const void* e = le.bytes.data();
  const auto* t = reinterpret_cast<const xt_entry_target*>(
      reinterpret_cast<const char*>(e) + ops.target_offset(e));
  const bool standard =
      std::holds_alternative<ir::JumpVerdict>(le.source->verdict) ||
      std::holds_alternative<ir::ReturnVerdict>(le.source->verdict) ||
      std::holds_alternative<ir::AcceptVerdict>(le.source->verdict) ||
      std::holds_alternative<ir::DropVerdict>(le.source->verdict);
  return KeyOf(ops, e, standard ? t->u.user.name : nullptr);
}

bool Table::OursEqual(const LoweredTable* want) const {
  // Chains of ours, by name, with their rules' keys.
  std::vector<std::pair<std::string, std::vector<std::string>>> have;
  ForEachOurs([&](const std::string& chain, const void* e, const char*, int) {
    if (have.empty() || have.back().first != chain) have.push_back({chain, {}});
    have.back().second.push_back(EntryKey(e));
  });
  // Our chains without rules count too.
  for (const std::string& chain : Chains()) {
    if (!IsOurChain(chain)) continue;
    if (std::none_of(have.begin(), have.end(),
                     [&](const auto& c) { return c.first == chain; })) {
      have.push_back({chain, {}});
    }
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> wanted;
  if (want != nullptr) {
    for (const LoweredEntry& e : want->entries) {
      if (wanted.empty() || wanted.back().first != e.chain) {
        wanted.push_back({e.chain, {}});
      }
      wanted.back().second.push_back(DesiredKey(family_, e));
    }
    for (const std::string& chain : want->user_chains) {
      if (std::none_of(wanted.begin(), wanted.end(),
                       [&](const auto& c) { return c.first == chain; })) {
        wanted.push_back({chain, {}});
      }
    }
  }
  std::sort(have.begin(), have.end());
  std::sort(wanted.begin(), wanted.end());
  return have == wanted;
}

absl::Status Table::RemoveOurs() {
  for (const std::string& chain : Chains()) {
    if (!IsBuiltin(chain)) continue;
    std::vector<unsigned int> ours;
    unsigned int index = 0;
    for (const void* e = FirstRule(chain); e != nullptr; e = NextRule(e)) {
      if (IsOursRule(chain, e)) ours.push_back(index);
      ++index;
    }
    for (auto it = ours.rbegin(); it != ours.rend(); ++it) {
      if (!ops_->delete_num(chain.c_str(), *it, h_)) {
        return LibiptcError(*ops_, kind_, "cannot remove a rule of ours from",
                            errno);
      }
    }
  }
  std::vector<std::string> ours;
  for (const std::string& name : OurChainNames()) {
    if (HasChain(name)) ours.push_back(name);
  }
  for (const std::string& name : ours) {
    if (!ops_->flush(name.c_str(), h_)) {
      return LibiptcError(*ops_, kind_, "cannot flush our chain in", errno);
    }
  }
  for (const std::string& name : ours) {
    if (!ops_->delete_chain(name.c_str(), h_)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot delete chain ", name, " in ", Where(family_, kind_), ": ",
          ops_->strerror(errno), " (a foreign rule may still jump to it)"));
    }
  }
  return absl::OkStatus();
}

absl::Status Table::AddOurs(const LoweredTable& want) {
  for (const std::string& chain : want.user_chains) {
    if (!ops_->create_chain(chain.c_str(), h_)) {
      return LibiptcError(*ops_, kind_, "cannot create a chain in", errno);
    }
  }
  for (const LoweredEntry& e : want.entries) {
    if (!ops_->append(e.chain.c_str(), e.bytes.data(), h_)) {
      return absl::InvalidArgumentError(
          absl::StrCat("libiptc refused rule ", e.position, " of ", e.chain,
                       " in ", Where(family_, kind_), " (",
                       RuleText(e.chain, 0, *e.source, want.profile, want.kind),
                       "): ", ops_->strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status Table::Commit() {
  if (ops_->commit(h_)) return absl::OkStatus();
  const int err = errno;
  if (err == EAGAIN) {
    return absl::UnavailableError(absl::StrCat(
        Where(family_, kind_), " changed while it was being written (EAGAIN)"));
  }
  return LibiptcError(*ops_, kind_, "the kernel refused", err);
}

// --- Raw tables --------------------------------------------------------------

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
