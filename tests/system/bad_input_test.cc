// SPDX-License-Identifier: GPL-2.0-or-later
//
// Malformed input, as a user gives it: flags, environment variables and
// JSON policy files, to every command and to the istio-iptables name. Each
// case runs the meshcap binary in a namespace where a capture is already
// installed (and a foreign nftables table, legacy rule and route sit beside
// it), and must:
//   - exit with the status of its error class (meshcap::cli::ExitCode:
//     2 bad input, 3 no permission, ...);
//   - print exactly one line on stderr, all printable ASCII, containing the
//     expected fragment (which names the offending value), and nothing on
//     stdout;
//   - leave the kernel exactly as it was (nft list ruleset, both legacy
//     families' tables, ip rules, routes and addresses).

#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/netns.h"

namespace meshcap {
namespace {

using ::meshcap::testing::CommandResult;
using ::meshcap::testing::Shell;

const std::string kMeshcap = MESHCAP_CLI;

struct BadInput {
  const char* name;
  // Command line after the program; {dir} is the case directory, which
  // holds the policy file p.json (`policy`) and an istio-iptables link.
  // Runs under /bin/sh: control characters come from $(printf ...).
  const char* args;
  // Environment assignments (sh syntax), on top of an empty environment.
  const char* env;
  // The policy file's contents, if any.
  const char* policy;
  int exit_code;
  const char* fragment;
};

// clang-format off
const BadInput kCases[] = {
  // --- flags: ports
  {"port_not_a_number", "apply -p abc", "", nullptr, 2, "-p: 'abc' is not a port number"},
  {"port_zero", "apply -p 0", "", nullptr, 2, "port '0' is out of range (1-65535)"},
  {"port_too_big", "apply -p 65536", "", nullptr, 2, "port '65536' is out of range"},
  {"port_negative", "apply -p -1", "", nullptr, 2, "-p: '-1' is not a port number"},
  {"inbound_capture_port_too_big", "apply -z 99999", "", nullptr, 2, "-z: port '99999'"},
  {"tunnel_port_word", "apply -e tunnel", "", nullptr, 2, "-e: 'tunnel' is not a port number"},
  {"inbound_ports_dotted", "apply -b 1.2.3", "", nullptr, 2, "-b: '1.2.3' is not a port number"},
  {"inbound_ports_range", "apply -b 80-90", "", nullptr, 2, "'80-90' is not a port number"},
  {"inbound_ports_one_bad", "apply -b 80,x,90", "", nullptr, 2, "-b: 'x' is not a port number"},
  {"local_exclude_ports", "apply -d abc", "", nullptr, 2, "-d: 'abc' is not a port number"},
  {"outbound_exclude_ports", "apply -o x", "", nullptr, 2, "-o: 'x' is not a port number"},
  {"outbound_include_ports", "apply -q 70000", "", nullptr, 2, "-q: port '70000' is out of range"},
  {"port_with_newline", "apply -q \"$(printf '80\\n81')\"", "", nullptr, 2, "'80\\n81' is not a port number"},
  {"port_with_escape", "apply -p \"$(printf '\\033[31m')\"", "", nullptr, 2, "'\\x1b[31m' is not a port number"},
  {"port_utf8", "apply -p \"$(printf '\\303\\251')\"", "", nullptr, 2, "'\\xc3\\xa9' is not a port number"},
  // --- flags: CIDRs and addresses
  {"cidr_octet", "apply -i 300.1.1.1/8", "", nullptr, 2, "-i: '300.1.1.1/8' is not a valid CIDR"},
  {"cidr_prefix_v4", "apply -i 10.0.0.0/33", "", nullptr, 2, "'10.0.0.0/33' is not a valid CIDR: IPv4 prefix length above 32"},
  {"cidr_no_prefix", "apply -i 10.0.0.0/", "", nullptr, 2, "'10.0.0.0/' is not a valid CIDR: bad prefix length"},
  {"cidr_prefix_v6", "apply -x 2001:db8::/129", "", nullptr, 2, "-x: '2001:db8::/129' is not a valid CIDR"},
  {"cidr_word", "apply -x hello", "", nullptr, 2, "'hello' is not a valid CIDR"},
  {"cidr_second_bad", "apply -i 198.51.100.0/24,bad", "", nullptr, 2, "-i: 'bad' is not a valid CIDR"},
  {"dns_servers_word", "apply --redirect-dns --dns-servers=bogus", "", nullptr, 2, "--dns-servers: 'bogus' is not an IP address"},
  {"probe_snat_v6_given_v4", "apply --profile=ambient --probe-snat-ipv6=198.51.100.1", "", nullptr, 2, "'198.51.100.1' is not an IPv6 address"},
  {"probe_snat_v4_word", "apply --profile=ambient --probe-snat-ipv4=x", "", nullptr, 2, "--probe-snat-ipv4: 'x' is not an IPv4 address"},
  // --- flags: owners, marks, tables, modes
  {"uid_word", "apply -u abc", "", nullptr, 2, "-u: 'abc' is not a decimal UID"},
  {"uid_negative", "apply -u -1", "", nullptr, 2, "-u: '-1' is not a decimal UID"},
  {"uid_too_big", "apply -u 4294967296", "", nullptr, 2, "UID '4294967296' is out of range"},
  {"gid_word", "apply -g abc", "", nullptr, 2, "-g: 'abc' is not a decimal GID"},
  {"mode_unknown", "apply -m FOO", "", nullptr, 2, "unknown interception mode 'FOO'"},
  {"mark_word", "apply -t abc", "", nullptr, 2, "-t: 'abc' is not a decimal mark"},
  {"mark_too_big", "apply -t 4294967296", "", nullptr, 2, "'4294967296'"},
  {"route_table_word", "apply -r abc", "", nullptr, 2, "-r: 'abc' is not a decimal route table"},
  {"profile_unknown", "apply --profile=foo", "", nullptr, 2, "unknown profile 'foo'"},
  {"pod_dns_unknown", "apply --profile=ambient --pod-dns=foo", "", nullptr, 2, "--pod-dns: 'foo' is not one of enabled, disabled"},
  {"ambient_knob_in_sidecar", "apply --probe-snat-ipv4=198.51.100.1", "", nullptr, 2, "belongs to the ambient profile"},
  {"sidecar_knob_in_ambient", "apply --profile=ambient -m TPROXY", "", nullptr, 2, "belongs to the sidecar profile"},
  // --- flags: interfaces
  {"interface_space", "apply -k 'eth0 bad'", "", nullptr, 2, "interface name 'eth0 bad' contains an illegal character"},
  {"interface_too_long", "apply -k averyveryverylongname", "", nullptr, 2, "is longer than 15 characters"},
  {"interface_slash", "apply -c a/b", "", nullptr, 2, "interface name 'a/b' contains an illegal character"},
  {"interface_dotdot", "apply -c ..", "", nullptr, 2, "'..' is not a valid interface name"},
  {"interface_colon", "apply -c eth0:1", "", nullptr, 2, "'eth0:1' contains an illegal character"},
  {"virtual_interface_slash", "apply --profile=ambient --virtual-interfaces=a/b", "", nullptr, 2, "--virtual-interfaces: interface name 'a/b'"},
  // --- flags: booleans and choices
  {"bool_word", "apply --redirect-dns=maybe", "", nullptr, 2, "--redirect-dns: 'maybe' is not a boolean"},
  {"ingress_word", "apply --profile=ambient --ingress=maybe", "", nullptr, 2, "--ingress: 'maybe' is not a boolean"},
  {"ipv6_word", "apply --ipv6=perhaps", "", nullptr, 2, "--ipv6: 'perhaps' is not one of auto, true, false"},
  {"ipv6_ambient_auto", "apply --profile=ambient --ipv6=auto", "", nullptr, 2, "--ipv6: 'auto' is the sidecar profile's"},
  {"backend_unknown", "apply --backend=pf", "", nullptr, 2, "--backend: 'pf' is not one of"},
  {"backend_twice", "apply --backend=nftables --backend=iptables-legacy", "", nullptr, 2, "--backend is given more than once ('nftables' and 'iptables-legacy')"},
  {"render_backend_auto", "render --backend=auto", "", nullptr, 2, "--backend: 'auto' is not one of nftables, iptables-legacy"},
  // --- flags: grammar
  {"unknown_flag", "apply --frobnicate", "", nullptr, 2, "unknown flag '--frobnicate' for meshcap apply"},
  {"unknown_command", "frob", "", nullptr, 2, "unknown command 'frob'"},
  {"missing_value", "apply -p", "", nullptr, 2, "-p needs a value"},
  {"stray_argument", "apply extra", "", nullptr, 2, "unexpected argument 'extra'"},
  {"bool_as_separate_word", "apply --redirect-dns true", "", nullptr, 2, "unexpected argument 'true'"},
  {"render_takes_no_netns", "render --netns=/x", "", nullptr, 2, "unknown flag '--netns' for meshcap render"},
  // --- flags: files and namespaces
  {"netns_missing", "apply --netns=/nonexistent", "", nullptr, 2, "cannot open network namespace '/nonexistent': No such file or directory"},
  {"netns_regular_file", "apply --netns=/etc/passwd", "", nullptr, 2, "'/etc/passwd' is not a network namespace file"},
  {"netns_mount_namespace", "apply --netns=/proc/self/ns/mnt", "", nullptr, 2, "'/proc/self/ns/mnt' is a namespace file, but not of a network namespace"},
  {"verify_netns_missing", "verify --netns=/nonexistent", "", nullptr, 2, "'/nonexistent'"},
  {"clean_netns_missing", "clean --netns=/nonexistent", "", nullptr, 2, "'/nonexistent'"},
  {"validate_netns_missing", "validate --netns=/nonexistent", "", nullptr, 2, "'/nonexistent'"},
  {"validate_timeout_word", "validate --probe-timeout=5", "", nullptr, 2, "duration '5'"},
  {"policy_missing", "apply --policy={dir}/nope.json", "", nullptr, 2, "nope.json': No such file or directory (ENOENT)"},
  {"policy_directory", "apply --policy={dir}", "", nullptr, 2, "Is a directory (EISDIR)"},
  {"policy_device", "apply --policy=/dev/zero", "", nullptr, 2, "cannot read '/dev/zero': not a regular file"},
  {"policy_empty_path", "apply --policy=", "", nullptr, 2, "--policy: cannot read ''"},
  {"policy_and_flag", "apply --policy={dir}/p.json -p 1", "", "{}", 2, "--policy cannot be combined with -p"},
  {"policy_too_large", "apply --policy={dir}/big.json", "", nullptr, 2, "more than the 1048576 it may have"},
  // --- environment
  {"env_mode", "apply", "ISTIO_INBOUND_INTERCEPTION_MODE=foo", nullptr, 2, "environment variable ISTIO_INBOUND_INTERCEPTION_MODE: unknown interception mode 'foo'"},
  {"env_inbound_ports", "apply", "ISTIO_INBOUND_PORTS=abc", nullptr, 2, "environment variable ISTIO_INBOUND_PORTS: 'abc' is not a port number"},
  {"env_service_cidr", "apply", "ISTIO_SERVICE_CIDR=bad", nullptr, 2, "environment variable ISTIO_SERVICE_CIDR: 'bad' is not a valid CIDR"},
  {"env_exclude_cidr", "apply", "ISTIO_SERVICE_EXCLUDE_CIDR=198.51.100.0/40", nullptr, 2, "ISTIO_SERVICE_EXCLUDE_CIDR: '198.51.100.0/40'"},
  {"env_local_exclude_ports", "apply", "ISTIO_LOCAL_EXCLUDE_PORTS=x", nullptr, 2, "ISTIO_LOCAL_EXCLUDE_PORTS: 'x' is not a port number"},
  {"env_outbound_ports_newline", "apply", "ISTIO_OUTBOUND_PORTS=\"$(printf '80\\n81')\"", nullptr, 2, "ISTIO_OUTBOUND_PORTS: '80\\n81'"},
  {"env_dns_capture", "apply", "ISTIO_META_DNS_CAPTURE=maybe", nullptr, 2, "ISTIO_META_DNS_CAPTURE: 'maybe' is not a boolean"},
  {"env_redirect_dns", "apply", "REDIRECT_DNS=2", nullptr, 2, "REDIRECT_DNS: '2' is not a boolean"},
  {"env_owner_groups_both", "apply", "ISTIO_OUTBOUND_OWNER_GROUPS=1 ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE=2", nullptr, 2, "cannot be combined with environment variable ISTIO_OUTBOUND_OWNER_GROUPS"},
  {"env_owner_group_unknown", "apply", "ISTIO_OUTBOUND_OWNER_GROUPS=nosuchgroupmeshcap", nullptr, 2, "group 'nosuchgroupmeshcap' does not exist"},
  {"env_tproxy_mark", "apply", "ISTIO_INBOUND_TPROXY_MARK=zzz", nullptr, 2, "ISTIO_INBOUND_TPROXY_MARK: 'zzz' is not a decimal mark"},
  {"env_route_table", "apply", "ISTIO_INBOUND_TPROXY_ROUTE_TABLE=abc", nullptr, 2, "ISTIO_INBOUND_TPROXY_ROUTE_TABLE: 'abc'"},
  {"env_exclude_interfaces", "apply", "ISTIO_EXCLUDE_INTERFACES='bad name'", nullptr, 2, "ISTIO_EXCLUDE_INTERFACES: interface name 'bad name'"},
  {"env_virt_interfaces_escape", "apply", "KUBE_VIRT_INTERFACES=\"$(printf 'e\\033th')\"", nullptr, 2, "interface name 'e\\x1bth' contains an illegal character"},
  {"env_proxy_uid", "apply", "PROXY_UID=abc", nullptr, 2, "PROXY_UID: 'abc' is not a decimal UID"},
  {"env_proxy_gid", "apply", "PROXY_GID=-5", nullptr, 2, "PROXY_GID: '-5' is not a decimal GID"},
  {"env_capture_port", "apply", "INBOUND_CAPTURE_PORT=0", nullptr, 2, "INBOUND_CAPTURE_PORT: port '0' is out of range"},
  {"env_tunnel_port", "apply", "INBOUND_TUNNEL_PORT=x", nullptr, 2, "INBOUND_TUNNEL_PORT: 'x' is not a port number"},
  {"env_loopback_cidr_prefix", "apply", "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR=127.0.0.1/40", nullptr, 2, "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/40'"},
  {"env_loopback_cidr_not_loopback", "apply", "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR=198.51.100.0/24", nullptr, 2, "'198.51.100.0/24' is not an IPv4 loopback prefix"},
  {"env_dual_stack", "apply", "DUAL_STACK=yes", nullptr, 2, "DUAL_STACK: 'yes' is not a boolean"},
  {"env_istio_dual_stack", "apply", "ISTIO_DUAL_STACK=nope", nullptr, 2, "ISTIO_DUAL_STACK: 'nope'"},
  {"env_drop_invalid", "apply", "DROP_INVALID=x", nullptr, 2, "DROP_INVALID: 'x' is not a boolean"},
  {"env_invalid_drop", "apply", "INVALID_DROP=nope", nullptr, 2, "INVALID_DROP: 'nope'"},
  {"env_capture_all_dns", "apply", "CAPTURE_ALL_DNS=x", nullptr, 2, "CAPTURE_ALL_DNS: 'x' is not a boolean"},
  {"env_profile", "apply", "MESHCAP_PROFILE=ztunnel", nullptr, 2, "MESHCAP_PROFILE: unknown profile 'ztunnel'"},
  {"env_backend", "apply", "MESHCAP_BACKEND=pf", nullptr, 2, "environment variable MESHCAP_BACKEND: unknown backend 'pf'"},
  {"env_probe_snat_ambient", "apply", "MESHCAP_PROFILE=ambient HOST_PROBE_SNAT_IP=x", nullptr, 2, "HOST_PROBE_SNAT_IP: 'x' is not an IPv4 address"},
  {"env_verify_reads_it_too", "verify", "ISTIO_SERVICE_CIDR=bad", nullptr, 2, "ISTIO_SERVICE_CIDR: 'bad'"},
  {"env_render_reads_it_too", "render", "ISTIO_SERVICE_CIDR=bad", nullptr, 2, "ISTIO_SERVICE_CIDR: 'bad'"},
  // --- JSON policy files
  {"json_truncated", "apply --policy={dir}/p.json", "", "{", 2, "p.json: not valid JSON: parse error at line 1, column 2"},
  {"json_empty", "apply --policy={dir}/p.json", "", "", 2, "p.json: not valid JSON"},
  {"json_trailing_garbage", "apply --policy={dir}/p.json", "", "{} x", 2, "p.json: not valid JSON"},
  {"json_array", "apply --policy={dir}/p.json", "", "[]", 2, "p.json: expected a JSON object, got array"},
  {"json_deeply_nested", "apply --policy={dir}/p.json", "", nullptr, 2, "p.json: expected a JSON object, got array"},
  {"json_bad_utf8", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": \"\xff\xfe\"}", 2, "ill-formed UTF-8 byte"},
  {"json_number_overflow", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": 1e400}", 2, "number overflow parsing '1e400'"},
  {"json_unknown_key", "apply --policy={dir}/p.json", "", "{\"Foo\": 1}", 2, "p.json: key 'Foo': unknown policy key"},
  {"json_repeated_key", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": 15001,\n \"ProxyPort\": 1}", 2, "key 'ProxyPort' is given twice"},
  {"json_bool_as_string", "apply --policy={dir}/p.json", "", "{\"EnableIPv6\": \"yes\"}", 2, "key 'EnableIPv6': expected true or false, got string"},
  {"json_port_word", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": \"abc\"}", 2, "key 'ProxyPort': 'abc' is not a port number"},
  {"json_port_range", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": 70000}", 2, "key 'ProxyPort': port '70000' is out of range"},
  {"json_port_negative", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": -1}", 2, "key 'ProxyPort': '-1' is not a port number"},
  {"json_port_fraction", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": 15001.5}", 2, "key 'ProxyPort': expected a whole number or a string, got 15001.5"},
  {"json_port_object", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": {}}", 2, "key 'ProxyPort': expected a string or a number, got object"},
  {"json_port_null", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": null}", 2, "got null"},
  {"json_port_bool", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": true}", 2, "got boolean"},
  {"json_port_nul", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": \"80\\u0000\"}", 2, "key 'ProxyPort': '80\\x00' is not a port number"},
  {"json_port_newline", "apply --policy={dir}/p.json", "", "{\"ProxyPort\": \"8\\n0\"}", 2, "key 'ProxyPort': '8\\n0'"},
  {"json_key_escape", "apply --policy={dir}/p.json", "", "{\"Pro\\u001bxyPort\": \"1\"}", 2, "key 'Pro\\x1bxyPort': unknown policy key"},
  {"json_cidr", "apply --policy={dir}/p.json", "", "{\"OutboundIPRangesInclude\": \"300.0.0.0/8\"}", 2, "key 'OutboundIPRangesInclude': '300.0.0.0/8' is not a valid CIDR"},
  {"json_cidr_list_item", "apply --policy={dir}/p.json", "", "{\"OutboundIPRangesExclude\": [\"198.51.100.0/24\", \"x\"]}", 2, "key 'OutboundIPRangesExclude': 'x' is not a valid CIDR"},
  {"json_mode", "apply --policy={dir}/p.json", "", "{\"InboundInterceptionMode\": \"FOO\"}", 2, "key 'InboundInterceptionMode': unknown interception mode 'FOO'"},
  {"json_uid", "apply --policy={dir}/p.json", "", "{\"ProxyUID\": \"x\"}", 2, "key 'ProxyUID': 'x' is not a decimal UID"},
  {"json_mark", "apply --policy={dir}/p.json", "", "{\"InboundTProxyMark\": \"0x1ffffffff\"}", 2, "key 'InboundTProxyMark': '0x1ffffffff'"},
  {"json_interface", "apply --policy={dir}/p.json", "", "{\"ExcludeInterfaces\": \"a/b\"}", 2, "key 'ExcludeInterfaces': interface name 'a/b'"},
  {"json_dns_v4", "apply --policy={dir}/p.json", "", "{\"DNSServersV4\": \"not-ip\"}", 2, "key 'DNSServersV4': 'not-ip' is not an IPv4 address"},
  {"json_dns_v6_given_v4", "apply --policy={dir}/p.json", "", "{\"DNSServersV6\": \"198.51.100.1\"}", 2, "key 'DNSServersV6': '198.51.100.1' is not an IPv6 address"},
  {"json_owner_groups_both", "apply --policy={dir}/p.json", "", "{\"OwnerGroupsInclude\": \"1\", \"OwnerGroupsExclude\": \"2\"}", 2, "cannot be combined with"},
  {"json_profile_mismatch", "apply --policy={dir}/p.json", "", "{\"Profile\": \"ambient\", \"InboundInterceptionMode\": \"TPROXY\"}", 2, "key 'InboundInterceptionMode': InboundInterceptionMode belongs to the sidecar profile"},
  {"json_verify", "verify --policy={dir}/p.json", "", "{\"ProxyPort\": 0}", 2, "key 'ProxyPort': port '0' is out of range"},
  {"json_render", "render --policy={dir}/p.json", "", "{\"ProxyPort\": 0}", 2, "key 'ProxyPort': port '0' is out of range"},
  // --- the istio-iptables name
  {"istio_port", "{dir}/istio-iptables -p abc", "", nullptr, 2, "-p: 'abc' is not a port number"},
  {"istio_env", "{dir}/istio-iptables", "ISTIO_SERVICE_CIDR=bad", nullptr, 2, "ISTIO_SERVICE_CIDR: 'bad'"},
  {"istio_probe_port", "{dir}/istio-iptables --run-validation --iptables-probe-port=0", "", nullptr, 2, "--iptables-probe-port: '0' is not a port number"},
  {"istio_probe_timeout", "{dir}/istio-iptables --run-validation --probe-timeout=xyz", "", nullptr, 2, "--probe-timeout: duration 'xyz'"},
  {"istio_iptables_binary", "{dir}/istio-iptables --force-iptables-binary=foo", "", nullptr, 2, "--force-iptables-binary: 'foo' is not one of legacy, nft"},
  {"istio_netns_missing", "{dir}/istio-iptables --network-namespace=/nonexistent", "", nullptr, 2, "'/nonexistent'"},
  {"istio_no_backend_flag", "{dir}/istio-iptables --backend=nftables", "", nullptr, 2, "unknown flag '--backend'"},
};
// clang-format on

// Everything the kernel holds that meshcap could touch, ours or not.
std::string KernelState() {
  return Shell(
             "nft list ruleset; iptables-legacy-save | grep -v '^#'; "
             "ip6tables-legacy-save | grep -v '^#'; ip rule; ip -6 rule; "
             "ip route show table all; ip -6 route show table all; ip addr")
      .output;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string StateDir() {
  const char* d = getenv("MESHCAP_STATE_DIR");
  return d != nullptr ? d : "";
}

class BadInputTest : public ::testing::Test {
 protected:
  // Runs `command` (sh syntax) and checks that it failed with `exit_code`,
  // nothing on stdout and one printable line on stderr holding `fragment`.
  void ExpectOneLineFailure(const std::string& command, int exit_code,
                            ::testing::Matcher<std::string> fragment) {
    const std::string out = *dir_ + "/out", err = *dir_ + "/err";
    CommandResult r =
        Shell(absl::StrCat("( ", command, " >", out, " 2>", err, " )"));
    const std::string stdout_text = ReadFile(out), stderr_text = ReadFile(err);
    EXPECT_EQ(r.exit_code, exit_code) << command << "\n" << stderr_text;
    EXPECT_EQ(stdout_text, "") << command;
    ASSERT_FALSE(stderr_text.empty()) << command;
    EXPECT_EQ(stderr_text.find('\n'), stderr_text.size() - 1) << command << "\n"
                                                              << stderr_text;
    for (size_t i = 0; i + 1 < stderr_text.size(); ++i) {
      const auto ch = static_cast<unsigned char>(stderr_text[i]);
      EXPECT_TRUE(ch >= 0x20 && ch < 0x7f)
          << "byte " << i << " is " << static_cast<int>(ch) << " in "
          << stderr_text;
    }
    EXPECT_THAT(stderr_text, fragment) << command;
  }

  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/meshcap-bad-input-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    Shell("ln -s " + kMeshcap + " " + *dir_ + "/istio-iptables");
    // A copy an unprivileged user can run: the build tree may sit under a
    // directory only root may enter (root's home; a mktemp -d checkout).
    Shell("chmod 0755 " + *dir_ + " && cp " + kMeshcap + " " + *dir_ +
          "/meshcap && chmod 0755 " + *dir_ + "/meshcap");
    std::ofstream(*dir_ + "/big.json") << std::string(2 << 20, ' ');
  }
  static void TearDownTestSuite() {
    Shell("rm -rf " + *dir_);
    delete dir_;
  }
  static std::string* dir_;
};
std::string* BadInputTest::dir_ = nullptr;

// A capture in force (TPROXY, so with routing) through `backend`, and
// foreign state beside.
void InstallCaptureAndForeignState(const std::string& backend = "nftables") {
  CommandResult r = Shell(
      kMeshcap + " apply --backend=" + backend +
      " -m TPROXY -b '*' --ipv6=true 2>&1 && "
      "nft add table inet foreign && "
      "iptables-legacy -t nat -A OUTPUT -d 203.0.113.9 -j RETURN && "
      "ip link add m0 type veth peer name m1 && ip addr add 198.51.100.2/24 "
      "dev m0 && ip link set m0 up");
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

class BadInputEachBackendTest
    : public BadInputTest,
      public ::testing::WithParamInterface<const char*> {};

TEST_P(BadInputEachBackendTest,
       EachCaseIsOnePrintableLineAnErrorCodeAndNoChange) {
  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  ASSERT_NO_FATAL_FAILURE(InstallCaptureAndForeignState(GetParam()));
  const std::string before = KernelState();
  ASSERT_THAT(before, ::testing::HasSubstr(std::string(GetParam()) == "nftables"
                                               ? "istio-proxy-nat"
                                               : "chain ISTIO_OUTPUT"));
  ASSERT_THAT(before, ::testing::HasSubstr("lookup 133"));

  std::string deep(400000, '[');
  deep += std::string(400000, ']');
  std::set<std::string> names;
  for (const BadInput& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name";
    const std::string policy = *dir_ + "/p.json";
    unlink(policy.c_str());
    if (c.policy != nullptr) {
      std::ofstream(policy) << c.policy;
    } else if (std::string(c.name) == "json_deeply_nested") {
      std::ofstream(policy) << deep;
    }
    std::string args = absl::StrReplaceAll(c.args, {{"{dir}", *dir_}});
    if (args.rfind(*dir_, 0) != 0) args = kMeshcap + " " + args;
    const std::string command = absl::StrCat(
        "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MESHCAP_STATE_DIR=\"",
        StateDir(), "\" ", c.env, " ", args);
    ExpectOneLineFailure(command, c.exit_code,
                         ::testing::HasSubstr(c.fragment));
    EXPECT_EQ(KernelState(), before) << command;
  }
  RecordProperty("cases", static_cast<int>(names.size()));
  EXPECT_GE(names.size(), 80u);
}

// Each bad input meets a capture of each nf_tables backend (the legacy one
// sits beside both: the foreign rule).
INSTANTIATE_TEST_SUITE_P(Backends, BadInputEachBackendTest,
                         ::testing::Values("nftables", "iptables-nft"),
                         [](const auto& info) {
                           return std::string(info.param) == "nftables"
                                      ? std::string("nftables")
                                      : std::string("iptables_nft");
                         });

// Without CAP_NET_ADMIN (root without it, and an ordinary user), every
// command that reads or changes the kernel says so: exit 3, and the kernel
// is untouched.
TEST_F(BadInputTest, MissingPrivilegesAreReportedByEveryCommand) {
  if (!::meshcap::testing::HaveProgram("setpriv")) GTEST_SKIP() << "no setpriv";
  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  ASSERT_NO_FATAL_FAILURE(InstallCaptureAndForeignState());
  const std::string before = KernelState();
  const std::string env = "env MESHCAP_STATE_DIR=\"" + StateDir() + "\" ";
  const std::string no_net_admin =
      "setpriv --inh-caps=-net_admin --bounding-set=-net_admin " + env;
  int cases = 0;
  for (const char* backend :
       {"nftables", "iptables-legacy", "iptables-nft", "iptables", "auto"}) {
    for (const char* command : {"apply", "verify", "clean"}) {
      SCOPED_TRACE(absl::StrCat(command, " --backend=", backend));
      const std::string args =
          absl::StrCat(kMeshcap, " ", command, " --backend=", backend);
      ExpectOneLineFailure(
          no_net_admin + args, 3,
          ::testing::HasSubstr("meshcap needs CAP_NET_ADMIN in the target "
                               "network namespace"));
      // An ordinary user meets the xtables lock, root's state directory or
      // the kernel first.
      ExpectOneLineFailure(
          "setpriv --reuid=65534 --regid=65534 --clear-groups " + env +
              absl::StrCat(*dir_, "/meshcap ", command, " --backend=", backend),
          3,
          ::testing::ContainsRegex("Permission denied \\(EACCES\\); "
                                   "(iptables and meshcap serialise on it|"
                                   "meshcap needs write access to its state "
                                   "directory)|"
                                   "meshcap needs CAP_NET_ADMIN"));
      EXPECT_EQ(KernelState(), before);
      cases += 2;
    }
  }
  ExpectOneLineFailure(no_net_admin + *dir_ + "/istio-iptables", 3,
                       ::testing::HasSubstr("CAP_NET_ADMIN"));
  ExpectOneLineFailure(no_net_admin + *dir_ + "/istio-iptables --cleanup-only",
                       3, ::testing::HasSubstr("CAP_NET_ADMIN"));
  // Entering another namespace needs CAP_SYS_ADMIN.
  ::meshcap::testing::DetachedNetns other;
  ASSERT_TRUE(other.ok());
  for (const char* command : {"apply", "verify", "clean", "validate"}) {
    ExpectOneLineFailure(
        absl::StrCat("setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin ",
                     env, kMeshcap, " ", command, " --netns=", other.path()),
        3, ::testing::HasSubstr("CAP_SYS_ADMIN"));
    ++cases;
  }
  EXPECT_EQ(KernelState(), before);
  RecordProperty("cases", cases + 2);
}

// Another meshcap holding the namespace's lock: apply, verify and clean
// wait --lock-timeout, then fail with exit 4, naming the holder, and change
// nothing.
TEST_F(BadInputTest, ALockHeldElsewhereIsReportedAndChangesNothing) {
  if (!::meshcap::testing::HaveProgram("flock")) GTEST_SKIP() << "no flock";
  ::meshcap::testing::ScopedNetns netns;
  if (!netns.ok()) GTEST_SKIP() << netns.error();
  ASSERT_NO_FATAL_FAILURE(InstallCaptureAndForeignState());
  const std::string before = KernelState();
  // The holder: flock(1) on the namespace itself, as meshcap locks it,
  // until we kill it.
  std::string inode = Shell("stat -L -c %i /proc/thread-self/ns/net").output;
  inode.pop_back();
  CommandResult r = Shell(
      "(flock -x /proc/thread-self/ns/net sleep 30 >/dev/null 2>&1 & echo $!)");
  ASSERT_EQ(r.exit_code, 0);
  const std::string holder = r.output.substr(0, r.output.size() - 1);
  Shell("sleep 0.2");
  for (const char* command : {"apply -m TPROXY", "apply", "verify", "clean"}) {
    SCOPED_TRACE(command);
    ExpectOneLineFailure(
        absl::StrCat(kMeshcap, " ", command, " --lock-timeout=200ms"), 4,
        ::testing::HasSubstr(
            "the meshcap lock of this network namespace (net:[" + inode +
            "]) is held by process " + holder));
    EXPECT_EQ(KernelState(), before);
  }
  Shell("pkill -P " + holder + "; kill " + holder);
  r = Shell(kMeshcap +
            " verify --lock-timeout=5s -m TPROXY -b '*' --ipv6=true");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace meshcap
