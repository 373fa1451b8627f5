// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/istio_environment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meshcap/net.h"
#include "src/errno_status.h"
#include "src/local_addresses.h"
#include "src/status_macros.h"
#include "src/text.h"
#include "src/unique_fd.h"

namespace meshcap {
namespace {

using internal::Quote;
using internal::ToAbsl;

// resolv.conf is read up to this size.
constexpr size_t kMaxResolvConfBytes = 1 << 20;

// $ENVOY_USER's UID as Istio's istio-iptables finds it: Go's os/user in a
// binary built without cgo reads /etc/passwd and nothing else (no NSS, no
// nscd, no systemd-userdb), which is also what keeps this cheap.
std::optional<uint32_t> SystemLookupUid(const std::string& user) {
  std::ifstream in("/etc/passwd");
  std::string line;
  while (std::getline(in, line)) {
    // name:password:uid:gid:gecos:home:shell
    const size_t c1 = line.find(':');
    if (c1 == std::string::npos || line.compare(0, c1, user) != 0 ||
        c1 != user.size()) {
      continue;
    }
    const size_t c2 = line.find(':', c1 + 1);
    const size_t c3 = c2 == std::string::npos ? c2 : line.find(':', c2 + 1);
    if (c3 == std::string::npos) return std::nullopt;
    std::optional<uint64_t> uid = internal::ParseDecimal(
        std::string_view(line).substr(c2 + 1, c3 - c2 - 1), 0, 0xfffffffe);
    if (!uid.has_value()) return std::nullopt;
    return static_cast<uint32_t>(*uid);
  }
  return std::nullopt;
}

// A regular file, whole, of at most `limit` bytes.
absl::StatusOr<std::string> SystemReadFile(const std::string& path,
                                           size_t limit) {
  const std::string what = absl::StrCat("cannot read ", Quote(path));
  internal::UniqueFd fd(
      open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return internal::ErrnoStatus(errno, what, "check its permissions");
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return internal::ErrnoStatus(errno, what);
  if (S_ISDIR(st.st_mode)) return internal::ErrnoStatus(EISDIR, what);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": it has ", st.st_size, " bytes, more than the ",
                     limit, " it may have"));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return internal::ErrnoStatus(errno, what);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": more than the ", limit, " bytes it may have"));
    }
  }
  return out;
}

// resolv.conf's nameservers.
std::vector<std::string> Nameservers(const std::string& text) {
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
                           const std::string& source, PolicyBuilder& b) {
  std::vector<std::string> v4, v6;
  for (const std::string& s : servers) {
    absl::StatusOr<Cidr> c = Cidr::Parse(s);
    if (!c.ok() || s.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", Quote(s), " is not an IP address"));
    }
    (c->family() == IpFamily::kIpv4 ? v4 : v6).push_back(s);
  }
  b.Set("DNSServersV4", absl::StrJoin(v4, ","), source);
  b.Set("DNSServersV6", absl::StrJoin(v6, ","), source);
  return absl::OkStatus();
}

// The environment's value of a variable; empty counts as unset.
std::optional<IstioValue> FromEnv(const IstioEnvironment& env,
                                  const char* name) {
  if (name == nullptr || !env.getenv) return std::nullopt;
  std::optional<std::string> v = env.getenv(name);
  if (!v.has_value() || v->empty()) return std::nullopt;
  return IstioValue{*v, absl::StrCat("environment variable ", name)};
}

// Given, else the additional variable, else the primary one.
std::optional<IstioValue> Resolve(const std::optional<IstioValue>& given,
                                  const IstioEnvironment& env,
                                  const char* primary, const char* additional) {
  if (given.has_value()) return given;
  if (std::optional<IstioValue> v = FromEnv(env, additional)) return v;
  return FromEnv(env, primary);
}

}  // namespace

IstioEnvironment IstioEnvironment::System() {
  IstioEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  env.read_file = SystemReadFile;
  env.detect_ipv6 = [](bool dual_stack) {
    return internal::DetectLocalAddresses(dual_stack).ipv6;
  };
  env.lookup_uid = SystemLookupUid;
  return env;
}

std::vector<std::string> IstioEnvironmentOnlyVariables() {
  std::vector<std::string> out;
  for (const KnobInfo& k : PolicyKnobs()) {
    if (k.flag != nullptr) continue;
    if (k.env != nullptr) out.emplace_back(k.env);
    if (k.env2 != nullptr) out.emplace_back(k.env2);
  }
  out.emplace_back("ENVOY_USER");
  return out;
}

