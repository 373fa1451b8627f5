// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/cni/config.h"
#include "src/cni/environment.h"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Json;

// Configurations, kubeconfig parts and binaries larger than these are
// refused unread.
constexpr size_t kMaxConfBytes = 4 << 20;
constexpr size_t kMaxSecretBytes = 1 << 20;
constexpr size_t kMaxBinaryBytes = 256 << 20;

std::string Errno(int e) { return strerror(e); }

// An open regular file of at most `max` bytes, or -1 with `error` set.
int OpenRegular(const std::string& path, size_t max, int* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<size_t>(st.st_size) > max) {
    *error = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
    close(fd);
    return -1;
  }
  return fd;
}

// Reads up to `size` bytes at the fd's offset, as read(2) does but
// retrying EINTR and short reads; the count read (0 at the end), or -1.
ssize_t ReadFull(int fd, char* buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = read(fd, buf + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// The file's bytes, or nullopt (missing, unreadable, not regular, larger
// than `max`); `error` receives why.
std::optional<std::string> ReadFile(const std::string& path, size_t max,
                                    int* error = nullptr) {
  int ignored = 0;
  const int fd = OpenRegular(path, max, error != nullptr ? error : &ignored);
  if (fd < 0) return std::nullopt;
  struct stat st;
  fstat(fd, &st);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  const ssize_t n = ReadFull(fd, out.data(), out.size());
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  close(fd);
  return out;
}

bool EndsWithConfExtension(const std::string& name) {
  return absl::EndsWith(name, ".conf") || absl::EndsWith(name, ".conflist") ||
         absl::EndsWith(name, ".json");
}

bool IsOurs(const Json& plugin) {
  const std::optional<std::string> type = internal::GetString(plugin, "type");
  return type.has_value() && *type == kPluginType;
}

std::string Pretty(const Json& doc) {
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

absl::StatusOr<Json> ParseConf(const std::string& name, std::string_view text) {
  absl::StatusOr<Json> doc = internal::ParseJson(
      text, {.max_bytes = kMaxConfBytes, .max_depth = kMaxConfigDepth});
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": a network configuration is a JSON object"));
  }
  return doc;
}

// Writes dir/name through a temporary file in `dir` renamed into place,
// with `mode` (and, when given, the owner) whatever the umask; `fill`
// writes the contents to the temporary file's fd.
absl::Status WriteAtomicallyWith(
    const std::string& dir, const std::string& name, mode_t mode,
    const struct stat* owner,
    const std::function<absl::Status(int fd, const std::string& tmp)>& fill) {
  // Not .conf, .conflist or .json: a runtime never loads it half-written.
  const std::string tmp =
      absl::StrCat(dir, "/.", name, ".meshcap-tmp.", getpid());
  const std::string path = absl::StrCat(dir, "/", name);
  const int fd = open(
      tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create ", internal::Quote(tmp), ": ", Errno(errno)));
  }
  absl::Status status = fill(fd, tmp);
  if (status.ok() && owner != nullptr &&
      fchown(fd, owner->st_uid, owner->st_gid) != 0) {
    status = absl::PermissionDeniedError(absl::StrCat(
        "cannot give ", internal::Quote(tmp), " its owner: ", Errno(errno)));
  }
  if (status.ok() && fchmod(fd, mode) != 0) {
    status = absl::PermissionDeniedError(absl::StrCat(
        "cannot set the mode of ", internal::Quote(tmp), ": ", Errno(errno)));
  }
  if (status.ok() && fsync(fd) != 0) {
    status = absl::InternalError(absl::StrCat(
        "cannot write ", internal::Quote(tmp), ": ", Errno(errno)));
  }
  close(fd);
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::PermissionDeniedError(
        absl::StrCat("cannot rename ", internal::Quote(tmp), " to ",
                     internal::Quote(path), ": ", Errno(errno)));
  }
  if (!status.ok()) unlink(tmp.c_str());
  return status;
}

