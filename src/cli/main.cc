// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap, and istio-iptables when run under that name.

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "meshcap/compile.h"
#include "meshcap/engine.h"
#include "meshcap/render.h"
#include "meshcap/validate.h"
#include "src/cli/flags.h"
#include "src/text.h"

namespace {

int Fail(const std::string& prog, const absl::Status& s) {
  std::fprintf(stderr, "%s: %s\n", prog.c_str(),
               std::string(s.message()).c_str());
  return 1;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// apply, verify, clean against the kernel.
int RunKernelCommand(const std::string& prog, const std::string& command,
                     const std::string& backend, const std::string& netns,
                     const meshcap::RuleSet& rules) {
  meshcap::EngineOptions options;
  options.backend = backend;
  options.netns_path = netns;
  absl::StatusOr<std::unique_ptr<meshcap::Engine>> engine =
      meshcap::Engine::Create(options);
  if (!engine.ok()) return Fail(prog, engine.status());
  if (command == "apply") {
    absl::Status s = (*engine)->Apply(rules);
    return s.ok() ? 0 : Fail(prog, s);
  }
  if (command == "clean") {
    absl::Status s = (*engine)->Remove();
    return s.ok() ? 0 : Fail(prog, s);
  }
  absl::StatusOr<meshcap::VerifyReport> report = (*engine)->Verify(rules);
  if (!report.ok()) return Fail(prog, report.status());
  if (report->matches()) {
    std::printf("%s: the kernel holds exactly the policy's rules (%s)\n",
                prog.c_str(), std::string((*engine)->backend_name()).c_str());
    return 0;
  }
  std::printf("%s: %zu difference(s) between the kernel and the policy (%s):\n",
              prog.c_str(), report->differences.size(),
              std::string((*engine)->backend_name()).c_str());
  for (const meshcap::Difference& d : report->differences) {
    std::printf("  %s\n", d.ToString().c_str());
  }
  return 1;
}

// Istio's validation probe; exit 126 when the traffic is not captured.
int RunValidation(const std::string& prog, const meshcap::cli::Invocation& inv,
                  const meshcap::CapturePolicy& policy,
                  const std::string& netns) {
  meshcap::ValidateOptions o;
  o.netns_path = netns;
  o.outbound_port = policy.proxy_port();
  o.inbound_port = policy.inbound_capture_port();
  if (!policy.proxy_uids().empty()) o.uid = policy.proxy_uids().front();
  if (!policy.proxy_gids().empty()) o.gid = policy.proxy_gids().front();
  const auto port = meshcap::internal::ParseDecimal(inv.probe_port, 1, 65535);
  if (!port.has_value()) {
    return Fail(prog,
                absl::InvalidArgumentError("--iptables-probe-port: '" +
                                           inv.probe_port + "' is not a port"));
  }
  o.probe_port = static_cast<uint16_t>(*port);
  absl::StatusOr<std::chrono::milliseconds> timeout =
      meshcap::cli::ParseDuration(inv.probe_timeout);
  if (!timeout.ok()) return Fail(prog, timeout.status());
  o.timeout = *timeout;
  absl::Status s = meshcap::ValidateCapture(o);
  if (!s.ok()) {
    Fail(prog, s);
    return 126;
  }
  std::printf("%s: validation passed: 127.0.0.6:%u was captured\n",
              prog.c_str(), static_cast<unsigned>(o.probe_port));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  const std::string prog = BaseName(args.empty() ? "meshcap" : args[0]);
  const meshcap::cli::Mode mode = prog == "istio-iptables"
                                      ? meshcap::cli::Mode::kIstioIptables
                                      : meshcap::cli::Mode::kMeshcap;
  absl::StatusOr<meshcap::cli::Invocation> inv = meshcap::cli::ParseCommandLine(
      args, mode, meshcap::cli::Environment::System());
  if (!inv.ok()) return Fail(prog, inv.status());
  if (!inv->early_output.empty()) {
    std::fputs(inv->early_output.c_str(), stdout);
    return 0;
  }
  absl::StatusOr<meshcap::CapturePolicy> policy =
      meshcap::cli::BuildPolicy(*inv);
  if (!policy.ok()) return Fail(prog, policy.status());
  meshcap::RuleSet rules = meshcap::Compile(*policy);

  if (inv->command == "render") {
    std::string text = inv->backend == "nftables"
                           ? meshcap::RenderNftables(rules)
                           : meshcap::RenderIptablesRestore(rules);
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  if (inv->command == "validate") {
    return RunValidation(prog, *inv, *policy, inv->netns);
  }
  if (inv->command != "istio-iptables") {
    return RunKernelCommand(prog, inv->command, inv->backend, inv->netns,
                            rules);
  }
  // istio-iptables
  if (inv->run_validation) {
    return RunValidation(prog, *inv, *policy, inv->network_namespace);
  }
  if (inv->skip_rule_apply) return 0;
  if (inv->dry_run) {
    std::string text = inv->native_nftables
                           ? meshcap::RenderNftables(rules)
                           : meshcap::RenderIptablesRestore(rules);
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  // Istio's choices: --native-nftables, else --force-iptables-binary, else
  // detection (legacy when its nat table already holds rules).
  std::string backend = "auto";
  if (inv->native_nftables) {
    backend = "nftables";
  } else if (inv->force_iptables_binary == "legacy") {
    backend = "iptables-legacy";
  } else if (inv->force_iptables_binary == "nft") {
    return Fail(prog, absl::UnimplementedError(
                          "--force-iptables-binary=nft: meshcap has no "
                          "iptables-nft backend; use --native-nftables for "
                          "nftables, or legacy"));
  }
  return RunKernelCommand(prog, inv->cleanup_only ? "clean" : "apply", backend,
                          inv->network_namespace, rules);
}
