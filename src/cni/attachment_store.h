// SPDX-License-Identifier: GPL-2.0-or-later
// What meshcap-cni keeps outside pod namespaces, and how ADD, DEL and GC
// share it safely.
//
// Under meshcap's state directory (/run/meshcap, or $MESHCAP_STATE_DIR),
// every directory mode 0700 and checked (src/state_dir.h), every file
// reached with O_NOFOLLOW:
//
//   netns-<dev>-<ino>.intent    the Engine's record of an interrupted legacy
//                               apply in that namespace
//   cni/<network>/<stem>.json   meshcap-cni's record of one attachment:
//                               its namespace (path, key and cookie), the
//                               backend and the policy's hash; written by
//                               ADD before it applies, so that whatever an
//                               ADD leaves behind can be found
//   cni/<network>/<stem>.json.tmp
//                               a record being written (swept by the next
//                               operation on the attachment, and by GC)
//   cni/.ns/<ns>.lock           the lock that serialises every verb on one
//                               pod namespace, across attachments and
//                               networks (flock; removed with the
//                               namespace's last attachment, and by GC
//                               once no record refers to the namespace
//                               and nobody holds it)
//   cni/.ns/<ns>/<network>+<stem>
//                               one empty file per attachment recorded in
//                               that namespace: who shares its capture
//                               (GC removes one whose record is gone)
//   cni/xtables.lock            the xtables lock legacy pods' applies take
//                               (never the node's /run/xtables.lock)
//
// <stem> is "<containerID>@<ifname>", the container ID cut and hashed when
// it is long (FileNameFor); <network> likewise; <ns> is the namespace's
// cookie ("cookie-<n>", unique while the system runs), or its key where
// the kernel has no cookies.
//
// A namespace's capture is shared by every attachment recorded in it: DEL
// removes it only with the last one, and an ADD whose policy differs from
// the one the namespace already holds for another attachment is refused.

#ifndef MESHCAP_SRC_CNI_ATTACHMENT_STORE_H_
#define MESHCAP_SRC_CNI_ATTACHMENT_STORE_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/cni/config.h"
#include "src/state_dir.h"
#include "src/unique_fd.h"

namespace meshcap::cni {

// The most a record may weigh: all that Load reads back. Save never
// writes a bigger one, and ADD refuses an attachment whose record would be
// (AttachmentStore::RecordBytes) before it changes anything.
inline constexpr size_t kMaxRecordBytes = 64 << 10;

struct AttachmentRecord {
  Attachment attachment;
  // CNI_NETNS at ADD; the Engine's key of the namespace
  // ("netns-<dev>-<ino>"); its cookie (0: none).
  std::string netns;
  std::string netns_key;
  uint64_t netns_cookie = 0;
  // The backend the Engine chose.
  std::string backend;
  // A hash of the policy ADD applied (CapturePolicy::fingerprint()).
  std::string policy;
  // The policy itself (CapturePolicy::ToJson()), for the node agent's
  // reconcile (install --watch); empty when it would make the record too
  // big (such a pod is not healed).
  std::string policy_json;

  // The namespace's name in the store: "cookie-<n>", else the key.
  std::string NamespaceId() const;
};

// What Load found.
struct LoadedRecord {
  std::optional<AttachmentRecord> record;
  // Set when a file is there but is not a record of this attachment (not
  // JSON, a field of the wrong type, too big, a link): what is wrong.
  // DEL, ADD and GC treat it as a record of unknown content.
  std::string unreadable;
  // Set with `unreadable` when the file is bigger than kMaxRecordBytes:
  // not this meshcap-cni's (it never writes one), perhaps an older one's,
  // so maybe a live attachment's. GC keeps it; DEL of its attachment
  // removes it.
  bool oversized = false;
};

class AttachmentStore {
 public:
  // Opens the store of `network` under `state_dir`, making the
  // directories (0700) when `create`. Errors are state errors
  // (internal::IsStateError): a directory refused, or none when not
  // `create` (kNotFound).
  [[nodiscard]] static absl::StatusOr<AttachmentStore> Open(
      const std::string& state_dir, const std::string& network, bool create);

  // <state_dir>/cni/<network>
  const std::string& dir() const { return net_.path(); }

