// SPDX-License-Identifier: GPL-2.0-or-later
//
// The command line's flag and environment mapping, with Istio's precedence:
// default < primary env < additional env < flag.

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/cli/flags.h"
#include "tests/testing/status_matchers.h"

namespace meshcap::cli {
namespace {

using ::meshcap::testing::IsOk;
using ::meshcap::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CliTest : public ::testing::Test {
 protected:
  Environment Env() {
    Environment env;
    env.getenv = [this](const std::string& n) -> std::optional<std::string> {
      auto it = vars_.find(n);
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
    env.detect_ipv6 = [this](bool dual) {
      detect_calls_.push_back(dual);
      return detected_ipv6_;
    };
    env.lookup_uid =
        [this](const std::string& user) -> std::optional<uint32_t> {
      looked_up_.push_back(user);
      if (user == "istio-proxy" && istio_proxy_uid_) return istio_proxy_uid_;
      if (user == "envoy") return 101;
      return std::nullopt;
    };
    env.resolv_conf = "/fake/resolv.conf";
    env.read_file = [this](const std::string& path,
                           size_t) -> absl::StatusOr<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return absl::NotFoundError(path);
      return it->second;
    };
    return env;
  }

  absl::StatusOr<CapturePolicy> Parse(std::vector<std::string> args,
                                      Mode mode = Mode::kMeshcap) {
    args.insert(args.begin(),
                mode == Mode::kMeshcap ? "meshcap" : "istio-iptables");
    if (mode == Mode::kMeshcap) args.insert(args.begin() + 1, "render");
    absl::StatusOr<Invocation> inv = ParseCommandLine(args, mode, Env());
    if (!inv.ok()) return inv.status();
    last_ = *inv;
    return BuildPolicy(*inv);
  }

  std::map<std::string, std::string> vars_;
  std::map<std::string, std::string> files_;
  bool detected_ipv6_ = false;
  std::vector<bool> detect_calls_;
  std::optional<uint32_t> istio_proxy_uid_;
  std::vector<std::string> looked_up_;
  Invocation last_;
};

TEST_F(CliTest, ShortAndLongFlagsMapToKnobs) {
  absl::StatusOr<CapturePolicy> p = Parse({"-p", "15101",
                                           "-z", "15106",
                                           "-e", "15108",
                                           "-u", "3,4",
                                           "-g", "5",
                                           "-m", "TPROXY",
                                           "-b", "80,443",
                                           "-d", "9",
                                           "-c", "eth9",
                                           "-i", "198.51.100.0/24",
                                           "-x", "203.0.113.0/24",
                                           "-q", "8080",
                                           "-o", "22",
                                           "-k", "veth1",
                                           "-t", "7",
                                           "-r", "77"});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->proxy_port(), 15101);
  EXPECT_EQ(p->inbound_capture_port(), 15106);
  EXPECT_EQ(p->inbound_tunnel_port(), 15108);
  EXPECT_THAT(p->proxy_uids(), ElementsAre(3u, 4u));
  EXPECT_THAT(p->proxy_gids(), ElementsAre(5u));
  EXPECT_EQ(p->intercept_mode(), InterceptMode::kTproxy);
  EXPECT_THAT(p->inbound_ports().ports, ElementsAre(80, 443));
  EXPECT_THAT(p->inbound_ports_exclude(), ElementsAre(9));
  EXPECT_THAT(p->exclude_interfaces(), ElementsAre("eth9"));
  EXPECT_EQ(p->outbound_cidrs_include().cidrs[0].ToString(), "198.51.100.0/24");
  EXPECT_EQ(p->outbound_cidrs_exclude()[0].ToString(), "203.0.113.0/24");
  EXPECT_THAT(p->outbound_ports_include(), ElementsAre(8080));
  EXPECT_THAT(p->outbound_ports_exclude(), ElementsAre(22));
  EXPECT_THAT(p->kube_virt_interfaces(), ElementsAre("veth1"));
  EXPECT_EQ(p->tproxy_mark(), 7u);
  EXPECT_EQ(p->tproxy_route_table(), 77u);

  absl::StatusOr<CapturePolicy> l =
      Parse({"--envoy-port=15101", "--istio-inbound-ports", "*",
             "--istio-service-cidr=*", "--kube-virt-interfaces=veth1,veth2"});
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->proxy_port(), 15101);
  EXPECT_TRUE(l->inbound_ports().all);
  EXPECT_TRUE(l->outbound_cidrs_include().all);
  EXPECT_THAT(l->kube_virt_interfaces(), ElementsAre("veth1", "veth2"));
}

