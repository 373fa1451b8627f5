// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/attachment_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/errno_status.h"
#include "src/intent.h"
#include "src/text.h"
#include "src/unique_fd.h"

namespace meshcap::cni {
namespace {

using internal::ErrnoStatus;
using internal::Quote;
using internal::UniqueFd;

constexpr char kRecordSuffix[] = ".json";
constexpr char kXtablesSuffix[] = ".xtables.lock";
constexpr char kTempSuffix[] = ".tmp";

constexpr std::string_view kStatePrivilege =
    "meshcap-cni keeps its records under the state directory and needs "
    "write access to it";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

absl::Status MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    return absl::OkStatus();
  }
  return ErrnoStatus(errno, absl::StrCat("cannot create ", Quote(dir)),
                     kStatePrivilege);
}

// Removes `path`; a missing file is fine.
absl::Status RemoveFile(const std::string& path,
                        std::vector<std::string>* removed) {
  if (unlink(path.c_str()) == 0) {
    if (removed != nullptr) removed->push_back(path);
    return absl::OkStatus();
  }
  if (errno == ENOENT) return absl::OkStatus();
  return ErrnoStatus(errno, absl::StrCat("cannot remove ", Quote(path)),
                     kStatePrivilege);
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// "<containerID>@<ifname><suffix>" -> the attachment; nullopt for a name
// of another shape.
std::optional<Attachment> FromFileName(std::string_view name) {
  for (std::string_view suffix :
       {std::string_view(kRecordSuffix), std::string_view(kXtablesSuffix)}) {
    if (EndsWith(name, suffix)) {
      name.remove_suffix(suffix.size());
      const size_t at = name.find('@');
      if (at == std::string_view::npos) return std::nullopt;
      return Attachment{std::string(name.substr(0, at)),
                        std::string(name.substr(at + 1))};
    }
  }
  // "<stem>.json.<pid>.tmp": a record being written.
  if (EndsWith(name, kTempSuffix)) {
    const size_t json = name.rfind(kRecordSuffix);
    if (json == std::string_view::npos) return std::nullopt;
    return FromFileName(name.substr(0, json + strlen(kRecordSuffix)));
  }
  return std::nullopt;
}

std::optional<AttachmentRecord> ReadRecord(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  AttachmentRecord r;
  auto str = [&](const char* key) {
    return doc.contains(key) && doc[key].is_string()
               ? doc[key].get<std::string>()
               : std::string();
  };
  r.attachment.container_id = str("containerID");
  r.attachment.ifname = str("ifname");
  r.netns = str("netns");
  r.netns_key = str("netnsKey");
  r.backend = str("backend");
  return r;
}

}  // namespace

AttachmentStore::AttachmentStore(std::string state_dir, std::string network)
    : state_dir_(std::move(state_dir)),
      network_(std::move(network)),
      dir_(absl::StrCat(state_dir_, "/cni/", network_)) {}

std::string AttachmentStore::Stem(const Attachment& a) {
  return absl::StrCat(a.container_id, "@", a.ifname);
}

std::string AttachmentStore::RecordPath(const Attachment& a) const {
  return absl::StrCat(dir_, "/", Stem(a), kRecordSuffix);
}

std::string AttachmentStore::XtablesLockPath(const Attachment& a) const {
  return absl::StrCat(dir_, "/", Stem(a), kXtablesSuffix);
}