// Writes all of `data` to `fd`.
absl::Status WriteAll(int fd, const std::string& tmp, const char* data,
                      size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::InternalError(absl::StrCat(
          "cannot write ", internal::Quote(tmp), ": ", Errno(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Writes `text` to dir/name atomically (WriteAtomicallyWith).
absl::Status WriteAtomically(const std::string& dir, const std::string& name,
                             std::string_view text, mode_t mode,
                             const struct stat* owner = nullptr) {
  return WriteAtomicallyWith(
      dir, name, mode, owner, [&](int fd, const std::string& tmp) {
        return WriteAll(fd, tmp, text.data(), text.size());
      });
}

// Whether two files hold the same bytes, read a chunk at a time (a binary
// is tens of MiB: neither is ever held whole).
bool SameContents(const std::string& a, const std::string& b, size_t max) {
  int error = 0;
  const int fa = OpenRegular(a, max, &error);
  if (fa < 0) return false;
  const int fb = OpenRegular(b, max, &error);
  if (fb < 0) {
    close(fa);
    return false;
  }
  constexpr size_t kChunk = 1 << 16;
  std::vector<char> ba(kChunk), bb(kChunk);
  bool same = true;
  for (;;) {
    const ssize_t na = ReadFull(fa, ba.data(), kChunk);
    const ssize_t nb = ReadFull(fb, bb.data(), kChunk);
    if (na < 0 || nb < 0 || na != nb ||
        memcmp(ba.data(), bb.data(), static_cast<size_t>(na)) != 0) {
      same = false;
      break;
    }
    if (na == 0) break;
  }
  close(fa);
  close(fb);
  return same;
}

std::vector<std::string> ListDir(const std::string& dir, int* error) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    *error = errno;
    return names;
  }
  while (struct dirent* e = readdir(d)) {
    const std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  closedir(d);
  *error = 0;
  return names;
}

std::vector<std::string> BinDirs(const InstallOptions& o) {
  if (o.bin_dirs.empty()) return {"/opt/cni/bin"};
  return o.bin_dirs;
}

std::string SelfBinary(const InstallOptions& o) {
  return o.binary.empty() ? "/proc/self/exe" : o.binary;
}

}  // namespace

std::optional<std::string> PrimaryConfFile(
    std::vector<std::string> names,
    const std::function<std::optional<std::string>(const std::string&)>& read) {
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!EndsWithConfExtension(name)) continue;
    const std::optional<std::string> text = read(name);
    if (!text.has_value()) continue;
    absl::StatusOr<Json> doc = ParseConf(name, *text);
    if (!doc.ok()) continue;
    const Json* plugins = internal::GetMember(*doc, "plugins");
    if (absl::EndsWith(name, ".conflist")) {
      if (plugins != nullptr && plugins->is_array() && !plugins->empty()) {
        return name;
      }
      continue;
    }
    if (internal::GetString(*doc, "type").has_value()) return name;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<ConfEdit>> WithOurEntry(std::string_view name_view,
                                                     std::string_view text,
                                                     const Json& entry) {
  const std::string name(name_view);
  absl::StatusOr<Json> doc = ParseConf(name, text);
  if (!doc.ok()) return doc.status();
  if (absl::EndsWith(name, ".conflist")) {
    Json* plugins = nullptr;
    if (auto it = doc->find("plugins"); it != doc->end()) plugins = &*it;
    if (plugins == nullptr || !plugins->is_array() || plugins->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": a .conflist needs a non-empty plugins array"));
    }
    size_t ours = 0;
    for (const Json& p : *plugins) ours += IsOurs(p) ? 1 : 0;
    if (ours == 1 && plugins->back() == entry) return std::nullopt;
    Json kept = Json::array();
    for (Json& p : *plugins) {
      if (!IsOurs(p)) kept.push_back(std::move(p));
    }
    if (kept.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name,
          ": holds no plugin but meshcap-cni, so no network to chain "
          "after"));
    }
    kept.push_back(entry);
    *plugins = std::move(kept);
    return ConfEdit{std::string(name), Pretty(*doc)};
  }
  // A single plugin (.conf, .json): a list with it first and ours last.
  if (IsOurs(*doc)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": is meshcap-cni alone, so no network to chain after"));
  }
  if (!internal::GetString(*doc, "type").has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": a network configuration needs a type"));
  }
  Json list = Json::object();
  if (const Json* v = internal::GetMember(*doc, "cniVersion")) {
    list["cniVersion"] = *v;
  }
  if (const Json* v = internal::GetMember(*doc, "name")) list["name"] = *v;
  list["plugins"] = Json::array({*doc, entry});
  const size_t dot = name.rfind('.');
  return ConfEdit{absl::StrCat(name.substr(0, dot), ".conflist"), Pretty(list)};
}