TEST_F(CliTest, EnvIsReadAndFlagsOverrideIt) {
  vars_["ISTIO_INBOUND_PORTS"] = "80";
  vars_["INBOUND_CAPTURE_PORT"] = "15106";
  absl::StatusOr<CapturePolicy> p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->inbound_ports().ports, ElementsAre(80));
  EXPECT_EQ(p->inbound_capture_port(), 15106);
  p = Parse({"-b", "443"});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->inbound_ports().ports, ElementsAre(443));
}

TEST_F(CliTest, RepeatedFlagTakesTheLastValue) {
  absl::StatusOr<CapturePolicy> p =
      Parse({"-b", "80", "--istio-inbound-ports=443", "--ipv6=true",
             "--ipv6=false", "--drop-invalid", "--drop-invalid=false"});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->inbound_ports().ports, ElementsAre(443));
  EXPECT_FALSE(p->ipv6());
  EXPECT_FALSE(p->drop_invalid());
}

TEST_F(CliTest, EnvoyPortHasNoEnvironmentVariable) {
  vars_["ENVOY_PORT"] = "16001";
  absl::StatusOr<CapturePolicy> p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->proxy_port(), 15001);
}

TEST_F(CliTest, EmptyFlagMeansUnset) {
  vars_["ISTIO_INBOUND_PORTS"] = "80";
  absl::StatusOr<CapturePolicy> p =
      Parse({"--istio-inbound-ports=", "-x", "", "--envoy-port="});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->inbound_ports().empty());
  EXPECT_EQ(p->proxy_port(), 15001);
  // "--flag=" must not swallow the next argument.
  p = Parse({"--istio-service-cidr=", "-z", "15106"});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->inbound_capture_port(), 15106);
  EXPECT_TRUE(p->outbound_cidrs_include().empty());
}

TEST_F(CliTest, AdditionalEnvOverridesPrimaryAndFlagOverridesBoth) {
  vars_["REDIRECT_DNS"] = "false";
  vars_["ISTIO_META_DNS_CAPTURE"] = "true";
  vars_["CAPTURE_ALL_DNS"] = "1";
  absl::StatusOr<CapturePolicy> p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->redirect_dns());
  p = Parse({"--redirect-dns=false"});
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->redirect_dns());

  vars_["DROP_INVALID"] = "true";
  vars_["INVALID_DROP"] = "False";
  p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->drop_invalid());
  p = Parse({"--drop-invalid"});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->drop_invalid());
}

TEST_F(CliTest, BadEnvBooleanIsAnError) {
  vars_["DROP_INVALID"] = "yes";
  EXPECT_THAT(Parse({}), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("DROP_INVALID: 'yes'")));
}

TEST_F(CliTest, EnvOnlyKnobs) {
  vars_["ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE"] = "888";
  vars_["ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR"] = "127.0.0.0/8";
  absl::StatusOr<CapturePolicy> p = Parse({});
  ASSERT_THAT(p, IsOk());
  ASSERT_EQ(p->owner_groups_exclude().size(), 1u);
  EXPECT_EQ(p->owner_groups_exclude()[0].gid, 888u);
  EXPECT_EQ(p->ipv4_loopback_cidr().ToString(), "127.0.0.0/8");
  // Both lists: Istio would ignore the exclude list; meshcap says so.
  vars_["ISTIO_OUTBOUND_OWNER_GROUPS"] = "202,203";
  EXPECT_THAT(Parse({}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: cannot "
                                 "be combined")));
  vars_.erase("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE");
  p = Parse({});
  ASSERT_THAT(p, IsOk());
  ASSERT_TRUE(p->owner_groups_include().has_value());
  EXPECT_EQ(p->owner_groups_include()->size(), 2u);
}

TEST_F(CliTest, ProxyUidDefaultsToEnvoyUser) {
  absl::StatusOr<CapturePolicy> p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->proxy_uids(), ElementsAre(1337u));  // no istio-proxy user
  EXPECT_THAT(looked_up_, ElementsAre("istio-proxy"));
  istio_proxy_uid_ = 999;
  p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->proxy_uids(), ElementsAre(999u));
  EXPECT_THAT(p->proxy_gids(), ElementsAre(999u));
  vars_["ENVOY_USER"] = "envoy";
  p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->proxy_uids(), ElementsAre(101u));
  looked_up_.clear();
  p = Parse({"-u", "7"});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(p->proxy_uids(), ElementsAre(7u));
  EXPECT_TRUE(looked_up_.empty());
}

