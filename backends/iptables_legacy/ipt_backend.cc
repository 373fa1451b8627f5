// SPDX-License-Identifier: GPL-2.0-or-later
//
// One Apply is one transaction over every (family, table) we touch:
//   1. take the xtables lock;
//   2. for each of v4/v6 x nat/mangle/raw: read the table twice (a working
//      copy and a snapshot), remove what is ours from the working copy
//      (our ISTIO_* chains; rules in built-in chains that carry our tag or
//      jump to our chains) and add the new rules;
//   3. commit the working copies one by one. EAGAIN (a writer that did not
//      take the lock committed in between) re-reads that table and redoes
//      it. Any other failure restores every table already committed from its
//      snapshot, so the kernel ends with the whole new state or the whole old.

#include "backends/iptables_legacy/ipt_backend.h"

#include <errno.h>
// libip6tc.h has no C++ guard of its own.
extern "C" {
#include <libiptc/libip6tc.h>
}
#include <libiptc/libiptc.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/iptables_legacy/ipt_lower.h"
#include "backends/iptables_legacy/xtables_lock.h"
#include "src/ipt_text.h"
#include "src/netns.h"
#include "src/seq_diff.h"
#include "src/status_macros.h"

namespace meshcap {
namespace ipt {
namespace {

constexpr int kEagainRetries = 20;

// libiptc and libip6tc, behind one face.
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
  const char* (*get_policy)(const char*, xt_counters*, xtc_handle*);
  int (*set_policy)(const char*, const char*, xt_counters*, xtc_handle*);
  int (*commit)(xtc_handle*);
  const char* (*strerror)(int);
  size_t header_size;  // sizeof(ipt_entry) / sizeof(ip6t_entry)
  size_t ip_size;      // sizeof(ipt_ip) / sizeof(ip6t_ip6)
  uint32_t (*nfcache)(const void*);
  uint16_t (*target_offset)(const void*);
  uint16_t (*next_offset)(const void*);
};

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
    iptc_get_policy,
    iptc_set_policy,
    iptc_commit,
    iptc_strerror,
    sizeof(ipt_entry),
    sizeof(ipt_ip),
    [](const void* e) { return static_cast<const ipt_entry*>(e)->nfcache; },
    [](const void* e) {
      return static_cast<const ipt_entry*>(e)->target_offset;
    },
    [](const void* e) { return static_cast<const ipt_entry*>(e)->next_offset; },
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
    ip6tc_get_policy,
    ip6tc_set_policy,
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
};

// Alphabetical, as iptables-restore meets them in Istio's input: reading a
// table first instantiates it, and iptables-save lists tables in reverse
// instantiation order, so this keeps its output identical to Istio's.
constexpr TableKind kTables[] = {TableKind::kMangle, TableKind::kNat,
                                 TableKind::kRaw};

struct HandleDeleter {
  const Ops* ops;
  void operator()(xtc_handle* h) const {
    if (h != nullptr) ops->free(h);
  }
};
using Handle = std::unique_ptr<xtc_handle, HandleDeleter>;

std::string Where(const Ops& ops, TableKind kind) {
  return absl::StrCat(ops.label, " table ", TableName(kind));
}

// Whether the namespace has instantiated this table. Reading it through
// libiptc would load and instantiate it, which we avoid for tables we have
// nothing to put in.
bool TableExists(const Ops& ops, TableKind kind) {
  std::ifstream in(ops.tables_names);
  std::string line;
  while (std::getline(in, line)) {
    if (line == TableName(kind)) return true;
  }
  return false;
}

absl::Status LibiptcError(const Ops& ops, TableKind kind, const char* what,
                          int err) {
  const std::string msg =
      absl::StrCat(what, " ", Where(ops, kind), ": ", ops.strerror(err));
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(absl::StrCat(
        msg,
        "; legacy iptables needs CAP_NET_ADMIN in the target network "
        "namespace"));
  }
  if (err == ENOENT || err == ENOPROTOOPT || err == EAFNOSUPPORT) {
    return absl::UnavailableError(
        absl::StrCat(msg, "; the kernel lacks this legacy xtables table"));
  }
  return absl::InternalError(msg);
}

absl::StatusOr<Handle> Open(const Ops& ops, TableKind kind) {
  errno = 0;
  Handle h(ops.init(TableName(kind)), HandleDeleter{&ops});
  if (h == nullptr) return LibiptcError(ops, kind, "cannot read", errno);
  return h;
}