absl::Status AttachmentStore::MakeDirs() const {
  for (const std::string& d :
       {state_dir_, absl::StrCat(state_dir_, "/cni"), dir_}) {
    if (absl::Status s = MakeDir(d); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status AttachmentStore::Save(const AttachmentRecord& record) const {
  nlohmann::json doc = {
      {"meshcapCni", 1},
      {"containerID", record.attachment.container_id},
      {"ifname", record.attachment.ifname},
      {"netns", record.netns},
      {"netnsKey", record.netns_key},
      {"backend", record.backend},
      {"pid", getpid()},
      {"time", static_cast<int64_t>(time(nullptr))},
  };
  const std::string text =
      doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::string path = RecordPath(record.attachment);
  const std::string tmp = absl::StrCat(path, ".", getpid(), kTempSuffix);
  UniqueFd fd;
  // The directories usually exist; make them only when they do not (a DEL
  // of the network's last attachment may remove them meanwhile).
  for (int attempt = 0; !fd && attempt < 3; ++attempt) {
    fd.reset(open(tmp.c_str(),
                  O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd || errno != ENOENT) break;
    if (absl::Status s = MakeDirs(); !s.ok()) return s;
  }
  if (!fd) {
    return ErrnoStatus(errno, absl::StrCat("cannot write ", Quote(tmp)),
                       kStatePrivilege);
  }
  if (write(fd.get(), text.data(), text.size()) !=
      static_cast<ssize_t>(text.size())) {
    const int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("cannot write ", Quote(tmp)),
                       kStatePrivilege);
  }
  fd.reset();
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("cannot write ", Quote(path)),
                       kStatePrivilege);
  }
  return absl::OkStatus();
}

std::optional<AttachmentRecord> AttachmentStore::Load(
    const Attachment& a) const {
  return ReadRecord(RecordPath(a));
}

std::vector<AttachmentRecord> AttachmentStore::OtherRecords(
    const std::vector<Attachment>& except) const {
  std::vector<AttachmentRecord> out;
  const std::string cni_dir = absl::StrCat(state_dir_, "/cni");
  for (const std::string& network : ListDir(cni_dir)) {
    const std::string dir = absl::StrCat(cni_dir, "/", network);
    for (const std::string& name : ListDir(dir)) {
      if (!EndsWith(name, kRecordSuffix)) continue;
      std::optional<Attachment> a = FromFileName(name);
      if (!a.has_value()) continue;
      if (network == network_ &&
          std::find(except.begin(), except.end(), *a) != except.end()) {
        continue;
      }
      std::optional<AttachmentRecord> r =
          ReadRecord(absl::StrCat(dir, "/", name));
      if (r.has_value()) out.push_back(*std::move(r));
    }
  }
  return out;
}

absl::Status AttachmentStore::ForgetNamespace(
    const std::string& netns_key, const std::vector<Attachment>& leaving,
    std::vector<std::string>* removed) const {
  // Only names the Engine itself makes; never a path from a record.
  if (netns_key.rfind("netns-", 0) != 0 ||
      netns_key.find('/') != std::string::npos) {
    return absl::OkStatus();
  }
  for (const AttachmentRecord& r : OtherRecords(leaving)) {
    if (r.netns_key == netns_key) return absl::OkStatus();  // still served
  }
  // The Engine's name for it (src/intent.h); see the report of issue 14
  // for the public API this wants instead.
  const std::string intent =
      internal::IntentRecord(state_dir_, netns_key).path();
  absl::Status first;
  for (const std::string& path : {intent, absl::StrCat(intent, ".tmp")}) {
    absl::Status s = RemoveFile(path, removed);
    if (first.ok()) first = s;
  }
  return first;
}

absl::Status AttachmentStore::Forget(const Attachment& a,
                                     std::vector<std::string>* removed) const {
  const std::optional<AttachmentRecord> record = Load(a);
  absl::Status first = RemoveFile(RecordPath(a), removed);
  absl::Status s = RemoveFile(XtablesLockPath(a), removed);
  if (first.ok()) first = s;
  if (record.has_value()) {
    s = ForgetNamespace(record->netns_key, {a}, removed);
    if (first.ok()) first = s;
  }
  RemoveEmptyDirs();
  return first;
}

absl::Status AttachmentStore::Collect(const std::vector<Attachment>& valid,
                                      std::vector<std::string>* removed) const {
  absl::Status first;
  std::vector<Attachment> leaving;
  std::vector<std::string> keys;
  for (const std::string& name : ListDir(dir_)) {
    const std::optional<Attachment> a = FromFileName(name);
    if (!a.has_value()) continue;
    // An entry without an interface name keeps all of its container's.
    if (std::any_of(valid.begin(), valid.end(), [&](const Attachment& v) {
          return v.container_id == a->container_id &&
                 (v.ifname.empty() || v.ifname == a->ifname);
        })) {
      continue;
    }
    const std::string path = absl::StrCat(dir_, "/", name);
    if (EndsWith(name, kRecordSuffix)) {
      if (std::optional<AttachmentRecord> r = ReadRecord(path)) {
        keys.push_back(r->netns_key);
      }
      leaving.push_back(*a);
    }
    absl::Status s = RemoveFile(path, removed);
    if (first.ok()) first = s;
  }
  for (const std::string& key : keys) {
    absl::Status s = ForgetNamespace(key, leaving, removed);
    if (first.ok()) first = s;
  }
  RemoveEmptyDirs();
  return first;
}

void AttachmentStore::RemoveEmptyDirs() const {
  // rmdir fails on a directory that is not empty, which is the check. The
  // state directory itself is the Engine's and stays.
  if (rmdir(dir_.c_str()) == 0) {
    rmdir(absl::StrCat(state_dir_, "/cni").c_str());
  }
}

}  // namespace meshcap::cni