absl::StatusOr<std::optional<std::string>> WithoutOurEntry(
    std::string_view text) {
  absl::StatusOr<Json> doc = ParseConf("configuration", text);
  if (!doc.ok()) return doc.status();
  auto it = doc->find("plugins");
  if (it == doc->end() || !it->is_array()) return std::nullopt;
  Json kept = Json::array();
  bool found = false;
  for (Json& p : *it) {
    if (IsOurs(p)) {
      found = true;
    } else {
      kept.push_back(std::move(p));
    }
  }
  if (!found) return std::nullopt;
  *it = std::move(kept);
  return Pretty(*doc);
}

std::string KubeconfigText(std::string_view protocol_view,
                           std::string_view host_view,
                           std::string_view port_view, std::string_view ca_pem,
                           std::string_view token) {
  // An IPv6 address goes in brackets; a name or IPv4 address may too.
  const std::string protocol(protocol_view), host(host_view), port(port_view);
  const bool v6 = host.find(':') != std::string::npos;
  const std::string server =
      v6 ? absl::StrCat(protocol, "://[", host, "]:", port)
         : absl::StrCat(protocol, "://", host, ":", port);
  // Strings are double-quoted: the token is a JWT ([A-Za-z0-9_.-]), and
  // base64 needs no escaping either; the server is escaped for safety.
  std::string escaped_server;
  for (char c : server) {
    if (c == '"' || c == '\\') escaped_server += '\\';
    escaped_server += c;
  }
  std::string escaped_token;
  for (char c : token) {
    if (c == '"' || c == '\\') escaped_token += '\\';
    if (c == '\n' || c == '\r') continue;
    escaped_token += c;
  }
  return absl::StrCat(
      "# Kubeconfig file for the meshcap-cni plugin (istio-cni's layout).\n"
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: local\n"
      "  cluster:\n"
      "    server: \"",
      escaped_server,
      "\"\n"
      "    certificate-authority-data: \"",
      absl::Base64Escape(internal::ToAbsl(ca_pem)),
      "\"\n"
      "users:\n"
      "- name: istio-cni\n"
      "  user:\n"
      "    token: \"",
      escaped_token,
      "\"\n"
      "contexts:\n"
      "- name: istio-cni-context\n"
      "  context:\n"
      "    cluster: local\n"
      "    user: istio-cni\n"
      "current-context: istio-cni-context\n");
}

absl::StatusOr<Json> OurEntry(const InstallOptions& options) {
  if (!options.plugin_config.is_object()) {
    return absl::InvalidArgumentError(
        "the plugin configuration must be a JSON object");
  }
  Json entry = Json::object();
  entry["type"] = kPluginType;
  for (const auto& [key, value] : options.plugin_config.items()) {
    if (key == "type" || key == "cniVersion" || key == "name") {
      if (key == "type" && value != Json(kPluginType)) {
        return absl::InvalidArgumentError(
            absl::StrCat("the plugin configuration's type is ",
                         internal::DumpJson(value), ", not meshcap-cni"));
      }
      continue;  // the list's own, which libcni hands every plugin
    }
    entry[key] = value;
  }
  if (!entry.contains("cni_agent_run_dir")) {
    entry["cni_agent_run_dir"] = options.cni_agent_run_dir;
  }
  // Checked as an ADD will read it.
  Json probe = entry;
  probe["cniVersion"] = "1.0.0";
  probe["name"] = "install-check";
  std::string version;
  CniOr<PluginConfig> parsed =
      ParseConfig(internal::DumpJson(probe), Command::kAdd, &version);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the plugin configuration would fail every pod: ", parsed.error().msg,
        parsed.error().details.empty() ? "" : ": ", parsed.error().details));
  }
  return entry;
}

