// SPDX-License-Identifier: GPL-2.0-or-later
// `meshcap-cni install` and `uninstall`: what istio-cni's installer does on
// a node, run by a DaemonSet with the host's CNI directories mounted.
//
//   Install: copies this binary into each bin dir; writes the kubeconfig
//   istio-cni's installer writes (<cni_agent_run_dir>/istio-cni-kubeconfig,
//   0600) from the service account's token and CA and
//   KUBERNETES_SERVICE_HOST/PORT; and appends our entry last to the
//   highest-priority network configuration in the conf dir (the first
//   loadable file in lexical order, as libcni and the runtimes take it).
//   A .conflist keeps every other key and plugin, their order and its file
//   mode; a single-plugin .conf becomes <name>.conflist, that plugin first
//   and ours last, and the .conf is removed. Every write goes to a
//   temporary file in the same directory and is renamed into place; a file
//   that already says what it should is not touched, so a second install
//   changes no byte.
//
//   Uninstall: takes our entry out of every configuration in the conf dir,
//   removes our binary from each bin dir and the kubeconfig, and leaves
//   the rest as it was.
//
// The pure parts (which file, the new text, the kubeconfig's text) are
// separate functions, tested without a filesystem.

#ifndef MESHCAP_SRC_CNI_INSTALL_H_
#define MESHCAP_SRC_CNI_INSTALL_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/json.h"

namespace meshcap::cni {

inline constexpr std::string_view kPluginType = "meshcap-cni";
inline constexpr std::string_view kKubeconfigName = "istio-cni-kubeconfig";

struct InstallOptions {
  std::string conf_dir = "/etc/cni/net.d";
  std::vector<std::string> bin_dirs;  // none given: /opt/cni/bin
  std::string service_account_dir =
      "/var/run/secrets/kubernetes.io/serviceaccount";
  std::string cni_agent_run_dir = "/var/run/istio-cni";
  // The binary to copy; empty: this process's own (/proc/self/exe).
  std::string binary;
  // Our entry's keys beside "type" (the ConfigMap's --plugin-config), an
  // object; cni_agent_run_dir is added when it does not say.
  internal::Json plugin_config = internal::Json::object();
  // KUBERNETES_SERVICE_HOST, _PORT and _PROTOCOL (default https). With
  // no host, no kubeconfig is written (not in a cluster).
  std::string kube_host;
  std::string kube_port = "443";
  std::string kube_protocol = "https";
};

// What an install or uninstall did: each path written or removed, and
// what it found worth saying (a missing primary configuration, ...).
struct InstallReport {
  std::vector<std::string> changed;
  std::vector<std::string> notes;
};

// The file name (in `names`, the conf dir's entries) that a runtime loads
// first: the first name ending .conf, .conflist or .json, in lexical order,
// whose text `read` gives and which parses as a network configuration (a
// .conflist with a non-empty plugins array, else an object with a type).
// nullopt: none.
std::optional<std::string> PrimaryConfFile(
    std::vector<std::string> names,
    const std::function<std::optional<std::string>(const std::string&)>& read);

// The text the primary configuration `name` should hold with `entry` last,
// and the name it should have (a .conf becomes .conflist). nullopt when
// `text` already holds exactly that (our entry, once, last). Any earlier
// entry of ours is taken out.
struct ConfEdit {
  std::string name;
  std::string text;
};
absl::StatusOr<std::optional<ConfEdit>> WithOurEntry(
    std::string_view name, std::string_view text, const internal::Json& entry);

// `text` without any entry of ours, or nullopt when it holds none.
absl::StatusOr<std::optional<std::string>> WithoutOurEntry(
    std::string_view text);

// The kubeconfig istio-cni's installer writes: one cluster `local` at
// PROTOCOL://[HOST]:PORT with the CA inline, one user with the token, one
// context, current.
std::string KubeconfigText(std::string_view protocol, std::string_view host,
                           std::string_view port, std::string_view ca_pem,
                           std::string_view token);

// Our entry: {"type": "meshcap-cni", ...plugin_config}, checked the way
// the plugin will read it (a ConfigMap with an unknown key fails the
// install, not every pod).
absl::StatusOr<internal::Json> OurEntry(const InstallOptions& options);

absl::StatusOr<InstallReport> Install(const InstallOptions& options);
absl::StatusOr<InstallReport> Uninstall(const InstallOptions& options);

// The command line: `meshcap-cni install|uninstall [flags]` (argv[0] is
// the program). Returns the exit status; writes to stdout and stderr.
int RunInstallCommand(int argc, char** argv);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_INSTALL_H_
