// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/attachment_store.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "src/json.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Json;
using internal::Quote;
using internal::StateDir;

constexpr char kRecordSuffix[] = ".json";
constexpr char kTempSuffix[] = ".json.tmp";
constexpr char kLockSuffix[] = ".lock";
// A temporary file this old was left by a write that was killed: a write
// takes microseconds.
constexpr auto kStaleTemporary = std::chrono::seconds(10);

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

std::string NetworkFile(const std::string& network) {
  return internal::FileNameFor(network, 64);
}

// What Save writes for `record`.
std::string RecordText(const AttachmentRecord& record) {
  Json doc = {
      {"meshcapCni", 2},
      {"containerID", record.attachment.container_id},
      {"ifname", record.attachment.ifname},
      {"netns", record.netns},
      {"netnsKey", record.netns_key},
      {"netnsCookie", record.netns_cookie},
      {"backend", record.backend},
      {"policy", record.policy},
      {"policyJson", record.policy_json},
      {"pid", getpid()},
      {"time", static_cast<int64_t>(time(nullptr))},
  };
  return internal::DumpJson(doc) + "\n";
}

}  // namespace

std::string AttachmentRecord::NamespaceId() const {
  if (netns_cookie != 0) return absl::StrCat("cookie-", netns_cookie);
  return netns_key;
}

absl::StatusOr<AttachmentStore> AttachmentStore::Open(
    const std::string& state_dir, const std::string& network, bool create) {
  absl::StatusOr<StateDir> state = StateDir::Open(state_dir, create);
  if (!state.ok()) return state.status();
  absl::StatusOr<StateDir> cni = state->Sub("cni", create);
  if (!cni.ok()) return cni.status();
  absl::StatusOr<StateDir> net = cni->Sub(NetworkFile(network), create);
  if (!net.ok()) return net.status();
  absl::StatusOr<StateDir> ns = cni->Sub(".ns", create);
  if (!ns.ok()) return ns.status();
  return AttachmentStore(state_dir, network, *std::move(cni), *std::move(net),
                         *std::move(ns));
}

std::string AttachmentStore::Stem(const Attachment& a) {
  return absl::StrCat(internal::FileNameFor(a.container_id, 128), "@",
                      a.ifname);
}

std::string AttachmentStore::RefName(const Attachment& a) const {
  return absl::StrCat(NetworkFile(network_), "+", Stem(a));
}

LoadedRecord AttachmentStore::LoadFile(const StateDir& dir,
                                       const std::string& name,
                                       const Attachment* expected) const {
  LoadedRecord out;
  absl::StatusOr<std::optional<std::string>> text =
      dir.Read(name, kMaxRecordBytes);
  if (!text.ok()) {
    out.unreadable = std::string(text.status().message());
    const std::optional<uint64_t> size = dir.SizeOf(name);
    out.oversized = size.has_value() && *size > kMaxRecordBytes;
    return out;
  }
  if (!text->has_value()) return out;
  const std::string where = Quote(dir.PathOf(name));
  absl::StatusOr<Json> doc = internal::ParseJson(
      **text, {.max_bytes = kMaxRecordBytes, .max_depth = 8});
  if (!doc.ok()) {
    out.unreadable =
        absl::StrCat(where, " is not a record: ", doc.status().message());
    return out;
  }
  AttachmentRecord r;
  std::optional<std::string> id = internal::GetString(*doc, "containerID");
  std::optional<std::string> ifname = internal::GetString(*doc, "ifname");
  std::optional<std::string> netns = internal::GetString(*doc, "netns");
  std::optional<std::string> key = internal::GetString(*doc, "netnsKey");
  std::optional<std::string> backend = internal::GetString(*doc, "backend");
  const internal::Json* cookie = internal::GetMember(*doc, "netnsCookie");
  const internal::Json* policy = internal::GetMember(*doc, "policy");
  const internal::Json* policy_json = internal::GetMember(*doc, "policyJson");
  if (!id || !ifname || !netns || !key || !backend ||
      (cookie != nullptr && !cookie->is_number_unsigned()) ||
      (policy != nullptr && !policy->is_string()) ||
      (policy_json != nullptr && !policy_json->is_string())) {
    out.unreadable =
        absl::StrCat(where,
                     " is not a record of meshcap-cni's (a field is missing or "
                     "has the wrong type)");
    return out;
  }
  r.attachment = {*id, *ifname};
  r.netns = *netns;
  r.netns_key = *key;
  r.netns_cookie = cookie != nullptr ? cookie->get<uint64_t>() : 0;
  r.backend = *backend;
  r.policy = policy != nullptr ? policy->get<std::string>() : "";
  r.policy_json = policy_json != nullptr ? policy_json->get<std::string>() : "";
  if (expected != nullptr && !(r.attachment == *expected)) {
    out.unreadable = absl::StrCat(where, " is the record of container ",
                                  Quote(r.attachment.container_id), "/",
                                  Quote(r.attachment.ifname));
    return out;
  }
  out.record = std::move(r);
  return out;
}