namespace {

absl::Status InstallBinary(const std::string& from, const std::string& dir,
                           InstallReport& report) {
  const std::string path = absl::StrCat(dir, "/", std::string(kPluginType));
  // A copy this process has checked or written is not read again while
  // its inode, size, times and mode stay as they were (any write, rename
  // over or chmod changes them): a watcher's pass reads nothing, and this
  // process's own binary is read only when a copy must be checked.
  static auto* const checked = new std::map<std::string, std::string>;
  const std::string key = absl::StrCat(from, "\n", path);
  auto identity = [](const struct stat& st) {
    return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":",
                        st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":",
                        st.st_ctim.tv_sec, ".", st.st_ctim.tv_nsec, ":",
                        st.st_mode);
  };
  struct stat st;
  const bool there_now = stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                         (st.st_mode & 07777) == 0755;
  if (there_now) {
    if (auto it = checked->find(key);
        it != checked->end() && it->second == identity(st)) {
      return absl::OkStatus();
    }
  }
  // Both files are read a chunk at a time: the binary is never held whole.
  int error = 0;
  const int self = OpenRegular(from, kMaxBinaryBytes, &error);
  if (self < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the binary to install, ",
                     internal::Quote(from), ": ", Errno(error)));
  }
  if (there_now && SameContents(from, path, kMaxBinaryBytes)) {
    close(self);
    (*checked)[key] = identity(st);
    return absl::OkStatus();
  }
  struct stat dst;
  if (stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode)) {
    close(self);
    return absl::NotFoundError(absl::StrCat(
        "the CNI bin dir ", internal::Quote(dir), " is not a directory"));
  }
  absl::Status s = WriteAtomicallyWith(
      dir, std::string(kPluginType), 0755, nullptr,
      [&](int fd, const std::string& tmp) -> absl::Status {
        std::vector<char> buf(1 << 16);
        for (;;) {
          const ssize_t n = ReadFull(self, buf.data(), buf.size());
          if (n < 0) {
            return absl::InternalError(
                absl::StrCat("cannot read the binary to install, ",
                             internal::Quote(from), ": ", Errno(errno)));
          }
          if (n == 0) return absl::OkStatus();
          MESHCAP_RETURN_IF_ERROR(
              WriteAll(fd, tmp, buf.data(), static_cast<size_t>(n)));
        }
      });
  close(self);
  if (!s.ok()) return s;
  if (stat(path.c_str(), &st) == 0) (*checked)[key] = identity(st);
  report.changed.push_back(path);
  return absl::OkStatus();
}

absl::Status InstallKubeconfig(const InstallOptions& o, InstallReport& report) {
  if (o.kube_host.empty()) {
    report.notes.push_back(
        "KUBERNETES_SERVICE_HOST is not set (not in a cluster): no "
        "kubeconfig written");
    return absl::OkStatus();
  }
  int error = 0;
  const std::string token_path = o.service_account_dir + "/token";
  const std::string ca_path = o.service_account_dir + "/ca.crt";
  const std::optional<std::string> token =
      ReadFile(token_path, kMaxSecretBytes, &error);
  if (!token.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the service account's token ",
                     internal::Quote(token_path), ": ", Errno(error)));
  }
  const std::optional<std::string> ca =
      ReadFile(ca_path, kMaxSecretBytes, &error);
  if (!ca.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the service account's CA ",
                     internal::Quote(ca_path), ": ", Errno(error)));
  }
  const std::string text =
      KubeconfigText(o.kube_protocol, o.kube_host, o.kube_port, *ca, *token);
  const std::string path =
      absl::StrCat(o.cni_agent_run_dir, "/", std::string(kKubeconfigName));
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 07777) == 0600) {
    const std::optional<std::string> there = ReadFile(path, kMaxSecretBytes);
    if (there.has_value() && *there == text) return absl::OkStatus();
  }
  if (mkdir(o.cni_agent_run_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", internal::Quote(o.cni_agent_run_dir),
                     ": ", Errno(errno)));
  }
  absl::Status s = WriteAtomically(o.cni_agent_run_dir,
                                   std::string(kKubeconfigName), text, 0600);
  if (!s.ok()) return s;
  report.changed.push_back(path);
  return absl::OkStatus();
}