TEST_F(CliTest, DnsServersFromResolvConfOnlyWhenIstioWouldRead) {
  files_["/fake/resolv.conf"] =
      "search svc.cluster.local\nnameserver 198.51.100.53\n"
      "nameserver 2001:db8::53\noptions ndots:5\n";
  absl::StatusOr<CapturePolicy> p = Parse({"--redirect-dns"});
  ASSERT_THAT(p, IsOk());
  ASSERT_EQ(p->dns_servers_v4().size(), 1u);
  EXPECT_EQ(p->dns_servers_v4()[0].AddressString(), "198.51.100.53");
  ASSERT_EQ(p->dns_servers_v6().size(), 1u);
  // Capture-all: resolv.conf is not read.
  p = Parse({"--redirect-dns", "--capture-all-dns"});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->dns_servers_v4().empty());
  // Explicit list wins; empty means none.
  p = Parse({"--redirect-dns", "--dns-servers=203.0.113.53"});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->dns_servers_v4()[0].AddressString(), "203.0.113.53");
  p = Parse({"--redirect-dns", "--dns-servers="});
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->dns_capture_enabled());
  EXPECT_THAT(
      Parse({"--dns-servers=not-an-ip"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'not-an-ip'")));
}

TEST_F(CliTest, Ipv6AutoUsesDetectionWithDualStack) {
  detected_ipv6_ = true;
  absl::StatusOr<CapturePolicy> p = Parse({});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->ipv6());
  vars_["ISTIO_DUAL_STACK"] = "true";
  p = Parse({"--ipv6=auto"});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(detect_calls_, ElementsAre(false, true));
  p = Parse({"--ipv6=false"});
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->ipv6());
  EXPECT_THAT(
      Parse({"--ipv6=maybe"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'maybe'")));
}

TEST_F(CliTest, PolicyFileIsExclusive) {
  files_["/p.json"] = R"({"InboundPortsInclude": "*", "EnableIPv6": true})";
  absl::StatusOr<CapturePolicy> p = Parse({"--policy", "/p.json"});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->inbound_ports().all);
  EXPECT_TRUE(p->ipv6());
  EXPECT_THAT(Parse({"--policy", "/p.json", "-b", "80"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot be combined with -b")));
  EXPECT_THAT(Parse({"--policy", "/p.json", "--istio-inbound-ports=80"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--istio-inbound-ports")));
  files_["/bad.json"] = R"({"InboundPortsInclude": "80,x"})";
  EXPECT_THAT(Parse({"--policy", "/bad.json"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("/bad.json: key 'InboundPortsInclude'"),
                             HasSubstr("'x'"))));
  EXPECT_THAT(
      Parse({"--policy", "/missing.json"}),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("/missing.json")));
}

TEST_F(CliTest, UnknownFlagAndBadValuesAreErrors) {
  EXPECT_THAT(
      Parse({"--no-such-flag"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no-such-flag")));
  EXPECT_THAT(
      Parse({"-p", "99999"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'99999'")));
  EXPECT_THAT(
      Parse({"--force-iptables-binary=iptables"}, Mode::kIstioIptables),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'iptables'")));
  // Istio's names, and the binaries'.
  for (const auto& [given, meant] :
       std::vector<std::pair<std::string, std::string>>{
           {"legacy", "legacy"},
           {"nft", "nft"},
           {"iptables-legacy", "legacy"},
           {"iptables-nft", "nft"}}) {
    absl::StatusOr<Invocation> inv =
        ParseCommandLine({"istio-iptables", "--force-iptables-binary=" + given},
                         Mode::kIstioIptables, Env());
    ASSERT_THAT(inv, IsOk()) << given;
    EXPECT_EQ(inv->force_iptables_binary, meant);
  }
  EXPECT_THAT(Parse({"--force-iptables-binary=legacy"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown flag '--force-iptables-binary' for "
                                 "meshcap render")));
}

TEST_F(CliTest, IstioIptablesNameTakesTheSameFlags) {
  absl::StatusOr<CapturePolicy> p =
      Parse({"-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i",
             "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "-n"},
            Mode::kIstioIptables);
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(last_.dry_run);
  EXPECT_EQ(last_.command, "istio-iptables");
  EXPECT_TRUE(p->inbound_ports().all);
}

// istio-iptables' flags, long and short, as Istio's
// tools/istio-iptables/pkg/cmd/root.go declares them (and its pkg/log
// options), in the order of its help.
constexpr std::pair<const char*, char> kIstioFlags[] = {
    {"envoy-port", 'p'},
    {"inbound-capture-port", 'z'},
    {"inbound-tunnel-port", 'e'},
    {"proxy-uid", 'u'},
    {"proxy-gid", 'g'},
    {"istio-inbound-interception-mode", 'm'},
    {"istio-inbound-ports", 'b'},
    {"istio-local-exclude-ports", 'd'},
    {"istio-exclude-interfaces", 'c'},
    {"istio-service-cidr", 'i'},
    {"istio-service-exclude-cidr", 'x'},
    {"istio-outbound-ports", 'q'},
    {"istio-local-outbound-ports-exclude", 'o'},
    {"kube-virt-interfaces", 'k'},
    {"istio-inbound-tproxy-mark", 't'},
    {"istio-inbound-tproxy-route-table", 'r'},
    {"dry-run", 'n'},
    {"iptables-probe-port", 0},
    {"probe-timeout", 0},
    {"skip-rule-apply", 0},
    {"run-validation", 0},
    {"redirect-dns", 0},
    {"drop-invalid", 0},
    {"dual-stack", 0},
    {"capture-all-dns", 0},
    {"network-namespace", 0},
    {"cni-mode", 0},
    {"reconcile", 0},
    {"cleanup-only", 0},
    {"force-apply", 0},
    {"native-nftables", 0},
    {"force-iptables-binary", 0},
    {"log_as_json", 0},
    {"log_caller", 0},
    {"log_output_level", 0},
    {"log_rotate", 0},
    {"log_rotate_max_age", 0},
    {"log_rotate_max_backups", 0},
    {"log_rotate_max_size", 0},
    {"log_stacktrace_level", 0},
    {"log_target", 0},
    {"help", 'h'},
};
// What meshcap adds under that name.
constexpr const char* kAdditions[] = {
    "profile",         "ipv6",          "dns-servers",
    "policy",          "version",       "probe-snat-ipv4",
    "probe-snat-ipv6", "ingress",       "virtual-interfaces",
    "pod-dns",         "compact-lists",
};

TEST_F(CliTest, IstioIptablesTakesExactlyIstiosFlagsPlusDeclaredAdditions) {
  // What the help lists: "  -p, --envoy-port string  ..." per flag.
  std::map<std::string, char> listed;
  std::set<std::string> takes_value;
  std::istringstream help(Usage(Mode::kIstioIptables, ""));
  for (std::string line; std::getline(help, line);) {
    const size_t dashes = line.find("--");
    if (line.rfind("  ", 0) != 0 || dashes == std::string::npos ||
        line.find_first_not_of(" -,abcdefghijklmnopqrstuvwxyz") < dashes) {
      continue;
    }
    const size_t end = line.find(' ', dashes);
    const size_t dash = line.find('-');
    const char short_name =
        dash + 1 < dashes && line[dash + 1] != '-' ? line[dash + 1] : 0;
    const std::string name = line.substr(dashes + 2, end - dashes - 2);
    listed[name] = short_name;
    if (line.compare(end, 8, " string ") == 0) takes_value.insert(name);
  }
  std::map<std::string, char> want;
  for (const auto& [name, short_name] : kIstioFlags) want[name] = short_name;
  for (const char* name : kAdditions) want[name] = 0;
  EXPECT_EQ(listed, want);
  // And each is taken, in Istio's spelling.
  for (const auto& [name, short_name] : kIstioFlags) {
    if (std::string_view(name) == "help") continue;
    // Empty means the default; a boolean flag alone means true.
    const std::string arg =
        std::string("--") + name + (takes_value.count(name) > 0 ? "=" : "");
    absl::StatusOr<Invocation> inv =
        ParseCommandLine({"istio-iptables", arg}, Mode::kIstioIptables, Env());
    EXPECT_THAT(inv, IsOk()) << name;
  }
}

TEST_F(CliTest, KernelSubcommandsTakeBackendNetnsAndPolicyFlags) {
  for (const char* command : {"apply", "verify"}) {
    absl::StatusOr<Invocation> inv =
        ParseCommandLine({"meshcap", command, "--backend=nftables", "--netns",
                          "/var/run/netns/pod", "-p", "15101"},
                         Mode::kMeshcap, Env());
    ASSERT_THAT(inv, IsOk()) << command;
    EXPECT_EQ(inv->command, command);
    EXPECT_EQ(inv->backend, "nftables");
    EXPECT_EQ(inv->netns, "/var/run/netns/pod");
    absl::StatusOr<CapturePolicy> p = BuildPolicy(*inv);
    ASSERT_THAT(p, IsOk());
    EXPECT_EQ(p->proxy_port(), 15101);
  }
  absl::StatusOr<Invocation> inv =
      ParseCommandLine({"meshcap", "apply"}, Mode::kMeshcap, Env());
  ASSERT_THAT(inv, IsOk());
  EXPECT_EQ(inv->backend, "auto");
  EXPECT_THAT(
      ParseCommandLine({"meshcap", "apply", "--backend=pf"}, Mode::kMeshcap,
                       Env()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'pf' is not one of nftables, iptables-legacy, "
                         "iptables-nft, iptables, auto")));
  for (const char* b : {"iptables", "iptables-nft", "iptables-legacy"}) {
    inv = ParseCommandLine({"meshcap", "apply", std::string("--backend=") + b},
                           Mode::kMeshcap, Env());
    ASSERT_THAT(inv, IsOk()) << b;
    EXPECT_EQ(inv->backend, b);
  }
  EXPECT_THAT(ParseCommandLine({"meshcap", "apply", "--backend=nftables",
                                "--backend=iptables-legacy"},
                               Mode::kMeshcap, Env()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--backend is given more than once")));
  EXPECT_THAT(
      ParseCommandLine({"meshcap", "apply", "--netns=/a", "--netns", "/b"},
                       Mode::kMeshcap, Env()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("--netns is given more than once")));
  EXPECT_THAT(
      ParseCommandLine({"meshcap", "render", "--backend=auto"}, Mode::kMeshcap,
                       Env()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'auto'")));
}

TEST_F(CliTest, CleanNeedsNoPolicyAndReadsNoEnvironment) {
  vars_["ISTIO_INBOUND_INTERCEPTION_MODE"] = "foo";
  vars_["PROXY_UID"] = "abc";
  absl::StatusOr<Invocation> inv = ParseCommandLine(
      {"meshcap", "clean", "--backend=nftables", "-m", "bogus"}, Mode::kMeshcap,
      Env());
  ASSERT_THAT(inv, IsOk());
  EXPECT_FALSE(inv->needs_policy);
  EXPECT_TRUE(looked_up_.empty());
  inv = ParseCommandLine({"istio-iptables", "--cleanup-only"},
                         Mode::kIstioIptables, Env());
  ASSERT_THAT(inv, IsOk());
  EXPECT_TRUE(inv->cleanup_only);
  EXPECT_FALSE(inv->needs_policy);
  vars_["CLEANUP_ONLY"] = "true";
  inv = ParseCommandLine({"istio-iptables"}, Mode::kIstioIptables, Env());
  ASSERT_THAT(inv, IsOk());
  EXPECT_FALSE(inv->needs_policy);
  EXPECT_TRUE(looked_up_.empty());
}

TEST_F(CliTest, DualStackIsAFlagToo) {
  detected_ipv6_ = true;
  absl::StatusOr<CapturePolicy> p = Parse({"--dual-stack"});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(detect_calls_, ElementsAre(true));
  p = Parse({"--dual-stack=false"});
  ASSERT_THAT(p, IsOk());
  EXPECT_THAT(detect_calls_, ElementsAre(true, false));
}

TEST_F(CliTest, AmbientFlags) {
  absl::StatusOr<CapturePolicy> p = Parse(
      {"--profile=ambient", "--redirect-dns=true", "--ipv6=false", "--ingress",
       "--virtual-interfaces=net1,net2", "--pod-dns=disabled",
       "--probe-snat-ipv4=169.254.7.127", "--probe-snat-ipv6=fd16::1"});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->profile(), Profile::kAmbient);
  EXPECT_TRUE(p->redirect_dns());
  EXPECT_FALSE(p->dns_capture_enabled());
  EXPECT_TRUE(p->ingress_mode());
  EXPECT_THAT(p->virtual_interfaces(), ElementsAre("net1", "net2"));
  // A sidecar flag in an ambient policy, and the other way round.
  EXPECT_THAT(Parse({"--profile=ambient", "-p", "15001"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("-p"), HasSubstr("sidecar profile"))));
  EXPECT_THAT(Parse({"--ingress"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("ambient profile")));
  // Sidecar environment variables do not leak into an ambient policy.
  vars_["ISTIO_INBOUND_PORTS"] = "80";
  EXPECT_THAT(Parse({"--profile=ambient"}), IsOk());
  // The contract's values only.
  EXPECT_THAT(Parse({"--profile=ambient", "--pod-dns=1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'1' is not one of enabled, disabled")));
  EXPECT_THAT(Parse({"--profile=ambient", "--ipv6=auto"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("takes true or false")));
  EXPECT_THAT(Parse({"--profile=ambient", "--dual-stack"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sidecar profile")));
}

TEST_F(CliTest, AmbientDefaultsAreTheNodeAgentsNotTheHosts) {
  // Istio's node agent: AMBIENT_DNS_CAPTURE and AMBIENT_IPV6, both on.
  detected_ipv6_ = false;
  vars_["ISTIO_META_DNS_CAPTURE"] = "false";
  vars_["REDIRECT_DNS"] = "false";
  vars_["ISTIO_DUAL_STACK"] = "false";
  absl::StatusOr<CapturePolicy> p = Parse({"--profile=ambient"});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->redirect_dns());
  EXPECT_TRUE(p->ipv6());
  EXPECT_THAT(detect_calls_, ::testing::IsEmpty());
  // The node agent's variables, then the flags, decide.
  vars_["AMBIENT_DNS_CAPTURE"] = "false";
  vars_["AMBIENT_IPV6"] = "false";
  p = Parse({"--profile=ambient"});
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->redirect_dns());
  EXPECT_FALSE(p->ipv6());
  p = Parse({"--profile=ambient", "--redirect-dns=true", "--ipv6=true"});
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->redirect_dns());
  EXPECT_TRUE(p->ipv6());
  // A JSON policy of the ambient profile has the same defaults.
  absl::StatusOr<CapturePolicy> j =
      PolicyBuilder().SetProfile(Profile::kAmbient).Build();
  ASSERT_THAT(j, IsOk());
  EXPECT_TRUE(j->redirect_dns());
  EXPECT_TRUE(j->ipv6());
}

TEST_F(CliTest, ErrorsQuoteValuesOnOnePrintableLine) {
  absl::StatusOr<CapturePolicy> p = Parse({"-p", "1\n2\x1b[0m"});
  ASSERT_FALSE(p.ok());
  const std::string msg(p.status().message());
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  EXPECT_THAT(msg, HasSubstr("'1\\n2\\x1b[0m'"));
}

TEST_F(CliTest, HelpShowsDescriptionsAndDefaults) {
  absl::StatusOr<Invocation> inv =
      ParseCommandLine({"meshcap", "apply", "--help"}, Mode::kMeshcap, Env());
  ASSERT_THAT(inv, IsOk());
  EXPECT_THAT(inv->early_output,
              AllOf(HasSubstr("-p, --envoy-port string"),
                    HasSubstr("Specify the envoy port to which redirect all "
                              "TCP traffic. (default \"15001\")"),
                    HasSubstr("[env INBOUND_CAPTURE_PORT]"),
                    HasSubstr("--dual-stack"), HasSubstr("--netns")));
  inv = ParseCommandLine({"istio-iptables", "-h"}, Mode::kIstioIptables, Env());
  ASSERT_THAT(inv, IsOk());
  EXPECT_THAT(inv->early_output, HasSubstr("--run-validation"));
}

}  // namespace
}  // namespace meshcap::cli

namespace meshcap::cli {
namespace {

TEST(ExitCodeTest, EachErrorClassHasItsStatus) {
  EXPECT_EQ(ExitCode(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCode(absl::InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCode(absl::NotFoundError("x")), 2);
  EXPECT_EQ(ExitCode(absl::UnimplementedError("x")), 2);
  EXPECT_EQ(ExitCode(absl::PermissionDeniedError("x")), 3);
  EXPECT_EQ(ExitCode(absl::UnavailableError("x")), 4);
  EXPECT_EQ(ExitCode(absl::DeadlineExceededError("x")), 4);
  EXPECT_EQ(ExitCode(absl::InternalError("x")), 5);
  EXPECT_EQ(ExitCode(absl::AbortedError("x")), 5);
  // 1 is verify's "the kernel differs": no error maps to it.
  for (int c = 1; c <= 16; ++c) {
    EXPECT_NE(ExitCode(absl::Status(static_cast<absl::StatusCode>(c), "x")), 1);
  }
}

}  // namespace
}  // namespace meshcap::cli
