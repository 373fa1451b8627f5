// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/kube_client.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/errno_status.h"
#include "src/json.h"
#include "src/text.h"
#include "src/unique_fd.h"
#include "yaml-cpp/yaml.h"

namespace meshcap::cni {
namespace {

using internal::Quote;

constexpr size_t kMaxKubeconfigBytes = 1 << 20;
constexpr size_t kMaxBodyBytes = 4 << 20;

// --- Files -------------------------------------------------------------------

// A regular file of at most `limit` bytes.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t limit,
                                          const char* what) {
  internal::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    return internal::ErrnoStatus(
        errno, absl::StrCat("cannot read the ", what, " ", Quote(path)),
        "meshcap-cni reads it as root");
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", Quote(path), " is not a regular file"));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return internal::ErrnoStatus(
          errno, absl::StrCat("cannot read the ", what, " ", Quote(path)));
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", what, " ", Quote(path), " is over ", limit, " bytes"));
    }
  }
  return out;
}

// --- libcurl, loaded on first use ------------------------------------------

struct Curl {
  decltype(&curl_global_init) global_init;
  decltype(&curl_easy_init) easy_init;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  decltype(&curl_easy_perform) easy_perform;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  decltype(&curl_easy_cleanup) easy_cleanup;
  decltype(&curl_easy_strerror) easy_strerror;
  decltype(&curl_slist_append) slist_append;
  decltype(&curl_slist_free_all) slist_free_all;
};

absl::StatusOr<const Curl*> LoadCurl() {
  static std::once_flag once;
  static Curl curl;
  static std::string error;
  std::call_once(once, [] {
    void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      error = absl::StrCat(
          "cannot load libcurl, which meshcap-cni needs to read pods from "
          "the Kubernetes API (Debian: libcurl4): ",
          dlerror());
      return;
    }
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(lib, name));
      if (fn == nullptr) {
        ok = false;
        error = absl::StrCat("libcurl.so.4 lacks ", name);
      }
    };
    sym(curl.global_init, "curl_global_init");
    sym(curl.easy_init, "curl_easy_init");
    sym(curl.easy_setopt, "curl_easy_setopt");
    sym(curl.easy_perform, "curl_easy_perform");
    sym(curl.easy_getinfo, "curl_easy_getinfo");
    sym(curl.easy_cleanup, "curl_easy_cleanup");
    sym(curl.easy_strerror, "curl_easy_strerror");
    sym(curl.slist_append, "curl_slist_append");
    sym(curl.slist_free_all, "curl_slist_free_all");
    if (ok && curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      ok = false;
      error = "libcurl's global initialisation failed";
    }
    if (!ok) curl.easy_init = nullptr;
  });
  if (curl.easy_init == nullptr) return absl::UnavailableError(error);
  return &curl;
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  const size_t bytes = size * n;
  if (body->size() + bytes > kMaxBodyBytes) return 0;  // aborts the transfer
  body->append(data, bytes);
  return bytes;
}

// One attempt: the HTTP status (0 when there was no answer) and libcurl's
// result.
struct Attempt {
  CURLcode result = CURLE_OK;
  long http = 0;
  std::string body;
  std::string error;
};

Attempt Perform(const Curl& c, const Kubeconfig& kc, const KubeClientOptions& o,
                const std::string& url) {
  Attempt a;
  CURL* h = c.easy_init();
  if (h == nullptr) {
    a.result = CURLE_FAILED_INIT;
    a.error = "libcurl could not start a request";
    return a;
  }
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  headers = c.slist_append(headers, "Accept: application/json");
  if (!kc.token.empty()) {
    headers = c.slist_append(
        headers, absl::StrCat("Authorization: Bearer ", kc.token).c_str());
  }
  c.easy_setopt(h, CURLOPT_URL, url.c_str());
  c.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  c.easy_setopt(h, CURLOPT_USERAGENT, "meshcap-cni");
  c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  c.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                static_cast<long>(o.connect_timeout.count()));
  c.easy_setopt(h, CURLOPT_TIMEOUT_MS,
                static_cast<long>(o.request_timeout.count()));
  c.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
  c.easy_setopt(h, CURLOPT_HTTP_VERSION,
                static_cast<long>(CURL_HTTP_VERSION_1_1));
  c.easy_setopt(h, CURLOPT_WRITEFUNCTION, &Collect);
  c.easy_setopt(h, CURLOPT_WRITEDATA, &a.body);
  if (kc.insecure_skip_tls_verify) {
    c.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    c.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!kc.ca_pem.empty()) {
    // Only the cluster's CA, as client-go trusts it: not the system's.
    curl_blob blob{const_cast<char*>(kc.ca_pem.data()), kc.ca_pem.size(),
                   CURL_BLOB_COPY};
    c.easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    c.easy_setopt(h, CURLOPT_CAINFO, static_cast<const char*>(nullptr));
    c.easy_setopt(h, CURLOPT_CAPATH, static_cast<const char*>(nullptr));
  }
  a.result = c.easy_perform(h);
  c.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.http);
  a.error = errbuf[0] != '\0' ? errbuf : c.easy_strerror(a.result);
  c.easy_cleanup(h);
  c.slist_free_all(headers);
  return a;
}

