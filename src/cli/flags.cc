// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cli/flags.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "meshcap/net.h"
#include "meshcap/policy_json.h"
#include "meshcap/version.h"
#include "src/status_macros.h"
#include "src/text.h"

namespace meshcap::cli {
namespace {

using StringSetter = PolicyBuilder& (PolicyBuilder::*)(std::string_view);
using BoolSetter = PolicyBuilder& (PolicyBuilder::*)(bool);

// A policy knob given as text: flag names, the environment variables Istio
// binds to it (primary, then the "additional" one that overrides it).
struct TextKnob {
  const char* names;  // CLI11 spelling: "-p,--envoy-port"
  const char* env;
  StringSetter set;
};

constexpr TextKnob kTextKnobs[] = {
    // -p has no environment variable in Istio (ENVOY_PORT is only logged).
    {"-p,--envoy-port", nullptr, &PolicyBuilder::SetProxyPort},
    {"-z,--inbound-capture-port", "INBOUND_CAPTURE_PORT",
     &PolicyBuilder::SetInboundCapturePort},
    {"-e,--inbound-tunnel-port", "INBOUND_TUNNEL_PORT",
     &PolicyBuilder::SetInboundTunnelPort},
    {"-u,--proxy-uid", "PROXY_UID", &PolicyBuilder::SetProxyUids},
    {"-g,--proxy-gid", "PROXY_GID", &PolicyBuilder::SetProxyGids},
    {"-m,--istio-inbound-interception-mode", "ISTIO_INBOUND_INTERCEPTION_MODE",
     &PolicyBuilder::SetInterceptMode},
    {"-b,--istio-inbound-ports", "ISTIO_INBOUND_PORTS",
     &PolicyBuilder::SetInboundPorts},
    {"-d,--istio-local-exclude-ports", "ISTIO_LOCAL_EXCLUDE_PORTS",
     &PolicyBuilder::SetInboundPortsExclude},
    {"-c,--istio-exclude-interfaces", "ISTIO_EXCLUDE_INTERFACES",
     &PolicyBuilder::SetExcludeInterfaces},
    {"-i,--istio-service-cidr", "ISTIO_SERVICE_CIDR",
     &PolicyBuilder::SetOutboundCidrsInclude},
    {"-x,--istio-service-exclude-cidr", "ISTIO_SERVICE_EXCLUDE_CIDR",
     &PolicyBuilder::SetOutboundCidrsExclude},
    {"-q,--istio-outbound-ports", "ISTIO_OUTBOUND_PORTS",
     &PolicyBuilder::SetOutboundPortsInclude},
    {"-o,--istio-local-outbound-ports-exclude",
     "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE",
     &PolicyBuilder::SetOutboundPortsExclude},
    {"-k,--kube-virt-interfaces", "KUBE_VIRT_INTERFACES",
     &PolicyBuilder::SetKubeVirtInterfaces},
    {"-t,--istio-inbound-tproxy-mark", "ISTIO_INBOUND_TPROXY_MARK",
     &PolicyBuilder::SetTproxyMark},
    {"-r,--istio-inbound-tproxy-route-table",
     "ISTIO_INBOUND_TPROXY_ROUTE_TABLE", &PolicyBuilder::SetTproxyRouteTable},
};

// Knobs Istio reads only from the environment.
constexpr TextKnob kEnvOnlyKnobs[] = {
    {nullptr, "ISTIO_OUTBOUND_OWNER_GROUPS",
     &PolicyBuilder::SetOwnerGroupsInclude},
    {nullptr, "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE",
     &PolicyBuilder::SetOwnerGroupsExclude},
    {nullptr, "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR",
     &PolicyBuilder::SetIpv4LoopbackCidr},
};

struct BoolKnob {
  const char* names;
  const char* env;
  const char* env2;  // Istio's AdditionalEnv, which overrides `env`
  BoolSetter set;    // null: not a policy knob
  bool Invocation::*field;
};

constexpr BoolKnob kBoolKnobs[] = {
    {"--redirect-dns", "REDIRECT_DNS", "ISTIO_META_DNS_CAPTURE",
     &PolicyBuilder::SetRedirectDns, nullptr},
    {"--capture-all-dns", "CAPTURE_ALL_DNS", nullptr,
     &PolicyBuilder::SetCaptureAllDns, nullptr},
    {"--drop-invalid", "DROP_INVALID", "INVALID_DROP",
     &PolicyBuilder::SetDropInvalid, nullptr},
    {"-n,--dry-run", "DRY_RUN", nullptr, nullptr, &Invocation::dry_run},
    {"--skip-rule-apply", "SKIP_RULE_APPLY", nullptr, nullptr,
     &Invocation::skip_rule_apply},
    {"--run-validation", "RUN_VALIDATION", nullptr, nullptr,
     &Invocation::run_validation},
    {"--cni-mode", "CNI_MODE", nullptr, nullptr, &Invocation::cni_mode},
    {"--reconcile", "RECONCILE", nullptr, nullptr, &Invocation::reconcile},
    {"--cleanup-only", "CLEANUP_ONLY", nullptr, nullptr,
     &Invocation::cleanup_only},
    {"--force-apply", "FORCE_APPLY", nullptr, nullptr,
     &Invocation::force_apply},
    {"--native-nftables", "NATIVE_NFTABLES", nullptr, nullptr,
     &Invocation::native_nftables},
};

struct StringOption {
  const char* names;
  const char* env;
  std::string Invocation::*field;
};

constexpr StringOption kStringOptions[] = {
    {"--iptables-probe-port", "IPTABLES_PROBE_PORT", &Invocation::probe_port},
    {"--probe-timeout", "PROBE_TIMEOUT", &Invocation::probe_timeout},
    {"--network-namespace", "NETWORK_NAMESPACE",
     &Invocation::network_namespace},
    {"--force-iptables-binary", "FORCE_IPTABLES_BINARY",
     &Invocation::force_iptables_binary},
};

// Go's strconv.ParseBool, which Istio's flag binding uses for env values.
std::optional<bool> ParseGoBool(const std::string& s) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"})
    if (s == t) return true;
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"})
    if (s == f) return false;
  return std::nullopt;
}

std::string LongName(const char* names) {
  std::string s(names);
  size_t pos = s.find("--");
  return s.substr(pos + 2);
}

// Values collected from the command line, before precedence is applied.
struct Collected {
  std::vector<std::string> text;       // per kTextKnobs
  std::vector<std::string> flag_bool;  // per kBoolKnobs
  std::vector<std::string> strings;    // per kStringOptions
  std::vector<CLI::Option*> text_opt, bool_opt, string_opt;
  std::string ipv6 = "auto";
  CLI::Option* ipv6_opt = nullptr;
  std::string dns_servers;
  CLI::Option* dns_opt = nullptr;
  std::string policy_file;
  CLI::Option* policy_opt = nullptr;
  std::string log_level;
  std::string log_json;
};

void AddPolicyOptions(CLI::App& app, Collected& c) {
  c.text.resize(std::size(kTextKnobs));
  c.flag_bool.resize(std::size(kBoolKnobs));
  c.strings.resize(std::size(kStringOptions));
  for (size_t i = 0; i < std::size(kTextKnobs); ++i) {
    c.text_opt.push_back(
        app.add_option(kTextKnobs[i].names, c.text[i])
            ->envname("")
            ->description(kTextKnobs[i].env
                              ? absl::StrCat("(env ", kTextKnobs[i].env, ")")
                              : std::string("(no env)")));
  }
  for (size_t i = 0; i < std::size(kBoolKnobs); ++i) {
    std::string spec = absl::StrCat(kBoolKnobs[i].names, "{true}");
    c.bool_opt.push_back(
        app.add_flag(spec, c.flag_bool[i])
            ->description(absl::StrCat("(env ", kBoolKnobs[i].env, ")")));
  }
  for (size_t i = 0; i < std::size(kStringOptions); ++i) {
    c.string_opt.push_back(
        app.add_option(kStringOptions[i].names, c.strings[i])
            ->description(absl::StrCat("(env ", kStringOptions[i].env, ")")));
  }
  app.add_option("--log_output_level", c.log_level, "accepted, ignored");
  app.add_flag("--log_as_json{true}", c.log_json, "accepted, ignored");
  c.ipv6_opt = app.add_option("--ipv6", c.ipv6,
                              "auto (Istio's detection), true or false");
  c.dns_opt = app.add_option("--dns-servers", c.dns_servers,
                             "DNS servers to capture (comma list, v4 and v6); "
                             "default: /etc/resolv.conf");
  c.policy_opt = app.add_option(
      "--policy", c.policy_file,
      "JSON policy file (Istio Config field names) instead of flags");
  // Go's pflag lets a repeated flag override the earlier one.
  for (CLI::Option* o : app.get_options())
    o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

absl::StatusOr<bool> EnvBool(const Environment& env, const char* name,
                             bool current) {
  if (name == nullptr) return current;
  std::optional<std::string> v = env.getenv(name);
  if (!v || v->empty()) return current;
  std::optional<bool> b = ParseGoBool(*v);
  if (!b) {
    return absl::InvalidArgumentError(absl::StrCat(
        "environment variable ", name, "='", *v, "' is not a boolean"));
  }
  return *b;
}

absl::StatusOr<std::vector<std::string>> ReadResolvConf(
    const Environment& env) {
  MESHCAP_ASSIGN_OR_RETURN(std::string text, env.read_file(env.resolv_conf));
  std::vector<std::string> servers;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver") servers.push_back(value);
  }
  return servers;
}

// Splits addresses into Istio's DNSServersV4 / DNSServersV6.
absl::Status SetDnsServers(const std::vector<std::string>& servers,
                           const char* source, PolicyBuilder& b) {
  std::vector<std::string> v4, v6;
  for (const std::string& s : servers) {
    absl::StatusOr<Cidr> c = Cidr::Parse(s);
    if (!c.ok() || s.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": '", s, "' is not an IP address"));
    }
    (c->family() == IpFamily::kIpv4 ? v4 : v6).push_back(s);
  }
  b.SetDnsServersV4(absl::StrJoin(v4, ","));
  b.SetDnsServersV6(absl::StrJoin(v6, ","));
  return absl::OkStatus();
}

