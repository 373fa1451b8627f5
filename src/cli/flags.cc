// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cli/flags.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meshcap/engine.h"
#include "meshcap/istio_environment.h"
#include "meshcap/net.h"
#include "meshcap/policy_json.h"
#include "meshcap/version.h"
#include "src/errno_status.h"
#include "src/status_macros.h"
#include "src/text.h"
#include "src/unique_fd.h"

namespace meshcap::cli {
namespace {

using internal::Quote;

// What a flag does.
enum class Kind : uint8_t {
  kKnob,         // a policy knob (PolicyKnobs())
  kBackend,      // --backend
  kNetns,        // --netns
  kLockTimeout,  // --lock-timeout
  kInterval,     // --interval
  kPolicy,       // --policy FILE
  kDnsServers,   // --dns-servers LIST
  kDualStack,    // --dual-stack
  kBoolField,    // an istio-iptables option stored in the Invocation
  kStringField,
  kIgnored,  // accepted for compatibility
  kHelp,
  kVersion,
};

// Which commands take a flag.
enum Commands : uint8_t {
  kRender = 1,
  kApply = 2,
  kVerify = 4,
  kClean = 8,
  kValidate = 16,
  kIstio = 32,
  kWatch = 64,
  kExplain = 128,
  kPolicyCommands = kRender | kApply | kVerify | kClean | kValidate | kIstio |
                    kWatch | kExplain,
  kKernelCommands = kApply | kVerify | kClean | kValidate | kWatch,
};

struct Flag {
  std::string name;  // long, without dashes
  char short_name = 0;
  bool is_bool = false;
  Kind kind = Kind::kKnob;
  uint8_t commands = kPolicyCommands;
  // Given twice is an error (not "the last one wins", as for Istio's
  // flags): a second backend or namespace is a contradiction.
  bool once = false;
  const KnobInfo* knob = nullptr;
  bool Invocation::*bool_field = nullptr;
  std::string Invocation::*string_field = nullptr;
  std::string env, env2;
  std::string help;
  std::string default_text;
};

std::vector<Flag> Flags() {
  std::vector<Flag> flags;
  for (const KnobInfo& k : PolicyKnobs()) {
    if (k.flag == nullptr) continue;
    Flag f;
    f.name = k.flag;
    f.short_name = k.short_flag;
    f.is_bool = k.is_bool;
    f.knob = &k;
    f.env = k.env != nullptr ? k.env : "";
    f.env2 = k.env2 != nullptr ? k.env2 : "";
    f.help = k.help;
    f.default_text = k.default_text;
    flags.push_back(std::move(f));
  }
  auto add = [&](Flag f) { flags.push_back(std::move(f)); };
  Flag backend;
  backend.name = "backend";
  backend.kind = Kind::kBackend;
  backend.commands = kRender | kApply | kVerify | kClean | kWatch | kExplain;
  backend.once = true;
  backend.help = absl::StrCat(
      "The backend: ", absl::StrJoin(AvailableBackends(), ", "),
      ", iptables (istio-iptables' choice: iptables-legacy when its nat "
      "table holds rules, else iptables-nft) or auto (apply, verify, clean: "
      "the backend already holding a capture, ours or Istio's, else one "
      "whose tables hold rules, legacy first, else nftables; "
      "$MESHCAP_BACKEND overrides auto).");
  backend.default_text = "auto; render, explain: nftables";
  add(backend);
  Flag netns;
  netns.name = "netns";
  netns.kind = Kind::kNetns;
  netns.commands = kKernelCommands;
  netns.once = true;
  netns.help =
      "The target network namespace file (/proc/PID/ns/net, "
      "/var/run/netns/NAME); default: this process's.";
  add(netns);
  Flag lock;
  lock.name = "lock-timeout";
  lock.kind = Kind::kLockTimeout;
  lock.commands = kApply | kVerify | kClean | kWatch;
  lock.once = true;
  lock.help =
      "How long to wait for another meshcap (or, for iptables-legacy, any "
      "iptables) working on the same network namespace, e.g. 500ms, 30s; "
      "then fail with exit status 4 and change nothing.";
  lock.default_text = "30s";
  add(lock);
  Flag interval;
  interval.name = "interval";
  interval.kind = Kind::kInterval;
  interval.commands = kWatch;
  interval.once = true;
  interval.help =
      "How often watch verifies the namespace without a kernel event "
      "(iptables-legacy's tables send none), and retries a failed heal, "
      "e.g. 500ms, 2s.";
  interval.default_text = "1s";
  add(interval);
  Flag policy;
  policy.name = "policy";
  policy.kind = Kind::kPolicy;
  policy.once = true;
  policy.help =
      "A JSON policy file (the knobs' keys, Istio's Config field names) "
      "instead of policy flags; the environment is not read with it.";
  add(policy);
  Flag dns;
  dns.name = "dns-servers";
  dns.kind = Kind::kDnsServers;
  dns.help =
      "DNS servers whose traffic --redirect-dns captures (comma list, IPv4 "
      "and IPv6); default: /etc/resolv.conf, as Istio reads it.";
  add(dns);
  Flag dual;
  dual.name = "dual-stack";
  dual.is_bool = true;
  dual.kind = Kind::kDualStack;
  dual.env = kDualStackEnv;
  dual.env2 = kDualStackEnv2;
  dual.help = "Enable ipv4/ipv6 redirects for dual-stack.";
  dual.default_text = "false";
  add(dual);
  struct IstioOption {
    const char* name;
    char short_name;
    const char* env;
    bool Invocation::*b;
    std::string Invocation::*s;
    const char* help;
    const char* dflt;
    uint8_t commands;
  };
  const IstioOption kIstioOptions[] = {
      {"dry-run", 'n', "DRY_RUN", &Invocation::dry_run, nullptr,
       "Do not call any external dependencies like iptables.", "false", kIstio},
      {"skip-rule-apply", 0, "SKIP_RULE_APPLY", &Invocation::skip_rule_apply,
       nullptr, "Skip iptables apply.", "false", kIstio},
      {"run-validation", 0, "RUN_VALIDATION", &Invocation::run_validation,
       nullptr, "Validate iptables.", "false", kIstio},
      {"cni-mode", 0, "CNI_MODE", &Invocation::cni_mode, nullptr,
       "Whether to run as CNI plugin.", "false", kIstio},
      {"reconcile", 0, "RECONCILE", &Invocation::reconcile, nullptr,
       "Reconcile pre-existing and incompatible iptables rules instead of "
       "failing if drift is detected.",
       "false", kIstio},
      {"cleanup-only", 0, "CLEANUP_ONLY", &Invocation::cleanup_only, nullptr,
       "Perform a forced cleanup without creating new iptables chains or "
       "rules.",
       "false", kIstio},
      {"force-apply", 0, "FORCE_APPLY", &Invocation::force_apply, nullptr,
       "Apply iptables changes even if they appear to already be in place.",
       "false", kIstio},
      {"native-nftables", 0, "NATIVE_NFTABLES", &Invocation::native_nftables,
       nullptr, "Use native nftables instead of iptables rules.", "false",
       kIstio},
      {"force-iptables-binary", 0, "FORCE_IPTABLES_BINARY", nullptr,
       &Invocation::force_iptables_binary,
       "Break glass option to choose which iptables binary to use.", "",
       kIstio},
      {"network-namespace", 0, "NETWORK_NAMESPACE", nullptr,
       &Invocation::network_namespace,
       "The network namespace that iptables rules should be applied to.", "",
       kIstio},
      {"iptables-probe-port", 0, "IPTABLES_PROBE_PORT", nullptr,
       &Invocation::probe_port, "Set listen port for failure detection.",
       "15002", kIstio | kValidate},
      {"probe-timeout", 0, "PROBE_TIMEOUT", nullptr, &Invocation::probe_timeout,
       "Failure detection timeout.", "5s", kIstio | kValidate},
      // explain: the packet.
      {"proto", 0, "", nullptr, &Invocation::proto,
       "The packet's protocol: tcp or udp.", "tcp", kExplain},
      {"src", 0, "", nullptr, &Invocation::src,
       "Its source, IP[:PORT] or [IPv6]:PORT; default for a sent packet: "
       "the pod's address (127.0.0.1 or ::1 to a loopback destination).",
       "", kExplain},
      {"dst", 0, "", nullptr, &Invocation::dst,
       "Its destination, IP:PORT or [IPv6]:PORT (required).", "", kExplain},
      {"uid", 0, "", nullptr, &Invocation::uid,
       "A sent packet's socket owner (output path).", "0", kExplain},
      {"gid", 0, "", nullptr, &Invocation::gid,
       "A sent packet's socket group (output path).", "0", kExplain},
      {"oif", 0, "", nullptr, &Invocation::oif,
       "The interface a sent packet leaves by (output path).",
       "lo for a loopback destination, else eth0", kExplain},
      {"iif", 0, "", nullptr, &Invocation::iif,
       "The interface an arriving packet comes in on: makes it an arriving "
       "packet (prerouting path).",
       "", kExplain},
      {"mark", 0, "", nullptr, &Invocation::mark,
       "The packet's mark (SO_MARK), decimal or 0x hex.", "0", kExplain},
      {"connmark", 0, "", nullptr, &Invocation::connmark,
       "Its connection's conntrack mark.", "0", kExplain},
      {"ct-state", 0, "", nullptr, &Invocation::ct_state,
       "Its conntrack state: new, established, related or invalid (nat "
       "chains see only new).",
       "new", kExplain},
      {"json", 0, "", &Invocation::json, nullptr,
       "Print the explanation as one JSON object.", "false", kExplain},
  };
  for (const IstioOption& o : kIstioOptions) {
    Flag f;
    f.name = o.name;
    f.short_name = o.short_name;
    f.is_bool = o.b != nullptr;
    f.kind = o.b != nullptr ? Kind::kBoolField : Kind::kStringField;
    f.bool_field = o.b;
    f.string_field = o.s;
    f.env = o.env;
    f.help = o.help;
    f.default_text = o.dflt;
    f.commands = o.commands;
    add(f);
  }
  Flag log_level;
  log_level.name = "log_output_level";
  log_level.kind = Kind::kIgnored;
  log_level.commands = kIstio;
  log_level.help = "Accepted for compatibility, ignored.";
  add(log_level);
  // The rest of Istio's logging options (pkg/log AttachCobraFlags).
  for (const char* name : {"log_caller", "log_rotate", "log_rotate_max_age",
                           "log_rotate_max_backups", "log_rotate_max_size",
                           "log_stacktrace_level", "log_target"}) {
    Flag f = log_level;
    f.name = name;
    add(f);
  }
  Flag log_json = log_level;
  log_json.name = "log_as_json";
  log_json.is_bool = true;
  add(log_json);
  Flag help;
  help.name = "help";
  help.short_name = 'h';
  help.is_bool = true;
  help.kind = Kind::kHelp;
  help.help = "Print this help and exit.";
  add(help);
  Flag version;
  version.name = "version";
  version.is_bool = true;
  version.kind = Kind::kVersion;
  version.help = "Print the version and exit.";
  add(version);
  return flags;
}

using internal::ParseGoBool;

struct Given {
  std::string value;
  std::string spelling;  // "--envoy-port", "-p"
  int count = 0;
};

const std::pair<const char*, uint8_t> kCommands[] = {
    {"render", kRender},   {"apply", kApply},       {"verify", kVerify},
    {"clean", kClean},     {"validate", kValidate}, {"watch", kWatch},
    {"explain", kExplain},
};

const char* CommandHelp(std::string_view c) {
  if (c == "render") {
    return "print the rules a policy produces, without applying them";
  }
  if (c == "apply") return "install the policy's capture in one transaction";
  if (c == "verify") {
    return "compare the kernel with the policy; exit 1 on a difference";
  }
  if (c == "clean") return "remove everything of ours (no policy needed)";
  if (c == "explain") {
    return "show why one packet is or is not captured: the rules it meets, "
           "in kernel order, and the one that decides";
  }
  if (c == "watch") {
    return "apply, then hold the capture: re-apply whenever it drifts, "
           "until SIGTERM or SIGINT (SIGHUP re-reads --policy)";
  }
  return "Istio's validation probe: is a connection really captured? exit "
         "126 if not";
}

}  // namespace

std::string Usage(Mode mode, std::string_view command) {
  std::string out;
  uint8_t mask = kIstio;
  if (mode == Mode::kIstioIptables) {
    out =
        "istio-iptables (meshcap): set up the capture of a pod's traffic into "
        "its sidecar proxy.\n\nUsage:\n  istio-iptables [flags]\n";
  } else if (command.empty()) {
    out =
        "meshcap: transparent traffic capture for service-mesh sidecars and "
        "ambient pods.\n\nUsage:\n  meshcap <command> [flags]\n\nCommands:\n";
    for (const auto& [name, bit] : kCommands) {
      absl::StrAppend(&out, "  ", name, std::string(10 - strlen(name), ' '),
                      CommandHelp(name), "\n");
    }
    out += "\nRun 'meshcap <command> --help' for its flags.\n\n";
    out += kExitCodeHelp;
    return out;
  } else {
    for (const auto& [name, bit] : kCommands) {
      if (command == name) mask = bit;
    }
    out = absl::StrCat("meshcap ", std::string(command), ": ",
                       CommandHelp(command), ".\n\nUsage:\n  meshcap ",
                       std::string(command), " [flags]\n");
  }
  out += "\nFlags:\n";
  std::vector<Flag> flags = Flags();
  std::sort(flags.begin(), flags.end(),
            [](const Flag& a, const Flag& b) { return a.name < b.name; });
  for (const Flag& f : flags) {
    if (!(f.commands & mask) && f.kind != Kind::kHelp &&
        f.kind != Kind::kVersion) {
      continue;
    }
    std::string names =
        f.short_name != 0
            ? absl::StrCat("  -", std::string(1, f.short_name), ", --", f.name)
            : absl::StrCat("      --", f.name);
    if (!f.is_bool) names += " string";
    if (names.size() < 46) names.resize(46, ' ');
    std::string help = f.help;
    if (f.knob != nullptr && f.knob->profile == Profile::kAmbient &&
        !f.knob->shared) {
      help = "[ambient] " + help;
    }
    if (!f.default_text.empty() && f.default_text != "false") {
      absl::StrAppend(&help, " (default \"", f.default_text, "\")");
    }
    std::vector<std::string> envs;
    if (!f.env.empty()) envs.push_back(f.env);
    if (!f.env2.empty()) envs.push_back(f.env2);
    if (!envs.empty())
      absl::StrAppend(&help, " [env ", absl::StrJoin(envs, ", "), "]");
    if (f.knob != nullptr && f.knob->ambient_default != nullptr) {
      absl::StrAppend(&help, " (ambient: default \"", f.knob->ambient_default,
                      "\" [env ", f.knob->ambient_env, "])");
    }
    absl::StrAppend(&out, names, " ", help, "\n");
  }
  absl::StrAppend(&out, "\nEnvironment-only knobs: ",
                  absl::StrJoin(IstioEnvironmentOnlyVariables(), ", "),
                  ".\n\n");
  out += kExitCodeHelp;
  return out;
}

absl::StatusOr<Invocation> ParseCommandLine(
    const std::vector<std::string>& args, Mode mode, const Environment& env) {
  Invocation inv;
  size_t i = 1;
  uint8_t command = kIstio;
  if (mode == Mode::kIstioIptables) {
    inv.command = "istio-iptables";
  } else {
    if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
      inv.early_output = Usage(mode, "");
      return inv;
    }
    if (args[1] == "--version") {
      inv.early_output = absl::StrCat("meshcap ", MESHCAP_VERSION, "\n");
      return inv;
    }
    for (const auto& [name, bit] : kCommands) {
      if (args[1] == name) {
        inv.command = name;
        command = bit;
      }
    }
    if (inv.command.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown command ", Quote(args[1]),
                       " (want render, apply, verify, clean, validate, watch "
                       "or explain)"));
    }
    i = 2;
  }

  const std::vector<Flag> flags = Flags();
  std::map<const Flag*, Given> given;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    const Flag* flag = nullptr;
    std::optional<std::string> value;
    std::string spelling;
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      const size_t eq = a.find('=');
      const std::string name =
          a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) value = a.substr(eq + 1);
      spelling = "--" + name;
      for (const Flag& f : flags) {
        if (f.name == name) flag = &f;
      }
    } else if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
      spelling = a.substr(0, 2);
      for (const Flag& f : flags) {
        if (f.short_name == a[1]) flag = &f;
      }
      if (a.size() > 2) value = a.substr(a[2] == '=' ? 3 : 2);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument ", Quote(a)));
    }
    if (flag == nullptr ||
        (!(flag->commands & command) && flag->kind != Kind::kHelp &&
         flag->kind != Kind::kVersion)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown flag ", Quote(spelling),
          mode == Mode::kMeshcap ? absl::StrCat(" for meshcap ", inv.command)
                                 : std::string()));
    }
    if (flag->is_bool) {
      if (!value.has_value()) {
        value = "true";
      } else if (flag->knob == nullptr) {
        // A knob's value is the library's to check (EnableIPv6 takes
        // "auto" too); an option's is checked here.
        MESHCAP_RETURN_IF_ERROR(
            internal::ParseBoolAt(spelling, *value).status());
      }
    } else if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(spelling, " needs a value"));
      }
      value = args[++i];
    }
    Given& g = given[flag];
    if (++g.count > 1 && flag->once) {
      return absl::InvalidArgumentError(
          absl::StrCat(spelling, " is given more than once (", Quote(g.value),
                       " and ", Quote(*value), ")"));
    }
    // Otherwise, as Go's pflag, a repeated flag takes the last value.
    g.value = *value;
    g.spelling = spelling;
  }

  auto find = [&](Kind kind) -> const Given* {
    for (const auto& [f, g] : given) {
      if (f->kind == kind) return &g;
    }
    return nullptr;
  };
  if (find(Kind::kHelp) != nullptr) {
    inv.early_output = Usage(mode, inv.command);
    inv.command.clear();
    return inv;
  }
  if (find(Kind::kVersion) != nullptr) {
    inv.early_output = absl::StrCat("meshcap ", MESHCAP_VERSION, "\n");
    inv.command.clear();
    return inv;
  }

  // Values with their environment fallback: flag > additional env > env.
  struct Value {
    std::string text;
    std::string origin;
  };
  auto value_of = [&](const Flag& f) -> std::optional<Value> {
    auto it = given.find(&f);
    if (it != given.end()) return Value{it->second.value, it->second.spelling};
    for (const std::string* e : {&f.env2, &f.env}) {
      if (e->empty()) continue;
      if (std::optional<std::string> v = env.getenv(*e)) {
        // An empty environment variable means unset.
        if (!v->empty()) {
          return Value{*v, absl::StrCat("environment variable ", *e)};
        }
      }
    }
    return std::nullopt;
  };

  // Options that are not policy knobs.
  for (const Flag& f : flags) {
    if (f.kind != Kind::kBoolField && f.kind != Kind::kStringField) continue;
    if (!(f.commands & command)) continue;
    std::optional<Value> v = value_of(f);
    if (!v.has_value()) continue;
    if (f.kind == Kind::kBoolField) {
      MESHCAP_ASSIGN_OR_RETURN(inv.*f.bool_field,
                               internal::ParseBoolAt(v->origin, v->text));
    } else {
      inv.*f.string_field = v->text;
    }
  }
  if (const Given* b = find(Kind::kBackend)) inv.backend = b->value;
  const bool offline = inv.command == "render" || inv.command == "explain";
  if (offline && find(Kind::kBackend) == nullptr) {
    inv.backend = "nftables";
  }
  const std::vector<std::string> backends = AvailableBackends();
  const bool has_iptables = std::find(backends.begin(), backends.end(),
                                      "iptables-legacy") != backends.end() ||
                            std::find(backends.begin(), backends.end(),
                                      "iptables-nft") != backends.end();
  const bool known = std::find(backends.begin(), backends.end(), inv.backend) !=
                         backends.end() ||
                     (inv.backend == "iptables" && has_iptables);
  if (!known && (inv.backend != "auto" || offline)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--backend: ", Quote(inv.backend), " is not one of ",
        absl::StrJoin(backends, ", "), has_iptables ? ", iptables" : "",
        offline ? "" : ", auto"));
  }
  if (const Given* n = find(Kind::kNetns)) inv.netns = n->value;
  if (const Given* l = find(Kind::kLockTimeout)) {
    absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(l->value);
    if (!d.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--lock-timeout: ", d.status().message()));
    }
    inv.lock_timeout = *d;
  }
  if (const Given* i = find(Kind::kInterval)) {
    absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(i->value);
    if (!d.ok() || d->count() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--interval: ", d.ok()
                              ? Quote(i->value) + " is not a positive duration"
                              : std::string(d.status().message())));
    }
    inv.interval = *d;
  }
  // Istio's two names, and the binaries' own.
  if (inv.force_iptables_binary == "iptables-legacy") {
    inv.force_iptables_binary = "legacy";
  } else if (inv.force_iptables_binary == "iptables-nft") {
    inv.force_iptables_binary = "nft";
  }
  if (!inv.force_iptables_binary.empty() &&
      inv.force_iptables_binary != "legacy" &&
      inv.force_iptables_binary != "nft") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--force-iptables-binary: ", Quote(inv.force_iptables_binary),
        " is not one of legacy, nft (or iptables-legacy, iptables-nft)"));
  }

  // clean and --cleanup-only remove whatever is ours: no policy, no
  // environment, no lookups.
  inv.needs_policy = inv.command != "clean" &&
                     !(mode == Mode::kIstioIptables && inv.cleanup_only);
  if (!inv.needs_policy) return inv;

  PolicyBuilder& b = inv.builder;
  if (const Given* file = find(Kind::kPolicy)) {
    // A policy file is the whole policy: policy flags beside it are a
    // contradiction, and the environment is not consulted.
    for (const auto& [f, g] : given) {
      if (f->kind == Kind::kKnob || f->kind == Kind::kDnsServers ||
          f->kind == Kind::kDualStack) {
        return absl::InvalidArgumentError(
            absl::StrCat("--policy cannot be combined with ", g.spelling,
                         " (put the knob in the policy file)"));
      }
    }
    absl::StatusOr<std::string> json =
        env.read_file(file->value, kMaxPolicyFileBytes);
    if (!json.ok()) {
      return absl::Status(json.status().code(),
                          absl::StrCat("--policy: ", json.status().message()));
    }
    MESHCAP_RETURN_IF_ERROR(ApplyPolicyJson(*json, b, file->value));
    return inv;
  }

  // Istio's environment and defaults, with the flags given on top.
  IstioInputs inputs;
  for (const auto& [f, g] : given) {
    if (f->kind == Kind::kKnob) {
      inputs.knobs[f->knob->key] = IstioValue{g.value, g.spelling};
    } else if (f->kind == Kind::kDualStack) {
      inputs.dual_stack = IstioValue{g.value, g.spelling};
    } else if (f->kind == Kind::kDnsServers) {
      inputs.dns_servers = IstioValue{g.value, g.spelling};
    }
  }
  MESHCAP_RETURN_IF_ERROR(ApplyIstioEnvironment(inputs, env, b));
  return inv;
}

int ExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnimplemented:
      return 2;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 3;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 4;
    default:
      return 5;
  }
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  // Go's time.ParseDuration for what a probe timeout needs: a decimal
  // number with one unit of ms, s, m or h ("5s", "500ms", "1.5s").
  size_t i = 0;
  while (i < s.size() &&
         (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
    ++i;
  }
  const std::string number(s.substr(0, i));
  const std::string_view unit = s.substr(i);
  double scale = 0;
  if (unit == "ms") scale = 1;
  if (unit == "s") scale = 1000;
  if (unit == "m") scale = 60000;
  if (unit == "h") scale = 3600000;
  char* end = nullptr;
  const double value = number.empty() ? -1 : std::strtod(number.c_str(), &end);
  if (scale == 0 || value < 0 || end == nullptr || *end != '\0' ||
      value * scale > 86400000.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("duration ", Quote(s),
                     " is not a number with a unit of ms, s, m or h (e.g. "
                     "5s), at most a day"));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(value * scale));
}

absl::StatusOr<CapturePolicy> BuildPolicy(const Invocation& inv) {
  return inv.builder.Build();
}

}  // namespace meshcap::cli