// Whether a failed attempt may succeed if tried again.
bool Transient(const Attempt& a) {
  if (a.result == CURLE_OK) {
    return a.http == 404 || a.http == 429 || a.http >= 500;
  }
  switch (a.result) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_COULDNT_RESOLVE_HOST:
      return true;
    default:
      return false;
  }
}

std::string Describe(const Attempt& a) {
  if (a.result != CURLE_OK) return internal::Escape(a.error);
  std::string what = absl::StrCat("HTTP ", a.http);
  // A Kubernetes Status object's message, when the body is one.
  absl::StatusOr<internal::Json> status =
      internal::ParseJson(a.body, {.max_bytes = 64 << 10, .max_depth = 16});
  if (status.ok()) {
    if (std::optional<std::string> m =
            internal::GetString(*status, "message")) {
      if (m->size() > 200) m->resize(200);
      absl::StrAppend(&what, ": ", internal::Escape(*m));
    }
  }
  return what;
}

std::string PathEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// --- Kubeconfig
// ---------------------------------------------------------------

// The entry of `list` (clusters, users, contexts) named `name`.
YAML::Node Named(const YAML::Node& root, const char* list,
                 const std::string& name, const char* inner) {
  const YAML::Node entries = root[list];
  if (!entries || !entries.IsSequence()) return YAML::Node();
  for (const YAML::Node& e : entries) {
    if (e.IsMap() && e["name"] && e["name"].IsScalar() &&
        e["name"].as<std::string>() == name && e[inner] && e[inner].IsMap()) {
      return e[inner];
    }
  }
  return YAML::Node();
}

std::string Scalar(const YAML::Node& map, const char* key) {
  const YAML::Node v = map[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string();
}

std::string Resolve(const std::string& kubeconfig, const std::string& file) {
  if (file.empty() || file[0] == '/') return file;
  const size_t slash = kubeconfig.rfind('/');
  return slash == std::string::npos ? file
                                    : kubeconfig.substr(0, slash + 1) + file;
}

}  // namespace