absl::Status ApplyPrecedence(const Collected& c, const Environment& env,
                             Invocation& inv) {
  PolicyBuilder& b = inv.builder;
  const bool from_file = c.policy_opt->count() > 0;
  if (from_file) {
    // A policy file is the whole policy: policy flags beside it are a
    // contradiction, and the environment is not consulted.
    for (size_t i = 0; i < c.text_opt.size(); ++i) {
      if (c.text_opt[i]->count() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--policy cannot be combined with --",
                         LongName(kTextKnobs[i].names)));
      }
    }
    for (size_t i = 0; i < c.bool_opt.size(); ++i) {
      if (kBoolKnobs[i].set && c.bool_opt[i]->count() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--policy cannot be combined with --",
                         LongName(kBoolKnobs[i].names)));
      }
    }
    for (CLI::Option* o : {c.ipv6_opt, c.dns_opt}) {
      if (o->count() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--policy cannot be combined with ", o->get_name()));
      }
    }
    MESHCAP_ASSIGN_OR_RETURN(std::string json, env.read_file(c.policy_file));
    absl::Status s = ApplyPolicyJson(json, b);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(c.policy_file, ": ", std::string(s.message())));
    }
  }

  // Text knobs: flag (even empty) > env > default. An empty value means the
  // knob's default, so "--flag=" and an empty env var both unset it.
  std::string uid_value;
  for (size_t i = 0; i < std::size(kTextKnobs) && !from_file; ++i) {
    const TextKnob& k = kTextKnobs[i];
    std::string value;
    if (c.text_opt[i]->count() > 0) {
      value = c.text[i];
    } else if (k.env != nullptr) {
      value = env.getenv(k.env).value_or("");
    }
    if (k.set == &PolicyBuilder::SetProxyUids) uid_value = value;
    (b.*(k.set))(value);
  }
  if (!from_file) {
    for (const TextKnob& k : kEnvOnlyKnobs)
      (b.*(k.set))(env.getenv(k.env).value_or(""));
    // Istio: an unset proxy UID is the UID of $ENVOY_USER (istio-proxy), or
    // 1337 when there is no such user. Looked up once, here.
    if (uid_value.empty()) {
      std::string user = env.getenv("ENVOY_USER").value_or("");
      if (user.empty()) user = "istio-proxy";
      if (std::optional<uint32_t> uid = env.lookup_uid(user))
        b.SetProxyUids(std::to_string(*uid));
    }
  }

  bool redirect_dns = false, capture_all_dns = false, dual_stack = false;
  for (size_t i = 0; i < std::size(kBoolKnobs); ++i) {
    const BoolKnob& k = kBoolKnobs[i];
    if (k.set && from_file) continue;
    bool v = false;
    MESHCAP_ASSIGN_OR_RETURN(v, EnvBool(env, k.env, v));
    MESHCAP_ASSIGN_OR_RETURN(v, EnvBool(env, k.env2, v));
    if (c.bool_opt[i]->count() > 0) {
      std::optional<bool> f = ParseGoBool(c.flag_bool[i]);
      if (!f) {
        return absl::InvalidArgumentError(absl::StrCat("--", LongName(k.names),
                                                       "='", c.flag_bool[i],
                                                       "' is not a boolean"));
      }
      v = *f;
    }
    if (k.set) (b.*(k.set))(v);
    if (k.field) inv.*(k.field) = v;
    if (k.set == &PolicyBuilder::SetRedirectDns) redirect_dns = v;
    if (k.set == &PolicyBuilder::SetCaptureAllDns) capture_all_dns = v;
  }
  MESHCAP_ASSIGN_OR_RETURN(dual_stack, EnvBool(env, "DUAL_STACK", false));
  MESHCAP_ASSIGN_OR_RETURN(dual_stack,
                           EnvBool(env, "ISTIO_DUAL_STACK", dual_stack));

  for (size_t i = 0; i < std::size(kStringOptions); ++i) {
    const StringOption& o = kStringOptions[i];
    std::string v = c.string_opt[i]->count() > 0
                        ? c.strings[i]
                        : env.getenv(o.env).value_or("");
    if (!v.empty()) inv.*(o.field) = v;
  }
  if (inv.force_iptables_binary != "" &&
      inv.force_iptables_binary != "legacy" &&
      inv.force_iptables_binary != "nft") {
    return absl::InvalidArgumentError(
        absl::StrCat("--force-iptables-binary: '", inv.force_iptables_binary,
                     "' is not one of legacy, nft"));
  }
  if (from_file) return absl::OkStatus();

  // --ipv6: Istio computes this; meshcap also takes it explicitly.
  if (c.ipv6 == "true" || c.ipv6 == "false") {
    b.SetIpv6(c.ipv6 == "true");
  } else if (c.ipv6 == "auto" || c.ipv6.empty()) {
    b.SetIpv6(env.detect_ipv6(dual_stack));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--ipv6: '", c.ipv6, "' is not one of auto, true, false"));
  }

  // DNS servers: explicit, or /etc/resolv.conf when Istio would read it.
  if (c.dns_opt->count() > 0) {
    MESHCAP_RETURN_IF_ERROR(
        SetDnsServers(internal::SplitList(c.dns_servers), "--dns-servers", b));
  } else if (redirect_dns && !capture_all_dns) {
    absl::StatusOr<std::vector<std::string>> servers = ReadResolvConf(env);
    if (servers.ok()) {
      MESHCAP_RETURN_IF_ERROR(SetDnsServers(*servers, "resolv.conf", b));
    }
    // An unreadable resolv.conf leaves no servers, and Istio then turns DNS
    // capture off; so does meshcap.
  }
  return absl::OkStatus();
}