bool IsOurChain(const std::string& name) {
  const auto& ours = OurChainNames();
  return std::find(ours.begin(), ours.end(), name) != ours.end();
}

// Rules of ours in a built-in chain: tagged, or jumping to one of our
// chains (which also covers rules Istio's own iptables-restore left).
bool IsOurRule(const Ops& ops, const void* e, xtc_handle* h) {
  if (ops.nfcache(e) == kOwnerTag) return true;
  const char* target = ops.get_target(e, h);
  return target != nullptr && IsOurChain(target);
}

std::vector<std::string> Chains(const Ops& ops, xtc_handle* h) {
  std::vector<std::string> out;
  for (const char* c = ops.first_chain(h); c != nullptr;
       c = ops.next_chain(h)) {
    out.emplace_back(c);
  }
  return out;
}

absl::Status RemoveOurs(const Ops& ops, TableKind kind, xtc_handle* h) {
  for (const std::string& chain : Chains(ops, h)) {
    if (!ops.builtin(chain.c_str(), h)) continue;
    std::vector<unsigned int> ours;
    unsigned int index = 0;
    for (const void* e = ops.first_rule(chain.c_str(), h); e != nullptr;
         e = ops.next_rule(e, h)) {
      if (IsOurRule(ops, e, h)) ours.push_back(index);
      ++index;
    }
    for (auto it = ours.rbegin(); it != ours.rend(); ++it) {
      if (!ops.delete_num(chain.c_str(), *it, h)) {
        return LibiptcError(ops, kind, "cannot remove a rule of ours from",
                            errno);
      }
    }
  }
  std::vector<std::string> ours;
  for (const std::string& name : OurChainNames()) {
    if (ops.is_chain(name.c_str(), h)) ours.push_back(name);
  }
  for (const std::string& name : ours) {
    if (!ops.flush(name.c_str(), h)) {
      return LibiptcError(ops, kind, "cannot flush our chain in", errno);
    }
  }
  for (const std::string& name : ours) {
    if (!ops.delete_chain(name.c_str(), h)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot delete chain ", name, " in ", Where(ops, kind), ": ",
          ops.strerror(errno), " (a foreign rule may still jump to it)"));
    }
  }
  return absl::OkStatus();
}

absl::Status AddNew(const Ops& ops, const LoweredTable& want, xtc_handle* h) {
  for (const std::string& chain : want.user_chains) {
    if (!ops.create_chain(chain.c_str(), h)) {
      return LibiptcError(ops, want.kind, "cannot create a chain in", errno);
    }
  }
  for (const LoweredEntry& e : want.entries) {
    if (!ops.append(e.chain.c_str(), e.bytes.data(), h)) {
      return absl::InvalidArgumentError(
          absl::StrCat("libiptc refused rule ", e.position, " of ", e.chain,
                       " in ", Where(ops, want.kind), " (",
                       internal::IptablesRuleText(e.chain, *e.source),
                       "): ", ops.strerror(errno)));
    }
  }
  return absl::OkStatus();
}

// A table as the kernel hands it out (IPT_SO_GET_ENTRIES), and handed
// back unchanged (IPT_SO_SET_REPLACE) to undo a commit. Taking it costs a
// copy, not a libiptc parse. ip6t_getinfo and friends have the same layout
// as their IPv4 twins.
struct RawTable {
  ipt_getinfo info{};
  std::vector<uint8_t> entries;
};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

absl::StatusOr<int> RawSocket(const Ops& ops, TableKind kind) {
  const int fd = socket(ops.family == IpFamily::kIpv4 ? AF_INET : AF_INET6,
                        SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0)
    return LibiptcError(ops, kind, "cannot open a raw socket for", errno);
  return fd;
}

int Level(const Ops& ops) {
  return ops.family == IpFamily::kIpv4 ? IPPROTO_IP : IPPROTO_IPV6;
}

absl::StatusOr<ipt_getinfo> GetInfo(const Ops& ops, TableKind kind, int fd) {
  ipt_getinfo info{};
  strncpy(info.name, TableName(kind), sizeof(info.name) - 1);
  socklen_t len = sizeof(info);
  if (getsockopt(fd, Level(ops), IPT_SO_GET_INFO, &info, &len) != 0) {
    return LibiptcError(ops, kind, "cannot read", errno);
  }
  return info;
}

