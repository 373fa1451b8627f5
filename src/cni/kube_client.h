// SPDX-License-Identifier: GPL-2.0-or-later
// Reading pods and namespaces from the Kubernetes API, as istio-cni does:
// the kubeconfig istio-cni's installer writes (yaml-cpp), GET over HTTPS
// with the cluster's CA and a bearer token (libcurl), bounded time-outs and
// retries.
//
// libcurl is loaded (dlopen) on the first request, not at start-up: with
// its thirty-odd dependencies it costs a process about 3.5 ms to load on
// the machine of README "Performance", more than the rest of an ADD, and
// an ADD that decides from the runtime's annotations never needs it.
//
//   absl::StatusOr<Kubeconfig> kc = Kubeconfig::Load(path);
//   KubeClient client(*kc, {.budget = std::chrono::seconds(10)});
//   absl::StatusOr<std::string> pod = client.Get(PodPath("ns", "name"));
//
// Errors are absl::Status: kInvalidArgument (a kubeconfig that says
// nothing usable, naming the field), kNotFound (404 after retrying),
// kPermissionDenied (401, 403), kFailedPrecondition (TLS: the server's
// certificate does not verify against the CA), kUnavailable (cannot
// connect, 5xx, 429, libcurl missing), kDeadlineExceeded (the budget ran
// out). Each message names the URL.

#ifndef MESHCAP_SRC_CNI_KUBE_CLIENT_H_
#define MESHCAP_SRC_CNI_KUBE_CLIENT_H_

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace meshcap::cni {

// The parts of a kubeconfig a client needs: its current context's cluster
// and user.
struct Kubeconfig {
  std::string path;    // where it was read, for messages
  std::string server;  // "https://10.96.0.1:443"
  // The CA, PEM: from certificate-authority-data, or read from
  // certificate-authority (relative to the kubeconfig's directory).
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // The bearer token: `token`, or the contents of `tokenFile`.
  std::string token;

  // Reads and checks the kubeconfig at `path` (at most 1 MiB).
  [[nodiscard]] static absl::StatusOr<Kubeconfig> Load(const std::string& path);
  // Parses a kubeconfig's text; relative file names are taken from `dir`.
  [[nodiscard]] static absl::StatusOr<Kubeconfig> Parse(
      std::string_view yaml, const std::string& path);
};

struct KubeClientOptions {
  // Each attempt: connecting, and the whole request.
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{3000};
  // Retries (of refused or timed-out connections, 404, 429 and 5xx) stop
  // when the next would start after this much time since the first try. A
  // request started before that may still take request_timeout, so the
  // worst case of Get is budget + request_timeout.
  std::chrono::milliseconds budget{10000};
};

class KubeClient {
 public:
  KubeClient(Kubeconfig config, KubeClientOptions options);

  // GETs `path` ("/api/v1/namespaces/NS/pods/NAME") and returns the body
  // of a 200 answer (at most 4 MiB).
  [[nodiscard]] absl::StatusOr<std::string> Get(std::string_view path) const;

  const Kubeconfig& config() const { return config_; }

 private:
  Kubeconfig config_;
  KubeClientOptions options_;
};

// "/api/v1/namespaces/<ns>/pods/<name>" and "/api/v1/namespaces/<ns>",
// the names percent-encoded (they come from CNI_ARGS).
std::string PodPath(std::string_view ns, std::string_view name);
std::string NamespacePath(std::string_view ns);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_KUBE_CLIENT_H_