absl::StatusOr<Kubeconfig> Kubeconfig::Load(const std::string& path) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(path, kMaxKubeconfigBytes, "kubeconfig");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<Kubeconfig> Kubeconfig::Parse(std::string_view yaml,
                                             const std::string& path) {
  Kubeconfig kc;
  kc.path = path;
  const std::string where = absl::StrCat("kubeconfig ", Quote(path));
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
  };
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const std::exception& e) {
    return bad(absl::StrCat("not valid YAML: ", internal::Escape(e.what())));
  }
  try {
    if (!root.IsMap()) return bad("not a kubeconfig (not a mapping)");
    const std::string context_name = Scalar(root, "current-context");
    if (context_name.empty()) return bad("no current-context");
    const YAML::Node context = Named(root, "contexts", context_name, "context");
    if (!context) {
      return bad(absl::StrCat("no context named ", Quote(context_name)));
    }
    const std::string cluster_name = Scalar(context, "cluster");
    const std::string user_name = Scalar(context, "user");
    const YAML::Node cluster = Named(root, "clusters", cluster_name, "cluster");
    if (!cluster) {
      return bad(absl::StrCat("no cluster named ", Quote(cluster_name)));
    }
    kc.server = Scalar(cluster, "server");
    if (kc.server.rfind("https://", 0) != 0 &&
        kc.server.rfind("http://", 0) != 0) {
      return bad(absl::StrCat("cluster ", Quote(cluster_name),
                              " has no https:// server: ", Quote(kc.server)));
    }
    while (!kc.server.empty() && kc.server.back() == '/') kc.server.pop_back();
    // istio-cni's installer writes "https://[10.96.0.1]:443", brackets even
    // around an IPv4 address; Go accepts that, libcurl does not.
    if (const size_t open = kc.server.find("://["); open != std::string::npos) {
      const size_t close = kc.server.find(']', open);
      if (close != std::string::npos &&
          kc.server.substr(open + 4, close - open - 4).find(':') ==
              std::string::npos) {
        kc.server.erase(close, 1);
        kc.server.erase(open + 3, 1);
      }
    }
    kc.insecure_skip_tls_verify =
        internal::ParseGoBool(Scalar(cluster, "insecure-skip-tls-verify"))
            .value_or(false);
    if (const std::string data = Scalar(cluster, "certificate-authority-data");
        !data.empty()) {
      if (!absl::Base64Unescape(data, &kc.ca_pem)) {
        return bad("certificate-authority-data is not base64");
      }
    } else if (const std::string file =
                   Scalar(cluster, "certificate-authority");
               !file.empty()) {
      absl::StatusOr<std::string> pem = ReadSmallFile(
          Resolve(path, file), kMaxKubeconfigBytes, "certificate authority");
      if (!pem.ok()) return pem.status();
      kc.ca_pem = *std::move(pem);
    }
    if (kc.server.rfind("https://", 0) == 0 && kc.ca_pem.empty() &&
        !kc.insecure_skip_tls_verify) {
      return bad(absl::StrCat(
          "cluster ", Quote(cluster_name),
          " has neither certificate-authority-data nor certificate-authority "
          "(nor insecure-skip-tls-verify: true)"));
    }
    const YAML::Node user = Named(root, "users", user_name, "user");
    if (!user) return bad(absl::StrCat("no user named ", Quote(user_name)));
    kc.token = Scalar(user, "token");
    if (kc.token.empty()) {
      if (const std::string file = Scalar(user, "tokenFile"); !file.empty()) {
        absl::StatusOr<std::string> token =
            ReadSmallFile(Resolve(path, file), 64 << 10, "token file");
        if (!token.ok()) return token.status();
        kc.token = *std::move(token);
        while (!kc.token.empty() &&
               isspace(static_cast<unsigned char>(kc.token.back()))) {
          kc.token.pop_back();
        }
      }
    }
    if (kc.token.empty()) {
      return bad(absl::StrCat("user ", Quote(user_name),
                              " has no token or tokenFile (meshcap-cni "
                              "authenticates with a bearer token)"));
    }
    if (kc.token.find_first_of("\r\n") != std::string::npos) {
      return bad("the token holds a line break");
    }
  } catch (const std::exception& e) {
    return bad(internal::Escape(e.what()));
  }
  return kc;
}

KubeClient::KubeClient(Kubeconfig config, KubeClientOptions options)
    : config_(std::move(config)), options_(options) {}

absl::StatusOr<std::string> KubeClient::Get(std::string_view path) const {
  absl::StatusOr<const Curl*> curl = LoadCurl();
  if (!curl.ok()) return curl.status();
  const std::string url = absl::StrCat(config_.server, internal::ToAbsl(path));
  const auto start = std::chrono::steady_clock::now();
  auto wait = std::chrono::milliseconds(100);
  int tries = 0;
  for (;;) {
    Attempt a = Perform(**curl, config_, options_, url);
    ++tries;
    if (a.result == CURLE_OK && a.http == 200) return std::move(a.body);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const std::string what = absl::StrCat(
        "GET ", url, ": ", Describe(a),
        tries > 1
            ? absl::StrFormat(" (after %d tries in %.1f s)", tries,
                              std::chrono::duration<double>(elapsed).count())
            : "");
    if (!Transient(a) || elapsed + wait > options_.budget) {
      if (a.result == CURLE_OK && a.http == 404) {
        return absl::NotFoundError(what);
      }
      if (a.result == CURLE_OK && (a.http == 401 || a.http == 403)) {
        return absl::PermissionDeniedError(what);
      }
      if (a.result == CURLE_PEER_FAILED_VERIFICATION ||
          a.result == CURLE_SSL_CACERT_BADFILE ||
          a.result == CURLE_SSL_CONNECT_ERROR) {
        return absl::FailedPreconditionError(what);
      }
      if (Transient(a)) return absl::DeadlineExceededError(what);
      return absl::UnavailableError(what);
    }
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(1000));
  }
}

std::string PodPath(std::string_view ns, std::string_view name) {
  return absl::StrCat("/api/v1/namespaces/", PathEscape(ns), "/pods/",
                      PathEscape(name));
}

std::string NamespacePath(std::string_view ns) {
  return absl::StrCat("/api/v1/namespaces/", PathEscape(ns));
}

}  // namespace meshcap::cni