absl::StatusOr<RawTable> ReadRaw(const Ops& ops, TableKind kind) {
  Fd fd;
  MESHCAP_ASSIGN_OR_RETURN(fd.fd, RawSocket(ops, kind));
  for (int attempt = 0;; ++attempt) {
    RawTable raw;
    MESHCAP_ASSIGN_OR_RETURN(raw.info, GetInfo(ops, kind, fd.fd));
    std::vector<uint8_t> buf(sizeof(ipt_get_entries) + raw.info.size);
    auto* ge = reinterpret_cast<ipt_get_entries*>(buf.data());
    strncpy(ge->name, TableName(kind), sizeof(ge->name) - 1);
    ge->size = raw.info.size;
    socklen_t len = static_cast<socklen_t>(buf.size());
    if (getsockopt(fd.fd, Level(ops), IPT_SO_GET_ENTRIES, ge, &len) == 0) {
      raw.entries.assign(buf.begin() + sizeof(ipt_get_entries), buf.end());
      return raw;
    }
    if (errno != EAGAIN || attempt >= kEagainRetries) {
      return LibiptcError(ops, kind, "cannot read", errno);
    }
  }
}

absl::Status WriteRaw(const Ops& ops, TableKind kind, const RawTable& raw) {
  Fd fd;
  MESHCAP_ASSIGN_OR_RETURN(fd.fd, RawSocket(ops, kind));
  for (int attempt = 0;; ++attempt) {
    MESHCAP_ASSIGN_OR_RETURN(ipt_getinfo now, GetInfo(ops, kind, fd.fd));
    std::vector<xt_counters> counters(now.num_entries);
    std::vector<uint8_t> buf(sizeof(ipt_replace) + raw.entries.size());
    auto* r = reinterpret_cast<ipt_replace*>(buf.data());
    strncpy(r->name, TableName(kind), sizeof(r->name) - 1);
    r->valid_hooks = raw.info.valid_hooks;
    r->num_entries = raw.info.num_entries;
    r->size = raw.info.size;
    memcpy(r->hook_entry, raw.info.hook_entry, sizeof(r->hook_entry));
    memcpy(r->underflow, raw.info.underflow, sizeof(r->underflow));
    r->num_counters = now.num_entries;
    r->counters = counters.data();
    memcpy(buf.data() + sizeof(ipt_replace), raw.entries.data(),
           raw.entries.size());
    if (setsockopt(fd.fd, Level(ops), IPT_SO_SET_REPLACE, buf.data(),
                   static_cast<socklen_t>(buf.size())) == 0) {
      return absl::OkStatus();
    }
    if (errno != EAGAIN || attempt >= kEagainRetries) {
      return LibiptcError(ops, kind, "cannot restore", errno);
    }
  }
}

// One (family, table) of the transaction.
struct Step {
  const Ops* ops;
  TableKind kind;
  const LoweredTable* want = nullptr;  // null: only remove ours
  Handle work{nullptr, HandleDeleter{nullptr}};
  RawTable snapshot;
  bool needs_snapshot = true;  // false for the table committed last
  uint32_t size = 0;           // the table's size in bytes, before
  bool committed = false;
};

absl::Status Prepare(Step& s) {
  MESHCAP_ASSIGN_OR_RETURN(s.work, Open(*s.ops, s.kind));
  if (s.needs_snapshot) {
    MESHCAP_ASSIGN_OR_RETURN(s.snapshot, ReadRaw(*s.ops, s.kind));
  }
  MESHCAP_RETURN_IF_ERROR(RemoveOurs(*s.ops, s.kind, s.work.get()));
  if (s.want != nullptr) {
    MESHCAP_RETURN_IF_ERROR(AddNew(*s.ops, *s.want, s.work.get()));
  }
  return absl::OkStatus();
}

// Commits one prepared step, redoing it on EAGAIN.
absl::Status Commit(Step& s) {
  for (int attempt = 0;; ++attempt) {
    if (s.ops->commit(s.work.get())) {
      s.committed = true;
      return absl::OkStatus();
    }
    const int err = errno;
    if (err != EAGAIN || attempt >= kEagainRetries) {
      return LibiptcError(*s.ops, s.kind, "the kernel refused", err);
    }
    // Someone committed without the lock: start this table over.
    MESHCAP_RETURN_IF_ERROR(Prepare(s));
  }
}

