// SPDX-License-Identifier: GPL-2.0-or-later
// The intent record of a transaction that commits in several steps (legacy
// iptables commits table by table): written before the first commit,
// removed after the last. Found by a later operation on the namespace, it
// says that an apply was interrupted; the next apply or clean finishes the
// job, and verify reports it.
//
// The record lives at <state_dir>/<netns key>.intent and carries the
// namespace's cookie (SO_NETNS_COOKIE, never reused while the system runs),
// so a record left by a namespace that is gone is not mistaken for one of a
// new namespace that got the same inode.

#ifndef MESHCAP_SRC_INTENT_H_
#define MESHCAP_SRC_INTENT_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meshcap::internal {

class IntentRecord {
 public:
  IntentRecord(std::string state_dir, std::string netns_key);

  // Records that a transaction described by `what` is under way in the
  // calling thread's namespace (atomically: a temporary file renamed).
  [[nodiscard]] absl::Status Begin(const std::string& what);
  // The transaction is complete: the record goes (and a temporary file
  // left by a writer that was killed).
  void Clear();
  // The description of an interrupted transaction of this namespace, if
  // there is one; a record of another namespace is removed. A record that
  // cannot be read as one (not JSON, a field of the wrong type) counts as
  // an interrupted transaction: the next apply or clean finishes it. A
  // state directory meshcap refuses (state_dir.h) is an error.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Pending();

  // <state_dir>/<netns key>.intent
  std::string path() const;

 private:
  std::string state_dir_;
  std::string name_;
};

// The calling thread's network namespace cookie, or 0 where the kernel has
// none (before Linux 5.14).
uint64_t NetnsCookie();

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_INTENT_H_
