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
#include "backends/iptables_legacy/ops.h"
#include "src/errno_status.h"
#include "src/status_macros.h"
#include "src/unique_fd.h"

namespace meshcap::ipt {

namespace {

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

}  // namespace meshcap::ipt
