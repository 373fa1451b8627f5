// SPDX-License-Identifier: GPL-2.0-or-later

#include "backends/iptables_legacy/transaction.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/iptables_legacy/table.h"
#include "src/backend.h"
#include "src/crash_point.h"
#include "src/status_macros.h"

namespace meshcap::ipt {
namespace {

constexpr int kEagainRetries = 20;

// Alphabetical, as iptables-restore meets them in Istio's input: reading a
// table first instantiates it, and iptables-save lists tables in reverse
// instantiation order, so this keeps its output identical to Istio's.
constexpr ir::TableKind kKinds[] = {ir::TableKind::kMangle, ir::TableKind::kNat,
                                    ir::TableKind::kRaw};

struct Step {
  IpFamily family;
  ir::TableKind kind;
  const LoweredTable* want = nullptr;  // null: only lose ours
  bool attached = false;               // ours in force before
  uint32_t size = 0;                   // bytes, before
  std::optional<RawTable> snapshot;    // taken before its first commit
  bool committed = false;              // changed in the kernel
  // The table as read when planning: its first commit needs no second
  // read (which costs as much as the commit for a big table).
  std::optional<Table> read;

  std::string where() const { return Where(family, kind); }
};

// Commits `s`'s table with ours removed and, when `final`, the wanted
// ours added; a table another writer changed under us (EAGAIN) is read and
// redone.
absl::Status CommitStep(Step& s, bool final) {
  for (int attempt = 0;; ++attempt) {
    std::optional<Table> handle = std::move(s.read);
    s.read.reset();
    if (!handle.has_value()) {
      MESHCAP_ASSIGN_OR_RETURN(Table fresh, Table::Open(s.family, s.kind));
      handle.emplace(std::move(fresh));
    }
    Table& t = *handle;
    MESHCAP_RETURN_IF_ERROR(t.RemoveOurs());
    if (final && s.want != nullptr) MESHCAP_RETURN_IF_ERROR(t.AddOurs(*s.want));
    absl::Status c = t.Commit();
    if (c.ok()) {
      s.committed = true;
      internal::CrashPoint("table committed");
      return c;
    }
    if (!absl::IsUnavailable(c) || attempt >= kEagainRetries) return c;
  }
}

// Puts back every committed table with a snapshot; says what it did.
std::string RollBack(std::vector<Step*>& done) {
  std::vector<std::string> restored, lost;
  for (Step* s : done) {
    if (!s->committed || !s->snapshot.has_value()) continue;
    absl::Status r = WriteRaw(s->family, s->kind, *s->snapshot);
    (r.ok() ? restored : lost)
        .push_back(r.ok() ? s->where() : std::string(r.message()));
  }
  std::string note =
      restored.empty()
          ? std::string("; nothing had been committed, nothing changed")
          : absl::StrCat("; restored to their previous contents: ",
                         absl::StrJoin(restored, ", "));
  if (!lost.empty()) {
    absl::StrAppend(&note, "; FAILED TO RESTORE: ", absl::StrJoin(lost, "; "));
  }
  return note;
}

}  // namespace

absl::Status Transact(const std::vector<LoweredTable>& want,
                      internal::IntentRecord& intent,
                      std::vector<std::string>* changes) {
  // What changes.
  std::vector<Step> steps;
  for (IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
    for (ir::TableKind kind : kKinds) {
      const LoweredTable* w = nullptr;
      for (const LoweredTable& t : want) {
        if (t.family == family && t.kind == kind) w = &t;
      }
      if (w == nullptr && !TableExists(family, kind)) continue;
      MESHCAP_ASSIGN_OR_RETURN(Table t, Table::Open(family, kind));
      if (t.OursEqual(w)) continue;
      Step& s = steps.emplace_back();
      s.family = family;
      s.kind = kind;
      s.want = w;
      s.attached = t.OursAttached();
      MESHCAP_ASSIGN_OR_RETURN(s.size, TableSize(family, kind));
      s.read.emplace(std::move(t));
    }
  }
  if (steps.empty()) return absl::OkStatus();

  const bool removal = want.empty();
  // The biggest table switches in one commit; the others detach first and
  // attach after.
  size_t big = 0;
  for (size_t i = 1; i < steps.size(); ++i) {
    if (steps[i].size > steps[big].size) big = i;
  }
  std::vector<Step*> detach, attach;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i == big) continue;
    if (steps[i].attached || steps[i].want == nullptr) {
      detach.push_back(&steps[i]);
    }
    if (steps[i].want != nullptr) attach.push_back(&steps[i]);
  }
  Step& l = steps[big];
  const size_t commits = detach.size() + 1 + attach.size();

  std::vector<std::string> names;
  for (const Step& s : steps) names.push_back(s.where());
  if (commits > 1) {
    absl::Status recorded = intent.Begin(absl::StrCat(
        "legacy iptables commits to ", absl::StrJoin(names, ", ")));
    // A removal goes on without its record: every state it passes through
    // is a subset of the old capture, which verify reports and the next
    // clean finishes, so a state directory that is full or read-only must
    // not keep a pod's capture from being taken away.
    if (!recorded.ok() && !removal) return recorded;
  }

  // Phase 1: detach, each table snapshotted first so that it can go back.
  std::vector<Step*> done;
  for (Step* s : detach) {
    absl::StatusOr<RawTable> snap = ReadRaw(s->family, s->kind);
    absl::Status st = snap.status();
    if (st.ok()) {
      s->snapshot = *std::move(snap);
      done.push_back(s);
      st = CommitStep(*s, /*final=*/s->want == nullptr);
    }
    if (!st.ok()) {
      const std::string note = RollBack(done);
      intent.Clear();
      return absl::Status(st.code(), absl::StrCat(st.message(), note));
    }
  }
  // Phase 2: the switch.
  if (absl::Status st = CommitStep(l, /*final=*/true); !st.ok()) {
    const std::string note = RollBack(done);
    intent.Clear();
    return absl::Status(st.code(), absl::StrCat(st.message(), note));
  }
  // Phase 3: attach. The new policy is in force from here on; a table that
  // fails gets one more try, then the caller learns what is missing.
  std::vector<std::string> missing;
  absl::Status first_error;
  for (Step* s : attach) {
    absl::Status st = CommitStep(*s, /*final=*/true);
    if (!st.ok()) st = CommitStep(*s, /*final=*/true);
    if (!st.ok()) {
      missing.push_back(s->where());
      if (first_error.ok()) first_error = st;
    }
  }
  if (!missing.empty()) {
    // The intent record stays: verify reports it, the next apply or clean
    // finishes it.
    return internal::PastCommit(absl::Status(
        first_error.code(),
        absl::StrCat(
            first_error.message(), "; the new rules are in force except in ",
            absl::StrJoin(missing, ", "), "; run apply again, or clean")));
  }
  intent.Clear();
  if (changes != nullptr) {
    for (const Step& s : steps) {
      const char* what = s.want == nullptr ? "removed ours from"
                         : s.attached      ? "replaced ours in"
                                           : "added ours to";
      changes->push_back(absl::StrCat(what, " ", s.where()));
    }
  }
  return absl::OkStatus();
}

}  // namespace meshcap::ipt