std::optional<uint32_t> SystemLookupUid(const std::string& user) {
  std::vector<char> buf(16384);
  passwd pw;
  passwd* result = nullptr;
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &result) != 0 ||
      result == nullptr)
    return std::nullopt;
  return static_cast<uint32_t>(pw.pw_uid);
}

// Istio's getLocalIP/dual-stack rule: IPv6 when the first non-loopback,
// non-link-local address is IPv6; with dual-stack, when any such IPv6
// address exists.
bool SystemDetectIpv6(bool dual_stack) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool ipv6 = false;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK)) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      uint32_t ip = ntohl(sin->sin_addr.s_addr);
      if ((ip >> 24) == 127 || (ip >> 16) == 0xa9fe) continue;
      if (!dual_stack) break;
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) ||
          IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
        continue;
      ipv6 = true;
      break;
    }
  }
  freeifaddrs(list);
  return ipv6;
}

absl::StatusOr<std::string> SystemReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Environment Environment::System() {
  Environment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  env.detect_ipv6 = SystemDetectIpv6;
  env.lookup_uid = SystemLookupUid;
  env.read_file = SystemReadFile;
  return env;
}

absl::StatusOr<Invocation> ParseCommandLine(
    const std::vector<std::string>& args, Mode mode, const Environment& env) {
  Invocation inv;
  // One set of policy options per subcommand (CLI11 binds options to one
  // app); the parsed subcommand's set is the one that counts.
  std::deque<Collected> collected;
  CLI::App app{mode == Mode::kIstioIptables
                   ? "istio-iptables drop-in: capture a pod's traffic into "
                     "its sidecar proxy (meshcap)"
                   : "meshcap: transparent traffic capture for service-mesh "
                     "sidecars",
               mode == Mode::kIstioIptables ? "istio-iptables" : "meshcap"};
  bool version = false;
  app.add_flag("--version", version, "print the version and exit");
  struct Subcommand {
    CLI::App* app;
    Collected* c;
  };
  std::vector<Subcommand> subcommands;
  std::string render_backend = "nftables";
  if (mode == Mode::kMeshcap) {
    CLI::App* render = app.add_subcommand(
        "render", "print the rules a policy produces, without applying them");
    render->add_option("--backend", render_backend,
                       "nftables or iptables-legacy");
    subcommands.push_back({render, &collected.emplace_back()});
    const std::pair<const char*, const char*> kKernelCommands[] = {
        {"apply", "install the policy's rules in one transaction"},
        {"verify",
         "compare the kernel's rules with the policy's; exit 1 on a "
         "difference"},
        {"clean", "remove every rule and table of ours"},
        {"validate",
         "Istio's validation probe: is a connection really captured? exit "
         "126 if not"},
    };
    for (const auto& [name, help] : kKernelCommands) {
      CLI::App* sub = app.add_subcommand(name, help);
      sub->add_option("--backend", inv.backend,
                      "auto, nftables or iptables-legacy");
      sub->add_option("--netns", inv.netns,
                      "target network namespace file (/proc/PID/ns/net, "
                      "/var/run/netns/NAME)");
      subcommands.push_back({sub, &collected.emplace_back()});
    }
  } else {
    subcommands.push_back({&app, &collected.emplace_back()});
  }
  for (Subcommand& s : subcommands) AddPolicyOptions(*s.app, *s.c);

  // "--flag=" (empty value) means unset, as in Go's pflag. CLI11 would take
  // the next argument as the value instead, so pass the empty value apart.
  // For a boolean flag, "--flag=" is dropped: the flag stays unset.
  auto is_bool_flag = [](std::string_view name) {
    for (const BoolKnob& k : kBoolKnobs) {
      for (absl::string_view n : absl::StrSplit(k.names, ','))
        if (n == internal::ToAbsl(name)) return true;
    }
    return name == "--log_as_json" || name == "--version";
  };
  std::vector<std::string> split;
  for (const std::string& a : args) {
    if (a.size() > 2 && a[0] == '-' && a.back() == '=' &&
        a.find('=') == a.size() - 1) {
      std::string name = a.substr(0, a.size() - 1);
      if (is_bool_flag(name)) continue;
      split.push_back(name);
      split.emplace_back();
    } else {
      split.push_back(a);
    }
  }
  std::vector<const char*> argv;
  for (const std::string& a : split) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    inv.early_output = app.help();
    return inv;
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (version) {
    inv.early_output = absl::StrCat("meshcap ", MESHCAP_VERSION, "\n");
    return inv;
  }
  const Subcommand* chosen = nullptr;
  if (mode == Mode::kIstioIptables) {
    inv.command = "istio-iptables";
    chosen = &subcommands.front();
  } else {
    for (const Subcommand& s : subcommands) {
      if (s.app->parsed()) chosen = &s;
    }
    if (chosen == nullptr) {
      inv.early_output = app.help();
      return inv;
    }
    inv.command = chosen->app->get_name();
    if (inv.command == "render") {
      inv.backend = render_backend;
      if (inv.backend != "nftables" && inv.backend != "iptables-legacy") {
        return absl::InvalidArgumentError(
            absl::StrCat("--backend: '", inv.backend,
                         "' is not one of nftables, iptables-legacy"));
      }
    } else if (inv.backend != "auto" && inv.backend != "nftables" &&
               inv.backend != "iptables-legacy") {
      return absl::InvalidArgumentError(
          absl::StrCat("--backend: '", inv.backend,
                       "' is not one of auto, nftables, iptables-legacy"));
    }
  }
  MESHCAP_RETURN_IF_ERROR(ApplyPrecedence(*chosen->c, env, inv));
  return inv;
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
  if (scale == 0 || value < 0 || end == nullptr || *end != '\0') {
    return absl::InvalidArgumentError(absl::StrCat(
        "duration '", internal::ToAbsl(s),
        "' is not a number with a unit of ms, s, m or h (e.g. 5s)"));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(value * scale));
}

absl::StatusOr<CapturePolicy> BuildPolicy(const Invocation& inv) {
  return inv.builder.Build();
}

}  // namespace meshcap::cli