absl::Status InstallConf(const InstallOptions& o, const Json& entry,
                         InstallReport& report) {
  int error = 0;
  std::vector<std::string> names = ListDir(o.conf_dir, &error);
  if (error != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read the CNI conf dir ",
                                            internal::Quote(o.conf_dir), ": ",
                                            Errno(error)));
  }
  auto read = [&](const std::string& name) {
    return ReadFile(o.conf_dir + "/" + name, kMaxConfBytes);
  };
  const std::optional<std::string> primary = PrimaryConfFile(names, read);
  if (!primary.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no network configuration in ", internal::Quote(o.conf_dir),
        " to chain meshcap-cni into (the primary CNI has not written its "
        "file yet)"));
  }
  const std::string path = o.conf_dir + "/" + *primary;
  const std::optional<std::string> text = read(*primary);
  if (!text.has_value()) {
    return absl::UnavailableError(
        absl::StrCat(internal::Quote(path), " went away while reading it"));
  }
  absl::StatusOr<std::optional<ConfEdit>> edit =
      WithOurEntry(*primary, *text, entry);
  if (!edit.ok()) return edit.status();
  if (!edit->has_value()) return absl::OkStatus();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat(internal::Quote(path), " went away while reading it"));
  }
  absl::Status s = WriteAtomically(o.conf_dir, (*edit)->name, (*edit)->text,
                                   st.st_mode & 07777, &st);
  if (!s.ok()) return s;
  report.changed.push_back(o.conf_dir + "/" + (*edit)->name);
  if ((*edit)->name != *primary) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot remove ", internal::Quote(path), ": ", Errno(errno)));
    }
    report.changed.push_back(path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<InstallReport> Install(const InstallOptions& options) {
  absl::StatusOr<Json> entry = OurEntry(options);
  if (!entry.ok()) return entry.status();
  InstallReport report;
  // The binary and the kubeconfig first: once our entry is in the
  // configuration, the runtime runs the plugin for the next pod.
  for (const std::string& dir : BinDirs(options)) {
    absl::Status s = InstallBinary(SelfBinary(options), dir, report);
    if (!s.ok()) return s;
  }
  absl::Status s = InstallKubeconfig(options, report);
  if (!s.ok()) return s;
  s = InstallConf(options, *entry, report);
  if (!s.ok()) return s;
  return report;
}

absl::StatusOr<InstallReport> Uninstall(const InstallOptions& options) {
  InstallReport report;
  int error = 0;
  std::vector<std::string> names = ListDir(options.conf_dir, &error);
  if (error != 0 && error != ENOENT) {
    return absl::NotFoundError(absl::StrCat("cannot read the CNI conf dir ",
                                            internal::Quote(options.conf_dir),
                                            ": ", Errno(error)));
  }
  std::sort(names.begin(), names.end());
  // Our entry first: from then on no pod is given to the plugin.
  for (const std::string& name : names) {
    if (!EndsWithConfExtension(name)) continue;
    const std::string path = options.conf_dir + "/" + name;
    const std::optional<std::string> text = ReadFile(path, kMaxConfBytes);
    if (!text.has_value()) continue;
    absl::StatusOr<std::optional<std::string>> without = WithoutOurEntry(*text);
    if (!without.ok() || !without->has_value()) continue;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;
    absl::Status s = WriteAtomically(options.conf_dir, name, **without,
                                     st.st_mode & 07777, &st);
    if (!s.ok()) return s;
    report.changed.push_back(path);
  }
  for (const std::string& dir : BinDirs(options)) {
    const std::string path = absl::StrCat(dir, "/", std::string(kPluginType));
    if (unlink(path.c_str()) == 0) {
      report.changed.push_back(path);
    } else if (errno != ENOENT) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot remove ", internal::Quote(path), ": ", Errno(errno)));
    }
  }
  const std::string kubeconfig = absl::StrCat(options.cni_agent_run_dir, "/",
                                              std::string(kKubeconfigName));
  if (unlink(kubeconfig.c_str()) == 0) {
    report.changed.push_back(kubeconfig);
  } else if (errno != ENOENT) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot remove ", internal::Quote(kubeconfig), ": ", Errno(errno)));
  }
  return report;
}

}  // namespace meshcap::cni
