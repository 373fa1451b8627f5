// SPDX-License-Identifier: GPL-2.0-or-later
//
// The meshcap command line: istio-iptables' flags and environment variables
// mapped onto a PolicyBuilder with Istio's precedence (default < primary env
// < additional env < flag), from the knob table (`PolicyKnobs()`), plus
// meshcap's own options. Kept apart from main() so that tests can drive it
// with a fake environment.

#ifndef MESHCAP_SRC_CLI_FLAGS_H_
#define MESHCAP_SRC_CLI_FLAGS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "meshcap/istio_environment.h"
#include "meshcap/policy.h"

namespace meshcap::cli {

// The largest --policy file read.
inline constexpr size_t kMaxPolicyFileBytes = 1 << 20;

// What the process can see of its surroundings (Istio's environment, and
// the files it reads); injectable for tests.
using Environment = ::meshcap::IstioEnvironment;

enum class Mode { kMeshcap, kIstioIptables };

struct Invocation {
  // "render", "apply", "verify", "clean", "validate", "watch", "explain"
  // (meshcap), or
  // "istio-iptables" for the drop-in name. Empty when only --help or
  // --version was asked for.
  std::string command;
  // render: a backend name; apply, verify, clean: also "auto".
  std::string backend = "auto";
  // apply, verify, clean, validate: the target network namespace file.
  std::string netns;
  // apply, verify, clean: how long to wait for the namespace's lock.
  std::chrono::milliseconds lock_timeout = std::chrono::seconds(30);
  // watch: how often to verify without a kernel event.
  std::chrono::milliseconds interval = std::chrono::seconds(1);
  // Text for --help / --version, already complete; print and exit 0.
  std::string early_output;

  // istio-iptables options that are not part of the capture policy.
  bool dry_run = false;
  bool skip_rule_apply = false;
  bool run_validation = false;
  bool cleanup_only = false;
  bool reconcile = false;
  bool force_apply = false;
  bool native_nftables = false;
  bool cni_mode = false;
  std::string force_iptables_binary;
  std::string network_namespace;
  std::string probe_port = "15002";
  std::string probe_timeout = "5s";

  // explain: the packet, as given (meshcap::Packet::FromFlags reads it).
  std::string proto, src, dst, uid, gid, oif, iif, mark, connmark, ct_state;
  bool json = false;

  // Whether the command needs a policy (clean and --cleanup-only do not:
  // they remove whatever is ours, whatever the flags and environment say).
  bool needs_policy = true;
  // The policy's knobs, set from flags, environment and --policy; not
  // built yet (empty for commands that need no policy).
  PolicyBuilder builder;
};

// Parses `args` (args[0] is the program name). In kIstioIptables mode the
// flags stand alone, exactly as istio-iptables takes them; in kMeshcap mode
// a subcommand comes first. Errors are kInvalidArgument naming the flag and
// its value (or the file and key).
[[nodiscard]] absl::StatusOr<Invocation> ParseCommandLine(
    const std::vector<std::string>& args, Mode mode, const Environment& env);

// The exit status for an error, by its code, so that scripts can tell "the
// kernel differs" (verify: 1) from "could not tell":
//   2  bad input: InvalidArgument, OutOfRange, NotFound, AlreadyExists,
//      FailedPrecondition, Unimplemented
//   3  no permission: PermissionDenied
//   4  unavailable: a kernel feature is missing (Unavailable), or the
//      namespace's lock is held elsewhere past the timeout (DeadlineExceeded)
//   5  anything else (Internal, ResourceExhausted, Aborted, ...)
// validate keeps Istio's 126 for "not captured".
int ExitCode(const absl::Status& status);

inline constexpr char kExitCodeHelp[] =
    "Exit status: 0 done; 1 verify found differences; 2 bad input; 3 no "
    "permission;\n4 unavailable (a kernel feature is missing, or the "
    "namespace's lock is held\nelsewhere); 5 other errors; validate: 126 "
    "when traffic is not captured.\n";

[[nodiscard]] absl::StatusOr<std::chrono::milliseconds> ParseDuration(
    std::string_view s);

// Parses and builds the policy: the usual path.
[[nodiscard]] absl::StatusOr<CapturePolicy> BuildPolicy(const Invocation& inv);

// The usage text of `mode` (and of `command` in kMeshcap mode).
std::string Usage(Mode mode, std::string_view command);

}  // namespace meshcap::cli

#endif  // MESHCAP_SRC_CLI_FLAGS_H_