absl::Status Restore(Step& s) { return WriteRaw(*s.ops, s.kind, s.snapshot); }

// Runs the transaction. `lowered[f]` null: the family only loses ours.
absl::Status Transact(const std::vector<LoweredTable>* lowered_v4,
                      const std::vector<LoweredTable>* lowered_v6) {
  std::vector<Step> steps;
  for (const Ops* ops : {&kIpv4Ops, &kIpv6Ops}) {
    const auto* lowered = ops == &kIpv4Ops ? lowered_v4 : lowered_v6;
    for (TableKind kind : kTables) {
      const LoweredTable* want = nullptr;
      if (lowered != nullptr) {
        for (const LoweredTable& t : *lowered) {
          if (t.kind == kind) want = &t;
        }
      }
      if (want == nullptr && !TableExists(*ops, kind)) continue;
      Step& s = steps.emplace_back();
      s.ops = ops;
      s.kind = kind;
      s.want = want;
    }
  }
  // Reading a table's size instantiates it; do that in the order above.
  for (Step& s : steps) {
    Fd fd;
    MESHCAP_ASSIGN_OR_RETURN(fd.fd, RawSocket(*s.ops, s.kind));
    MESHCAP_ASSIGN_OR_RETURN(ipt_getinfo info, GetInfo(*s.ops, s.kind, fd.fd));
    s.size = info.size;
  }
  // Commit the biggest table last: a table committed last never has to be
  // restored, so it needs no snapshot, and its snapshot is the costly one
  // (the kernel copies a 20,000-rule table out in ~12 ms).
  std::stable_sort(
      steps.begin(), steps.end(),
      [](const Step& a, const Step& b) { return a.size < b.size; });
  if (!steps.empty()) steps.back().needs_snapshot = false;
  for (Step& s : steps) MESHCAP_RETURN_IF_ERROR(Prepare(s));
  for (Step& s : steps) {
    absl::Status st = Commit(s);
    if (st.ok()) continue;
    std::vector<std::string> restored, lost;
    for (Step& done : steps) {
      if (!done.committed) continue;
      absl::Status r = Restore(done);
      (r.ok() ? restored : lost)
          .push_back(r.ok() ? Where(*done.ops, done.kind)
                            : std::string(r.message()));
    }
    std::string note =
        restored.empty()
            ? std::string("; nothing had been committed, nothing changed")
            : absl::StrCat("; restored to their previous contents: ",
                           absl::StrJoin(restored, ", "));
    if (!lost.empty()) {
      absl::StrAppend(&note,
                      "; FAILED TO RESTORE: ", absl::StrJoin(lost, "; "));
    }
    return absl::Status(st.code(), absl::StrCat(st.message(), note));
  }
  return absl::OkStatus();
}

// --- Verify
// --------------------------------------------------------------------

// The parts of an entry that define it: addresses, interfaces, protocol,
// tag, matches and target. Counters and kernel bookkeeping are left out, and
// so are the bytes after a match or target name's NUL, which the kernel
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

bool IsStandard(const Verdict& v) {
  return std::holds_alternative<JumpVerdict>(v) ||
         std::holds_alternative<ReturnVerdict>(v) ||
         std::holds_alternative<AcceptVerdict>(v) ||
         std::holds_alternative<DropVerdict>(v);
}

// The key of a kernel entry: a standard target comes back as a verdict,
// which libiptc names for us.
std::string EntryKey(const Ops& ops, const void* e, xtc_handle* h) {
  const auto* t = reinterpret_cast<const xt_entry_target*>(
      static_cast<const char*>(e) + ops.target_offset(e));
  const bool standard = t->u.user.name[0] == '\0' ||
                        strcmp(t->u.user.name, XT_STANDARD_TARGET) == 0;
  return KeyOf(ops, e, standard ? ops.get_target(e, h) : nullptr);
}

// The key of an entry we built: its standard target is still a name.
std::string DesiredKey(const Ops& ops, const LoweredEntry& le) {
  const void* e = le.bytes.data();
  const auto* t = reinterpret_cast<const xt_entry_target*>(
      reinterpret_cast<const char*>(e) + ops.target_offset(e));
  return KeyOf(ops, e,
               IsStandard(le.source->verdict) ? t->u.user.name : nullptr);
}

