// SPDX-License-Identifier: GPL-2.0-or-later
//
// Writes the fuzz targets' seed corpora from Istio's conformance policies
// (tests/conformance): each policy's JSON; the entries and rule messages
// the backends lower them to; command lines; and the kernel's rtnetlink
// dumps of rules, routes and addresses after applying policies that need
// policy routing (as root, in a fresh network namespace). Run by
// dev/fuzz/make-seeds.sh, which replaces tests/fuzz/corpus/.

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_format.h"
#include "backends/iptables_legacy/lower.h"
#include "backends/iptables_nft/lower.h"
#include "backends/nftables/lower.h"
#include "meshcap/engine.h"
#include "meshcap/policy_json.h"
#include "src/compile/compile.h"
#include "tests/fuzz/nft_fuzz_rule.h"
#include "tests/fuzz/xt_fuzz_rule.h"
#include "tests/testing/conformance.h"
#include "tests/testing/netns.h"

namespace {

namespace fs = std::filesystem;
using namespace meshcap;  // NOLINT: a small tool

int written = 0;

// Named by content, so that reruns do not duplicate.
void Write(const fs::path& dir, const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  fs::create_directories(dir);
  const fs::path file = dir / absl::StrFormat("seed-%016x", h);
  if (fs::exists(file)) return;
  std::ofstream(file, std::ios::binary) << bytes;
  ++written;
}

uint8_t StandardByte(const ir::Rule& r) {
  if (std::holds_alternative<ir::ReturnVerdict>(r.verdict)) return 1;
  if (std::holds_alternative<ir::AcceptVerdict>(r.verdict)) return 2;
  if (std::holds_alternative<ir::DropVerdict>(r.verdict)) return 3;
  if (std::holds_alternative<ir::JumpVerdict>(r.verdict)) return 4;
  return 0;
}

// One dump (`type`, all families) in the calling thread's namespace, as
// the kernel returns it: every message up to and including NLMSG_DONE.
std::string Dump(uint16_t type) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return "";
  struct {
    nlmsghdr h;
    rtmsg r;  // as large as fib_rule_hdr and ifaddrmsg; AF_UNSPEC
  } req{};
  req.h.nlmsg_len = sizeof(req);
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  std::string out;
  if (send(fd, &req, sizeof(req), 0) == sizeof(req)) {
    char buf[65536];
    for (bool done = false; !done;) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, n);
      int left = static_cast<int>(n);
      for (auto* m = reinterpret_cast<const nlmsghdr*>(buf);
           mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
        done = done || m->nlmsg_type == NLMSG_DONE;
      }
    }
  }
  close(fd);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  std::vector<testing::ConformanceCase> cases = testing::LoadConformanceCases();
  for (auto& c : testing::LoadAmbientConformanceCases()) cases.push_back(c);
  for (const testing::ConformanceCase& c : cases) {
    Write(out / "policy_json", c.policy_json);
    absl::StatusOr<CapturePolicy> policy = PolicyFromJson(c.policy_json);
    if (!policy.ok()) continue;

    const ir::RuleSet ipt_rules =
        internal::Compile(*policy, ir::Dialect::kIptables);
    for (IpFamily f : {IpFamily::kIpv4, IpFamily::kIpv6}) {
      absl::StatusOr<std::vector<ipt::LoweredTable>> tables =
          ipt::Lower(ipt_rules, f);
      if (!tables.ok()) continue;
      for (const ipt::LoweredTable& t : *tables) {
        for (const ipt::LoweredEntry& e : t.entries) {
          std::string bytes;
          bytes += static_cast<char>(f == IpFamily::kIpv6 ? 1 : 0);
          bytes += static_cast<char>(StandardByte(*e.source));
          bytes.append(e.bytes.begin(), e.bytes.end());
          Write(out / "ipt_entry", bytes);
        }
      }
    }

    absl::StatusOr<iptnft::XtRuleSet> xt = iptnft::Lower(ipt_rules);
    if (xt.ok()) {
      for (const iptnft::XtTable& t : xt->tables) {
        for (const iptnft::XtRule& r : t.rules) {
          Write(out / "xt_rule", fuzz::XtRuleToBytes(t.family, r.rule.get()));
        }
      }
    }

    const ir::RuleSet nft_rules =
        internal::Compile(*policy, ir::Dialect::kNftables);
    absl::StatusOr<nft::LoweredRuleSet> lowered = nft::Lower(nft_rules);
    if (!lowered.ok()) continue;
    for (const nft::LoweredTable& t : lowered->tables) {
      for (const nft::LoweredRule& r : t.rules) {
        Write(out / "nft_rule", fuzz::RuleToBytes(r.rule.get()));
      }
    }
  }

  // Command lines: NUL-separated arguments, byte 0 odd for istio-iptables,
  // a policy file's text after 0x01.
  struct Line {
    bool istio;
    std::vector<std::string> args;
    std::string file;
  };
  const std::vector<Line> lines = {
      {false, {"apply", "-p", "15001", "-b", "*", "-d", "15090,15021"}, ""},
      {false, {"render", "--backend=iptables-legacy", "-m", "TPROXY"}, ""},
      {false,
       {"apply", "--profile=ambient", "--redirect-dns", "--ipv6=true"},
       ""},
      {false, {"verify", "--policy=p.json"}, "{\"ProxyPort\": 15001}"},
      {false, {"clean", "--backend=auto"}, ""},
      {true,
       {"-p", "15001", "-z", "15006", "-u", "1337", "-g", "1337", "-m",
        "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"},
       ""},
      {true, {"--redirect-dns=true", "--capture-all-dns", "--dry-run"}, ""},
      {false, {"apply", "--help"}, ""},
  };
  for (const Line& l : lines) {
    std::string bytes(1, l.istio ? '\x01' : '\0');
    for (size_t i = 0; i < l.args.size(); ++i) {
      if (i > 0) bytes += '\0';
      bytes += l.args[i];
    }
    if (!l.file.empty()) bytes += '\x01' + l.file;
    Write(out / "cli", bytes);
  }
  // Kernel dumps holding our policy routing and other entries.
  for (const char* json :
       {R"({"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
            "EnableIPv6": true})",
        R"({"Profile": "ambient", "EnableIPv6": true})"}) {
    testing::ScopedNetns netns;
    if (!netns.ok()) {
      std::fprintf(stderr, "no rtnl_dump seeds: %s\n", netns.error().c_str());
      break;
    }
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create({});
    absl::StatusOr<CapturePolicy> policy = PolicyFromJson(json);
    if (!engine.ok() || !policy.ok() || !(*engine)->Apply(*policy).ok()) {
      std::fprintf(stderr, "no rtnl_dump seeds: the apply failed\n");
      break;
    }
    for (uint16_t type : {RTM_GETRULE, RTM_GETROUTE, RTM_GETADDR}) {
      Write(out / "rtnl_dump", Dump(type));
    }
  }
  std::printf("%d new seeds in %s\n", written, out.c_str());
  return 0;
}
