// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap, and istio-iptables when run under that name.

#include <cstdio>
#include <string>
#include <vector>

#include "meshcap/compile.h"
#include "meshcap/render.h"
#include "src/cli/flags.h"

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
  // istio-iptables
  if (inv->skip_rule_apply) return 0;
  if (inv->dry_run) {
    std::string text = inv->native_nftables
                           ? meshcap::RenderNftables(rules)
                           : meshcap::RenderIptablesRestore(rules);
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  return Fail(prog, absl::UnimplementedError(
                        "applying rules needs a kernel backend, and this "
                        "build of meshcap has none yet; use --dry-run"));
}
