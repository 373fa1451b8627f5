// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap, and istio-iptables when run under that name.

#include <signal.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "meshcap/engine.h"
#include "meshcap/explain.h"
#include "meshcap/render.h"
#include "meshcap/validate.h"
#include "src/cli/flags.h"
#include "src/text.h"

namespace {

// Errors are exactly one printable line on stderr; the exit status tells
// the kind (meshcap::cli::ExitCode).
int Fail(const std::string& prog, const absl::Status& s) {
  std::fprintf(
      stderr, "%s: %s\n", prog.c_str(),
      meshcap::internal::PrintableLine(std::string(s.message())).c_str());
  return meshcap::cli::ExitCode(s);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::StatusOr<std::unique_ptr<meshcap::Engine>> MakeEngine(
    const std::string& backend, const std::string& netns,
    std::chrono::milliseconds lock_timeout) {
  meshcap::EngineOptions options;
  options.backend = backend;
  options.netns_path = netns;
  options.lock_timeout = lock_timeout;
  return meshcap::Engine::Create(options);
}

void PrintChanges(const std::string& prog, const char* verb,
                  const meshcap::ApplyResult& r, std::string_view backend) {
  if (!r.changed()) {
    std::printf("%s: unchanged: %s (%s)\n", prog.c_str(),
                std::string_view(verb) == "applied"
                    ? "the kernel already holds exactly the policy"
                    : "nothing of ours to remove",
                std::string(backend).c_str());
    return;
  }
  std::printf("%s: %s (%s):\n", prog.c_str(), verb,
              std::string(backend).c_str());
  for (const std::string& c : r.changes) std::printf("  %s\n", c.c_str());
}

int Apply(const std::string& prog, const std::string& backend,
          const std::string& netns, std::chrono::milliseconds lock_timeout,
          const meshcap::CapturePolicy& policy) {
  auto engine = MakeEngine(backend, netns, lock_timeout);
  if (!engine.ok()) return Fail(prog, engine.status());
  absl::StatusOr<meshcap::ApplyResult> r = (*engine)->Apply(policy);
  if (!r.ok()) return Fail(prog, r.status());
  PrintChanges(prog, "applied", *r, (*engine)->backend_name());
  return 0;
}

int Clean(const std::string& prog, const std::string& backend,
          const std::string& netns, std::chrono::milliseconds lock_timeout) {
  // An Engine removes ours from every backend, so under "auto" any backend
  // this kernel serves will do: $MESHCAP_BACKEND is not read, and clean
  // works whatever the environment says.
  std::vector<std::string> candidates = {backend};
  if (backend == "auto" && !meshcap::AvailableBackends().empty()) {
    candidates = meshcap::AvailableBackends();
  }
  auto engine = MakeEngine(candidates.front(), netns, lock_timeout);
  for (size_t i = 1;
       i < candidates.size() && absl::IsUnavailable(engine.status()); ++i) {
    engine = MakeEngine(candidates[i], netns, lock_timeout);
  }
  if (!engine.ok()) return Fail(prog, engine.status());
  absl::StatusOr<meshcap::ApplyResult> r = (*engine)->Remove();
  if (!r.ok()) return Fail(prog, r.status());
  PrintChanges(prog, "removed", *r, (*engine)->backend_name());
  return 0;
}

int Verify(const std::string& prog, const std::string& backend,
           const std::string& netns, std::chrono::milliseconds lock_timeout,
           const meshcap::CapturePolicy& policy) {
  auto engine = MakeEngine(backend, netns, lock_timeout);
  if (!engine.ok()) return Fail(prog, engine.status());
  absl::StatusOr<meshcap::VerifyReport> report = (*engine)->Verify(policy);
  if (!report.ok()) return Fail(prog, report.status());
  const std::string name((*engine)->backend_name());
  if (report->matches()) {
    std::printf("%s: the kernel holds exactly the policy's capture (%s)\n",
                prog.c_str(), name.c_str());
    return 0;
  }
  std::printf("%s: %zu difference(s) between the kernel and the policy (%s):\n",
              prog.c_str(), report->differences.size(), name.c_str());
  // Differences quote what the kernel holds, which anybody may have put
  // there: each line is escaped to printable text.
  for (const meshcap::Difference& d : report->differences) {
    for (const std::string& line :
         std::vector<std::string>(absl::StrSplit(d.ToString(), '\n'))) {
      std::printf("  %s\n", meshcap::internal::PrintableLine(line).c_str());
    }
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
    return Fail(prog, absl::InvalidArgumentError(
                          "--iptables-probe-port: " +
                          meshcap::internal::Quote(inv.probe_port) +
                          " is not a port number"));
  }
  o.probe_port = static_cast<uint16_t>(*port);
  absl::StatusOr<std::chrono::milliseconds> timeout =
      meshcap::cli::ParseDuration(inv.probe_timeout);
  if (!timeout.ok()) {
    return Fail(prog, absl::InvalidArgumentError(
                          "--probe-timeout: " +
                          std::string(timeout.status().message())));
  }
  o.timeout = *timeout;
  absl::Status s = meshcap::ValidateCapture(o);
  if (!s.ok()) {
    const int code = Fail(prog, s);
    // Istio's istio-iptables exits 126 for every validation failure;
    // meshcap validate only when the probe was not captured, and otherwise
    // says why it could not tell (no permission, bad input, ...).
    if (inv.command == "validate" && !absl::IsDeadlineExceeded(s)) return code;
    return 126;
  }
  std::printf("%s: validation passed: 127.0.0.6:%u was captured\n",
              prog.c_str(), static_cast<unsigned>(o.probe_port));
  return 0;
}

// watch: the signal that ended the current Watch (0: none yet).
volatile sig_atomic_t g_signal = 0;
meshcap::Engine* g_watching = nullptr;

void OnWatchSignal(int sig) {
  g_signal = sig;
  if (g_watching != nullptr) g_watching->StopWatch();
}

void Log(const std::string& prog, const std::string& line) {
  std::fprintf(stderr, "%s %s: %s\n", meshcap::internal::UtcTimestamp().c_str(),
               prog.c_str(), meshcap::internal::PrintableLine(line).c_str());
  std::fflush(stderr);
}

// Applies, then holds the capture until SIGTERM or SIGINT (exit 0, the
// capture left in place). SIGHUP re-reads the policy (the command line is
// parsed again, so a --policy file is read again); a policy that no longer
// builds is logged and the old one kept.
int Watch(const std::string& prog, const std::vector<std::string>& args,
          const meshcap::cli::Invocation& inv, meshcap::CapturePolicy policy) {
  auto engine = MakeEngine(inv.backend, inv.netns, inv.lock_timeout);
  if (!engine.ok()) return Fail(prog, engine.status());
  g_watching = engine->get();
  struct sigaction sa {};
  sa.sa_handler = OnWatchSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  meshcap::WatchOptions options;
  options.interval = inv.interval;
  auto on_event = [&](const meshcap::WatchEvent& e) { Log(prog, e.message); };
  for (;;) {
    g_signal = 0;
    absl::Status s = (*engine)->Watch(policy, options, on_event);
    if (!s.ok()) return Fail(prog, s);
    if (g_signal != SIGHUP) {
      Log(prog, absl::StrCat("signal ", static_cast<int>(g_signal),
                             ": stopped; the capture stays"));
      return 0;
    }
    absl::StatusOr<meshcap::cli::Invocation> again =
        meshcap::cli::ParseCommandLine(args, meshcap::cli::Mode::kMeshcap,
                                       meshcap::cli::Environment::System());
    absl::StatusOr<meshcap::CapturePolicy> next =
        again.ok() ? meshcap::cli::BuildPolicy(*again)
                   : absl::StatusOr<meshcap::CapturePolicy>(again.status());
    if (!next.ok()) {
      Log(prog,
          absl::StrCat("SIGHUP: the policy is not valid (",
                       next.status().message(), "); keeping the one in place"));
      continue;
    }
    Log(prog, "SIGHUP: policy re-read");
    policy = *std::move(next);
  }
}

int Print(const std::string& prog, const meshcap::CapturePolicy& policy,
          const std::string& backend) {
  absl::StatusOr<std::string> text = meshcap::Render(policy, backend);
  if (!text.ok()) return Fail(prog, text.status());
  std::fputs(text->c_str(), stdout);
  return 0;
}

// explain: the path and verdict of one packet; exit 0 whatever the verdict.
int ExplainPacket(const std::string& prog, const meshcap::cli::Invocation& inv,
                  const meshcap::CapturePolicy& policy) {
  meshcap::Packet::Flags f;
  f.proto = inv.proto;
  f.src = inv.src;
  f.dst = inv.dst;
  f.uid = inv.uid;
  f.gid = inv.gid;
  f.oif = inv.oif;
  f.iif = inv.iif;
  f.mark = inv.mark;
  f.connmark = inv.connmark;
  f.ct_state = inv.ct_state;
  absl::StatusOr<meshcap::Packet> packet = meshcap::Packet::FromFlags(f);
  if (!packet.ok()) return Fail(prog, packet.status());
  absl::StatusOr<meshcap::Explanation> e =
      meshcap::Explain(policy, *packet, inv.backend);
  if (!e.ok()) return Fail(prog, e.status());
  const std::string out = inv.json ? e->ToJson() + "\n" : e->ToText();
  std::fputs(out.c_str(), stdout);
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
  if (inv->command == "clean")
    return Clean(prog, inv->backend, inv->netns, inv->lock_timeout);

  // istio-iptables: Istio's choices of backend: --native-nftables, else
  // --force-iptables-binary, else its detection (iptables-legacy when the
  // legacy nat table already holds rules, else iptables-nft).
  std::string istio_backend = "iptables";
  if (mode == meshcap::cli::Mode::kIstioIptables) {
    if (inv->native_nftables) {
      istio_backend = "nftables";
    } else if (inv->force_iptables_binary == "legacy") {
      istio_backend = "iptables-legacy";
    } else if (inv->force_iptables_binary == "nft") {
      istio_backend = "iptables-nft";
    }
    if (inv->cleanup_only) {
      return Clean(prog, istio_backend, inv->network_namespace,
                   inv->lock_timeout);
    }
  }

  absl::StatusOr<meshcap::CapturePolicy> policy =
      meshcap::cli::BuildPolicy(*inv);
  if (!policy.ok()) return Fail(prog, policy.status());

  if (inv->command == "render") return Print(prog, *policy, inv->backend);
  if (inv->command == "explain") return ExplainPacket(prog, *inv, *policy);
  if (inv->command == "validate") {
    return RunValidation(prog, *inv, *policy, inv->netns);
  }
  if (inv->command == "apply") {
    return Apply(prog, inv->backend, inv->netns, inv->lock_timeout, *policy);
  }
  if (inv->command == "verify") {
    return Verify(prog, inv->backend, inv->netns, inv->lock_timeout, *policy);
  }
  if (inv->command == "watch") return Watch(prog, args, *inv, *policy);
  // istio-iptables
  if (inv->run_validation) {
    return RunValidation(prog, *inv, *policy, inv->network_namespace);
  }
  if (inv->skip_rule_apply) return 0;
  if (inv->dry_run) {
    return Print(prog, *policy, inv->native_nftables ? "nftables" : "iptables");
  }
  return Apply(prog, istio_backend, inv->network_namespace, inv->lock_timeout,
               *policy);
}