LoadedRecord AttachmentStore::Load(const Attachment& a) const {
  return LoadFile(net_, Stem(a) + kRecordSuffix, &a);
}

std::vector<AttachmentRecord> AttachmentStore::Records() const {
  std::vector<AttachmentRecord> out;
  absl::StatusOr<std::vector<std::string>> names = net_.List();
  if (!names.ok()) return out;
  for (const std::string& name : *names) {
    if (!EndsWith(name, kRecordSuffix)) continue;
    LoadedRecord r = LoadFile(net_, name, nullptr);
    if (r.record.has_value()) out.push_back(*std::move(r.record));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> AttachmentStore::Networks(
    const std::string& state_dir) {
  absl::StatusOr<StateDir> state = StateDir::Open(state_dir, false);
  if (!state.ok()) {
    if (absl::IsNotFound(state.status())) return std::vector<std::string>{};
    return state.status();
  }
  absl::StatusOr<StateDir> cni = state->Sub("cni", false);
  if (!cni.ok()) {
    if (absl::IsNotFound(cni.status())) return std::vector<std::string>{};
    return cni.status();
  }
  absl::StatusOr<std::vector<std::string>> names = cni->List();
  if (!names.ok()) return names.status();
  std::vector<std::string> out;
  for (const std::string& name : *names) {
    if (name.empty() || name[0] == '.') continue;  // .ns, temporaries
    if (cni->Sub(name, false).ok()) out.push_back(name);
  }
  return out;
}

size_t AttachmentStore::RecordBytes(const AttachmentRecord& record) {
  return RecordText(record).size();
}

absl::Status AttachmentStore::Save(const AttachmentRecord& record) const {
  const std::string text = RecordText(record);
  if (text.size() > kMaxRecordBytes) {
    // Load could not read it back: GC and DEL would find a record of
    // unknown content.
    return absl::InvalidArgumentError(absl::StrCat(
        "the attachment's record would take ", text.size(),
        " bytes (a container ID of ", record.attachment.container_id.size(),
        ", a namespace path of ", record.netns.size(), "), more than the ",
        kMaxRecordBytes, " meshcap-cni reads back; nothing was written"));
  }
  absl::Status s =
      net_.WriteAtomic(Stem(record.attachment) + kRecordSuffix, text);
  if (!s.ok()) return s;
  absl::StatusOr<StateDir> refs = ns_.Sub(record.NamespaceId(), true);
  if (!refs.ok()) return refs.status();
  absl::StatusOr<internal::UniqueFd> ref =
      refs->OpenFile(RefName(record.attachment), O_CREAT | O_WRONLY);
  return ref.status();
}

absl::Status AttachmentStore::Stamp(const Attachment& a) const {
  return net_.SetModifiedAt(Stem(a) + kRecordSuffix,
                            std::chrono::system_clock::now());
}

void AttachmentStore::SweepTemporary(const Attachment& a,
                                     bool stale_only) const {
  const std::string name = Stem(a) + kTempSuffix;
  if (stale_only) {
    const auto modified = net_.ModifiedAt(name);
    if (!modified.has_value() ||
        std::chrono::system_clock::now() - *modified < kStaleTemporary) {
      return;
    }
  }
  (void)net_.Remove(name);
}

absl::Status AttachmentStore::Forget(const Attachment& a,
                                     const std::string& ns_id,
                                     std::vector<std::string>* removed) const {
  absl::Status first;
  if (!ns_id.empty()) {
    absl::StatusOr<StateDir> refs = ns_.Sub(ns_id, false);
    if (refs.ok()) first = refs->Remove(RefName(a), removed);
  }
  for (const char* suffix : {kRecordSuffix, kTempSuffix}) {
    absl::Status s = net_.Remove(Stem(a) + suffix, removed);
    if (first.ok()) first = s;
  }
  return first;
}

absl::StatusOr<internal::FileLock> AttachmentStore::LockNamespace(
    const std::string& ns_id, std::chrono::milliseconds timeout) const {
  return ns_.Lock(ns_id + kLockSuffix, timeout);
}

AttachmentStore::RefState AttachmentStore::Ref(
    const std::string& ns_id, const std::string& ref,
    std::optional<AttachmentRecord>* record) const {
  const size_t plus = ref.find('+');
  if (plus == std::string::npos) return RefState::kStale;  // none of ours
  absl::StatusOr<StateDir> net = cni_.Sub(ref.substr(0, plus), false);
  if (!net.ok()) {
    return absl::IsNotFound(net.status()) ? RefState::kStale
                                          : RefState::kUnknown;
  }
  LoadedRecord r =
      LoadFile(*net, ref.substr(plus + 1) + kRecordSuffix, nullptr);
  if (!r.record.has_value()) {
    return r.unreadable.empty() ? RefState::kStale : RefState::kUnknown;
  }
  // Only a record that still says it is in this namespace is in it.
  if (r.record->NamespaceId() != ns_id) return RefState::kStale;
  if (record != nullptr) *record = std::move(r.record);
  return RefState::kLive;
}

std::vector<AttachmentRecord> AttachmentStore::Sharing(
    const std::string& ns_id, const Attachment& except) const {
  std::vector<AttachmentRecord> out;
  absl::StatusOr<StateDir> refs = ns_.Sub(ns_id, false);
  if (!refs.ok()) return out;
  absl::StatusOr<std::vector<std::string>> names = refs->List();
  if (!names.ok()) return out;
  const std::string mine = RefName(except);
  for (const std::string& ref : *names) {
    if (ref == mine) continue;
    std::optional<AttachmentRecord> r;
    if (Ref(ns_id, ref, &r) == RefState::kLive) out.push_back(*std::move(r));
  }
  return out;
}

void AttachmentStore::ForgetNamespace(const std::string& ns_id,
                                      const std::string& netns_key,
                                      internal::FileLock& lock,
                                      std::vector<std::string>* removed) const {
  // Entries left by operations that were killed go with it.
  if (absl::StatusOr<StateDir> refs = ns_.Sub(ns_id, false); refs.ok()) {
    if (absl::StatusOr<std::vector<std::string>> names = refs->List();
        names.ok()) {
      for (const std::string& n : *names) (void)refs->Remove(n, removed);
    }
  }
  ns_.RemoveEmptyDir(ns_id, removed);
  // The Engine's intent record: only a name the Engine makes, never a path
  // from a record.
  if (netns_key.rfind("netns-", 0) == 0 &&
      netns_key.find('/') == std::string::npos) {
    if (absl::StatusOr<StateDir> state = StateDir::Open(state_dir_, false);
        state.ok()) {
      (void)state->Remove(netns_key + ".intent", removed);
      (void)state->Remove(netns_key + ".intent.tmp", removed);
    }
  }
  if (removed != nullptr) removed->push_back(ns_.PathOf(ns_id + kLockSuffix));
  lock.RemoveAndRelease();
}

bool AttachmentStore::ForgetIfUnused(const std::string& ns_id,
                                     internal::FileLock& lock,
                                     std::vector<std::string>* removed) const {
  absl::StatusOr<StateDir> refs = ns_.Sub(ns_id, false);
  if (refs.ok()) {
    absl::StatusOr<std::vector<std::string>> names = refs->List();
    if (!names.ok()) return false;
    bool used = false;
    for (const std::string& ref : *names) {
      if (Ref(ns_id, ref, nullptr) != RefState::kStale ||
          !refs->Remove(ref, removed).ok()) {
        used = true;
      }
    }
    if (used) return false;
    ns_.RemoveEmptyDir(ns_id, removed);
    if (ns_.Exists(ns_id)) return false;
  } else if (!absl::IsNotFound(refs.status())) {
    return false;  // a link or another file where the directory goes
  }
  // Removed while held: a process that opened it meanwhile finds, once it
  // has it, that the name leads elsewhere and starts over (StateDir::Lock).
  if (removed != nullptr) removed->push_back(ns_.PathOf(ns_id + kLockSuffix));
  lock.RemoveAndRelease();
  return true;
}

void AttachmentStore::SweepNamespaces(std::vector<std::string>* removed) const {
  absl::StatusOr<std::vector<std::string>> names = ns_.List();
  if (!names.ok()) return;
  // Each namespace once, by its lock file or its entry directory; a name
  // that is neither is not ours to touch (its lock would be made here).
  std::set<std::string> ids;
  for (const std::string& name : *names) {
    if (EndsWith(name, kLockSuffix)) {
      ids.insert(name.substr(0, name.size() - (sizeof(kLockSuffix) - 1)));
    } else if (ns_.Sub(name, false).ok()) {
      ids.insert(name);
    }
  }
  // Whether `id` has an entry no record refers to, or none at all; read
  // without its lock, so only a hint (ForgetIfUnused decides under it).
  auto looks_unused = [&](const std::string& id) {
    absl::StatusOr<StateDir> refs = ns_.Sub(id, false);
    if (!refs.ok()) return absl::IsNotFound(refs.status());
    absl::StatusOr<std::vector<std::string>> names = refs->List();
    if (!names.ok()) return false;
    return names->empty() ||
           std::any_of(names->begin(), names->end(), [&](const std::string& r) {
             return Ref(id, r, nullptr) == RefState::kStale;
           });
  };
  for (const std::string& id : ids) {
    if (id.empty() || !looks_unused(id)) continue;
    // Held: an operation on the namespace is in flight (an ADD between
    // its lock and its record among them), and its lock file is never
    // removed under it. A lock file that is a link, or anything else that
    // cannot be locked, stays as it is.
    absl::StatusOr<std::optional<internal::FileLock>> lock =
        ns_.TryLock(id + kLockSuffix);
    if (!lock.ok() || !lock->has_value()) continue;
    ForgetIfUnused(id, **lock, removed);
  }
}

absl::Status AttachmentStore::Collect(
    const std::vector<Attachment>& valid,
    std::chrono::system_clock::time_point since,
    std::vector<std::string>* removed) const {
  absl::Status first;
  auto keep_first = [&](absl::Status s) {
    if (first.ok()) first = std::move(s);
  };
  auto listed = [&](const Attachment& a) {
    // An entry without an interface name keeps all of its container's.
    return std::any_of(valid.begin(), valid.end(), [&](const Attachment& v) {
      return v.container_id == a.container_id &&
             (v.ifname.empty() || v.ifname == a.ifname);
    });
  };
  absl::StatusOr<std::vector<std::string>> names = net_.List();
  if (!names.ok()) return names.status();
  const auto now = std::chrono::system_clock::now();
  for (const std::string& name : *names) {
    const auto modified = net_.ModifiedAt(name);
    if (EndsWith(name, kTempSuffix)) {
      if (modified.has_value() && now - *modified > kStaleTemporary) {
        keep_first(net_.Remove(name, removed));
      }
      continue;
    }
    if (!EndsWith(name, kRecordSuffix)) continue;  // not ours by name
    LoadedRecord r = LoadFile(net_, name, nullptr);
    if (r.record.has_value() && listed(r.record->attachment)) continue;
    // Written or stamped since GC started: an ADD that completed since
    // (the rule below).
    if (modified.has_value() && *modified >= since) continue;
    if (!r.record.has_value()) {
      // Bigger than meshcap-cni writes: perhaps an older build's record of
      // a live attachment (its container ID that long), so it stays; DEL
      // of that attachment removes it.
      if (r.oversized) continue;
      // Otherwise unreadable: whose it is cannot be told, so it goes.
      keep_first(net_.Remove(name, removed));
      continue;
    }
    const std::string id = r.record->NamespaceId();
    absl::StatusOr<std::optional<internal::FileLock>> lock =
        ns_.TryLock(id + kLockSuffix);
    if (!lock.ok()) {
      keep_first(lock.status());
      continue;
    }
    if (!lock->has_value()) continue;  // an operation on it is in flight
    // The rule that keeps GC and a concurrent ADD of an attachment the
    // list does not name consistent: GC spares every attachment whose ADD
    // completed at or after `since`, so both its record and its capture
    // stay; only one completed before GC started loses its record (its
    // capture stays too, but the runtime's list says the pod is gone). An
    // ADD completes while it holds the namespace's lock: it writes its
    // record, applies, and stamps the record (Stamp) before it lets the
    // lock go. So, now that GC holds that lock, the record says when its
    // last ADD completed, whatever GC read of it before: an ADD that held
    // the lock when GC first looked, or took it and finished since, is
    // seen here. Read again, too: it may have gone, or moved to another
    // namespace, meanwhile.
    const auto completed = net_.ModifiedAt(name);
    if (!completed.has_value() || *completed >= since) continue;
    LoadedRecord now = LoadFile(net_, name, nullptr);
    if (!now.record.has_value() ||
        !(now.record->attachment == r.record->attachment) ||
        now.record->NamespaceId() != id) {
      continue;
    }
    keep_first(Forget(r.record->attachment, id, removed));
    if (Sharing(id, r.record->attachment).empty()) {
      ForgetNamespace(id, r.record->netns_key, **lock, removed);
    }
  }
  // What no record refers to any more, in every network's namespaces:
  // best effort (a leftover is no reason to fail the runtime's GC).
  SweepNamespaces(removed);
  return first;
}

absl::StatusOr<internal::UniqueFd> AttachmentStore::OpenXtablesLock() const {
  return cni_.OpenFile("xtables.lock", O_CREAT | O_RDONLY);
}

}  // namespace meshcap::cni