void VerifyTable(const Ops& ops, TableKind kind, const LoweredTable* want,
                 std::vector<Difference>* out) {
  const std::string table = absl::StrCat(TableName(kind), " (", ops.label, ")");
  Handle h{nullptr, HandleDeleter{&ops}};
  if (TableExists(ops, kind)) {
    auto opened = Open(ops, kind);
    if (opened.ok()) h = *std::move(opened);
  }
  std::set<std::string> chains;
  if (h != nullptr) {
    for (const std::string& c : Chains(ops, h.get())) chains.insert(c);
  }
  // Chains of ours: desired user chains and existing ISTIO_* chains; every
  // built-in chain that holds or should hold ours.
  std::vector<std::string> names;
  if (want != nullptr) {
    for (const LoweredEntry& e : want->entries) {
      if (std::find(names.begin(), names.end(), e.chain) == names.end()) {
        names.push_back(e.chain);
      }
    }
  }
  for (const std::string& c : chains) {
    const bool builtin = h != nullptr && ops.builtin(c.c_str(), h.get());
    if ((builtin || IsOurChain(c)) &&
        std::find(names.begin(), names.end(), c) == names.end()) {
      names.push_back(c);
    }
  }
  for (const std::string& chain : names) {
    std::vector<const LoweredEntry*> desired;
    if (want != nullptr) {
      for (const LoweredEntry& e : want->entries) {
        if (e.chain == chain) desired.push_back(&e);
      }
    }
    const bool builtin = h != nullptr && chains.count(chain) > 0 &&
                         ops.builtin(chain.c_str(), h.get());
    const bool user = !builtin && IsOurChain(chain);
    if (chains.count(chain) == 0) {
      if (!desired.empty() && user) {
        out->push_back(
            {Difference::Kind::kMissing, table, chain, 0, "-N " + chain, ""});
      }
      for (const LoweredEntry* e : desired) {
        out->push_back({Difference::Kind::kMissing, table, chain, e->position,
                        internal::IptablesRuleText(chain, *e->source), ""});
      }
      continue;
    }
    if (desired.empty() && user && want != nullptr &&
        std::find(want->user_chains.begin(), want->user_chains.end(), chain) ==
            want->user_chains.end()) {
      out->push_back(
          {Difference::Kind::kExtra, table, chain, 0, "", "-N " + chain});
    }
    std::vector<std::string> have;
    std::vector<int> have_pos;
    int pos = 0;
    for (const void* e = ops.first_rule(chain.c_str(), h.get()); e != nullptr;
         e = ops.next_rule(e, h.get())) {
      ++pos;
      if (!builtin || IsOurRule(ops, e, h.get())) {
        have.push_back(EntryKey(ops, e, h.get()));
        have_pos.push_back(pos);
      }
    }
    std::vector<std::string> want_keys;
    for (const LoweredEntry* e : desired) {
      want_keys.push_back(DesiredKey(ops, *e));
    }
    auto text_of_actual = [&](size_t j) {
      for (size_t i = 0; i < want_keys.size(); ++i) {
        if (want_keys[i] == have[j]) {
          return internal::IptablesRuleText(chain, *desired[i]->source);
        }
      }
      return std::string("a rule that is not the policy's (see iptables-save)");
    };
    for (const internal::DiffRun& run : internal::AlignSequences(
             want_keys.size(), have.size(),
             [&](size_t i, size_t j) { return want_keys[i] == have[j]; })) {
      const size_t paired = std::min(run.desired.size(), run.actual.size());
      for (size_t k = 0; k < run.desired.size(); ++k) {
        Difference d;
        d.table = table;
        d.chain = chain;
        d.position = desired[run.desired[k]]->position;
        d.desired =
            internal::IptablesRuleText(chain, *desired[run.desired[k]]->source);
        d.kind = k < paired ? Difference::Kind::kChanged
                            : Difference::Kind::kMissing;
        if (k < paired) d.actual = text_of_actual(run.actual[k]);
        out->push_back(std::move(d));
      }
      for (size_t k = paired; k < run.actual.size(); ++k) {
        out->push_back({Difference::Kind::kExtra, table, chain,
                        have_pos[run.actual[k]], "",
                        text_of_actual(run.actual[k])});
      }
    }
  }
}