absl::Status ApplyIstioEnvironment(const IstioInputs& inputs,
                                   const IstioEnvironment& env,
                                   PolicyBuilder& b) {
  auto given = [&](const std::string& key) -> std::optional<IstioValue> {
    auto it = inputs.knobs.find(key);
    if (it == inputs.knobs.end()) return std::nullopt;
    return it->second;
  };
  // The profile decides which environment variables apply.
  Profile profile = Profile::kSidecar;
  for (const KnobInfo& k : PolicyKnobs()) {
    if (std::string_view(k.key) != "Profile") continue;
    if (auto v = Resolve(given(k.key), env, k.env, k.env2)) {
      if (v->text == "ambient") profile = Profile::kAmbient;
    }
  }
  const bool ambient = profile == Profile::kAmbient;

  std::map<std::string, std::string> set;  // what was set, by key
  std::optional<IstioValue> ipv6;          // EnableIPv6, as given
  for (const KnobInfo& k : PolicyKnobs()) {
    std::optional<IstioValue> v = given(k.key);
    const bool was_given = v.has_value();
    if (!was_given) {
      // A shared knob has the node agent's variable in the ambient
      // profile, not istio-iptables' (REDIRECT_DNS is the sidecar agent's).
      v = ambient && k.shared && k.ambient_env != nullptr
              ? FromEnv(env, k.ambient_env)
              : Resolve(std::nullopt, env, k.env, k.env2);
    }
    if (!v.has_value()) continue;
    // Another profile's variable is not for this policy; a given value of
    // its knob is a mistake Build() reports.
    const bool applies = k.shared || k.profile == profile;
    if (!applies && !was_given) continue;
    if (std::string_view(k.key) == "EnableIPv6" && was_given) {
      ipv6 = v;  // "auto" is decided below
      if (v->text == "auto" || v->text.empty()) continue;
    }
    b.Set(k.key, v->text, v->origin);
    set[k.key] = v->text;
  }

  if (ambient) {
    // Istio's node agent takes IPv6 from its configuration (AMBIENT_IPV6),
    // not from the host's addresses; per-server DNS is the sidecar's.
    if (inputs.dual_stack.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          inputs.dual_stack->origin,
          ": belongs to the sidecar profile (it widens IPv6 detection); the "
          "ambient profile takes EnableIPv6 true or false"));
    }
    if (inputs.dns_servers.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          inputs.dns_servers->origin,
          ": belongs to the sidecar profile (ambient DNS capture is not per "
          "server)"));
    }
    if (ipv6.has_value() && ipv6->text == "auto") {
      return absl::InvalidArgumentError(
          absl::StrCat(ipv6->origin,
                       ": 'auto' is the sidecar profile's "
                       "(the ambient profile takes true or "
                       "false)"));
    }
    return absl::OkStatus();
  }

  // IPv6: given true or false, else Istio's detection, widened by dual
  // stack.
  bool dual_stack = false;
  if (auto d = Resolve(inputs.dual_stack, env, kDualStackEnv, kDualStackEnv2)) {
    MESHCAP_ASSIGN_OR_RETURN(dual_stack,
                             internal::ParseBoolAt(d->origin, d->text));
  }
  if (ipv6.has_value() && ipv6->text != "auto" && !ipv6->text.empty()) {
    if (!internal::ParseGoBool(ipv6->text).has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ipv6->origin, ": ", Quote(ipv6->text),
                       " is not one of auto, true, false"));
    }
  } else if (env.detect_ipv6) {
    b.Set("EnableIPv6", env.detect_ipv6(dual_stack) ? "true" : "false",
          ipv6.has_value() ? absl::StrCat(ipv6->origin, "=auto")
                           : std::string("IPv6 detection"));
  }

  // DNS servers: given, or resolv.conf's when Istio would read it.
  auto is_true = [&](const char* key) {
    auto it = set.find(key);
    return it != set.end() && internal::ParseGoBool(it->second).value_or(false);
  };
  if (inputs.dns_servers.has_value()) {
    MESHCAP_RETURN_IF_ERROR(
        SetDnsServers(internal::SplitList(inputs.dns_servers->text),
                      inputs.dns_servers->origin, b));
  } else if (is_true("RedirectDNS") && !is_true("CaptureAllDNS") &&
             set.count("DNSServersV4") == 0 && set.count("DNSServersV6") == 0 &&
             env.read_file) {
    absl::StatusOr<std::string> text =
        env.read_file(env.resolv_conf, kMaxResolvConfBytes);
    // An unreadable resolv.conf leaves no servers, and Istio then turns DNS
    // capture off; so does meshcap.
    if (text.ok()) {
      MESHCAP_RETURN_IF_ERROR(
          SetDnsServers(Nameservers(*text), env.resolv_conf, b));
    }
  }

  // An unset proxy UID is the UID of $ENVOY_USER (istio-proxy), or 1337
  // when there is no such user.
  if (set.count("ProxyUID") == 0 && env.lookup_uid) {
    std::string user;
    if (std::optional<IstioValue> u = FromEnv(env, "ENVOY_USER")) {
      user = u->text;
    }
    if (user.empty()) user = "istio-proxy";
    if (std::optional<uint32_t> uid = env.lookup_uid(user)) {
      b.Set("ProxyUID", std::to_string(*uid),
            absl::StrCat("the UID of user ", Quote(user), " ($ENVOY_USER)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace meshcap