  [[nodiscard]] LoadedRecord Load(const Attachment& a) const;
  // Every readable record of this network.
  std::vector<AttachmentRecord> Records() const;
  // The networks that have a store under `state_dir` (their directory
  // names, which Open takes back); none when there is no store at all.
  [[nodiscard]] static absl::StatusOr<std::vector<std::string>> Networks(
      const std::string& state_dir);
  // The bytes Save writes for `record`: more than kMaxRecordBytes (a
  // container ID or namespace path of about 64 KiB) could not be read
  // back, so Save refuses it.
  static size_t RecordBytes(const AttachmentRecord& record);
  // Writes the record (atomically) and its entry under the namespace;
  // kInvalidArgument, writing nothing, for a record over kMaxRecordBytes.
  [[nodiscard]] absl::Status Save(const AttachmentRecord& record) const;
  // ADD's completion stamp: sets the modification time of `a`'s record to
  // now, to the nanosecond. ADD calls it last, still holding the
  // namespace's lock, so that a GC that started before can tell that the
  // ADD completed after it (see Collect).
  [[nodiscard]] absl::Status Stamp(const Attachment& a) const;
  // Removes what is kept for `a`: its namespace entry (for `ns_id`, when
  // known), its record and a temporary file left by a killed write.
  // Appends each file removed to `removed`. Missing files are fine.
  [[nodiscard]] absl::Status Forget(const Attachment& a,
                                    const std::string& ns_id,
                                    std::vector<std::string>* removed) const;
  // Removes a temporary record of `a` left by a write that was killed:
  // any (the caller holds the namespace's lock, so no write is under way),
  // or with `stale_only`, one untouched for kStaleTemporary (a caller that
  // cannot take the lock: DEL of an attachment it knows no namespace of).
  void SweepTemporary(const Attachment& a, bool stale_only = false) const;

  // The lock of namespace `ns_id`, waiting up to `timeout`.
  [[nodiscard]] absl::StatusOr<internal::FileLock> LockNamespace(
      const std::string& ns_id, std::chrono::milliseconds timeout) const;
  // The other attachments (of any network) recorded in namespace `ns_id`.
  std::vector<AttachmentRecord> Sharing(const std::string& ns_id,
                                        const Attachment& except) const;
  // After the last attachment of a namespace went: its entry directory,
  // the Engine's intent record (by `netns_key`) and, last, the lock file,
  // removed while `lock` still holds it.
  void ForgetNamespace(const std::string& ns_id, const std::string& netns_key,
                       internal::FileLock& lock,
                       std::vector<std::string>* removed) const;
  // With `lock` held on namespace `ns_id`: removes its entries that no
  // record refers to (the record gone, or naming another namespace; an
  // entry whose record cannot be read stays), and when none is left, its
  // entry directory and, last, its lock file (RemoveAndRelease). What a
  // verb leaves when it fails or is killed between taking the lock and
  // writing its record, or between removing a record and its entry.
  // Returns whether the namespace is forgotten.
  bool ForgetIfUnused(const std::string& ns_id, internal::FileLock& lock,
                      std::vector<std::string>* removed) const;

  // GC, started at `since`: forgets every attachment of this network that
  // `valid` does not list, except those whose namespace is busy (an ADD in
  // flight) or whose ADD completed at or after `since` (its record written
  // or stamped then: an ADD the runtime's list could not know of), and
  // records too big to read (LoadedRecord::oversized). Sweeps temporary
  // files and entries left by killed operations. Keeps going after an
  // error and returns the first.
  [[nodiscard]] absl::Status Collect(
      const std::vector<Attachment>& valid,
      std::chrono::system_clock::time_point since,
      std::vector<std::string>* removed) const;

  // The xtables lock for legacy pods' applies, opened safely; hand
  // "/proc/self/fd/<fd>" to the Engine while it is open.
  [[nodiscard]] absl::StatusOr<internal::UniqueFd> OpenXtablesLock() const;

 private:
  AttachmentStore(std::string state_dir, std::string network,
                  internal::StateDir cni, internal::StateDir net,
                  internal::StateDir ns)
      : state_dir_(std::move(state_dir)),
        network_(std::move(network)),
        cni_(std::move(cni)),
        net_(std::move(net)),
        ns_(std::move(ns)) {}

  // What an entry of a namespace's directory ("<network>+<stem>") stands
  // for.
  enum class RefState {
    kLive,     // a record that says it is in that namespace
    kStale,    // no record, or one of another namespace: nothing
    kUnknown,  // a record or directory that cannot be read: maybe live
  };
  RefState Ref(const std::string& ns_id, const std::string& ref,
               std::optional<AttachmentRecord>* record) const;
  // GC: ForgetIfUnused for every namespace of the store that nobody holds
  // the lock of (whatever network its attachments were of).
  void SweepNamespaces(std::vector<std::string>* removed) const;

  static std::string Stem(const Attachment& a);
  std::string RefName(const Attachment& a) const;
  LoadedRecord LoadFile(const internal::StateDir& dir, const std::string& name,
                        const Attachment* expected) const;

  std::string state_dir_;
  std::string network_;
  internal::StateDir cni_;  // <state>/cni
  internal::StateDir net_;  // <state>/cni/<network>
  internal::StateDir ns_;   // <state>/cni/.ns
};

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_ATTACHMENT_STORE_H_
