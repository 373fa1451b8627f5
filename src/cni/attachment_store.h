// SPDX-License-Identifier: GPL-2.0-or-later
// What meshcap-cni keeps outside pod namespaces, per attachment, and how
// DEL and GC take it away again.
//
// Under meshcap's state directory (/run/meshcap, or $MESHCAP_STATE_DIR):
//
//   netns-<dev>-<ino>.intent   the Engine's record of an interrupted legacy
//                              apply in that namespace (the Engine's
//                              per-namespace lock is an flock on the
//                              namespace itself and leaves no file)
//   cni/<network>/<containerID>@<ifname>.json
//                              meshcap-cni's record of one attachment: its
//                              namespace (path and key) and backend, written
//                              by ADD before it applies, so that whatever an
//                              ADD leaves behind can be found
//   cni/<network>/<containerID>@<ifname>.xtables.lock
//                              the pod-scoped xtables lock the legacy
//                              backend takes for this attachment
//
// A container ID never holds '@', so the file name is unambiguous; an
// interface name never holds '/'.

#ifndef MESHCAP_SRC_CNI_ATTACHMENT_STORE_H_
#define MESHCAP_SRC_CNI_ATTACHMENT_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/cni/config.h"

namespace meshcap::cni {

struct AttachmentRecord {
  Attachment attachment;
  // CNI_NETNS at ADD, and the namespace's key in the state directory
  // ("netns-<dev>-<ino>").
  std::string netns;
  std::string netns_key;
  // The backend the Engine chose.
  std::string backend;
};

class AttachmentStore {
 public:
  // `state_dir`: meshcap's state directory; `network`: the network name
  // (already checked: a valid identifier).
  AttachmentStore(std::string state_dir, std::string network);

  // <state_dir>/cni/<network>
  const std::string& dir() const { return dir_; }
  std::string RecordPath(const Attachment& a) const;
  std::string XtablesLockPath(const Attachment& a) const;

  // Creates <state_dir>/cni/<network> (mode 0700) when missing: where the
  // xtables lock of an attachment lives.
  [[nodiscard]] absl::Status MakeDirs() const;
  // Writes the record (atomically: a temporary file renamed), creating the
  // directories (mode 0700) when missing.
  [[nodiscard]] absl::Status Save(const AttachmentRecord& record) const;
  // The record of `a`, if there is a readable one.
  std::optional<AttachmentRecord> Load(const Attachment& a) const;

  // Removes what is kept for `a`: its record, its xtables lock, and the
  // Engine's intent record of its namespace unless another record (of any
  // network) names that namespace; then the network's directory and cni/
  // if they are empty. Appends each file removed to `removed`. Missing
  // files are fine.
  [[nodiscard]] absl::Status Forget(const Attachment& a,
                                    std::vector<std::string>* removed) const;

  // GC: forgets every attachment of this network that `valid` does not
  // list. Keeps going after an error and returns the first one.
  [[nodiscard]] absl::Status Collect(const std::vector<Attachment>& valid,
                                     std::vector<std::string>* removed) const;

 private:
  // The file name stem of `a`: "<containerID>@<ifname>".
  static std::string Stem(const Attachment& a);
  // Every record of every network, but those of `except` in this one.
  std::vector<AttachmentRecord> OtherRecords(
      const std::vector<Attachment>& except) const;
  // Removes <state_dir>/cni/<network> and <state_dir>/cni when empty.
  void RemoveEmptyDirs() const;
  [[nodiscard]] absl::Status ForgetNamespace(
      const std::string& netns_key, const std::vector<Attachment>& leaving,
      std::vector<std::string>* removed) const;

  std::string state_dir_;
  std::string network_;
  std::string dir_;
};

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_ATTACHMENT_STORE_H_