// --- The backend -------------------------------------------------------------

class IptablesLegacyBackend : public Backend {
 public:
  explicit IptablesLegacyBackend(const BackendOptions& o) : options_(o) {}

  std::string_view name() const override { return "iptables-legacy"; }

  absl::Status Apply(const RuleSet& rules,
                     const ApplyOptions& options) override {
    if (options.expected_generation.has_value()) {
      return absl::InvalidArgumentError(
          "the iptables-legacy backend has no ruleset generation; apply "
          "without expected_generation");
    }
    MESHCAP_ASSIGN_OR_RETURN(std::vector<LoweredTable> v4,
                             Lower(rules, IpFamily::kIpv4));
    std::vector<LoweredTable> v6;
    if (rules.ipv6) {
      MESHCAP_ASSIGN_OR_RETURN(v6, Lower(rules, IpFamily::kIpv6));
    }
    return Locked([&] { return Transact(&v4, rules.ipv6 ? &v6 : nullptr); });
  }

  absl::Status Remove() override {
    return Locked([] { return Transact(nullptr, nullptr); });
  }

  absl::StatusOr<VerifyReport> Verify(const RuleSet& rules) override {
    MESHCAP_ASSIGN_OR_RETURN(std::vector<LoweredTable> v4,
                             Lower(rules, IpFamily::kIpv4));
    std::vector<LoweredTable> v6;
    if (rules.ipv6) {
      MESHCAP_ASSIGN_OR_RETURN(v6, Lower(rules, IpFamily::kIpv6));
    }
    VerifyReport report;
    MESHCAP_RETURN_IF_ERROR(internal::RunInNetns(options_.netns_fd, [&] {
      for (const Ops* ops : {&kIpv4Ops, &kIpv6Ops}) {
        const auto& lowered = ops == &kIpv4Ops ? v4 : v6;
        for (TableKind kind : kTables) {
          const LoweredTable* want = nullptr;
          for (const LoweredTable& t : lowered) {
            if (t.kind == kind) want = &t;
          }
          VerifyTable(*ops, kind, want, &report.differences);
        }
      }
      return absl::OkStatus();
    }));
    return report;
  }

 private:
  template <typename F>
  absl::Status Locked(F fn) {
    MESHCAP_ASSIGN_OR_RETURN(
        XtablesLock lock, XtablesLock::Acquire(options_.xtables_lock_path,
                                               options_.xtables_lock_timeout));
    return internal::RunInNetns(options_.netns_fd, fn);
  }

  BackendOptions options_;
};

class Factory : public BackendFactory {
 public:
  std::string_view Name() const override { return "iptables-legacy"; }
  int Priority() const override { return 10; }

  absl::Status Probe(const BackendOptions& options) const override {
    return internal::RunInNetns(options.netns_fd, [] {
      const int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
      if (fd < 0) {
        const int err = errno;
        if (err == EPERM || err == EACCES) {
          return absl::PermissionDeniedError(
              "iptables-legacy: no raw socket; legacy iptables needs "
              "CAP_NET_ADMIN in the target network namespace");
        }
        return absl::UnavailableError(
            absl::StrCat("iptables-legacy: no raw socket: ", strerror(err)));
      }
      close(fd);
      return absl::OkStatus();
    });
  }

  bool HoldsRules(const BackendOptions& options) const override {
    bool holds = false;
    (void)internal::RunInNetns(options.netns_fd, [&] {
      for (const Ops* ops : {&kIpv4Ops, &kIpv6Ops}) {
        if (!TableExists(*ops, TableKind::kNat)) continue;
        auto h = Open(*ops, TableKind::kNat);
        if (!h.ok()) continue;
        for (const std::string& c : Chains(*ops, h->get())) {
          if (ops->first_rule(c.c_str(), h->get()) != nullptr) holds = true;
        }
      }
      return absl::OkStatus();
    });
    return holds;
  }

  absl::StatusOr<std::unique_ptr<Backend>> Create(
      const BackendOptions& options) const override {
    return std::unique_ptr<Backend>(new IptablesLegacyBackend(options));
  }
};

}  // namespace
}  // namespace ipt

const BackendFactory& IptablesLegacyBackendFactory() {
  static const ipt::Factory kFactory;
  return kFactory;
}

}  // namespace meshcap
