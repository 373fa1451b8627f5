// SPDX-License-Identifier: GPL-2.0-or-later
//
// What a long exclusion list costs a new connection. For each backend and
// each list length N, a fresh network namespace (a child process, lo and
// an eth0 with a default route, as a pod) gets Istio's sidecar capture with
// N excluded /32 ranges (none of them the destination), and a new TCP
// connection to 198.51.100.10:80 is timed, from connect() to its return,
// many times: each connection's first packet walks the nat OUTPUT chain,
// past every excluded range, to the REDIRECT to 15001, where a listener
// accepts it. The median per N, and its ratio to N = 0 in the same run,
// show the linear cost of Istio's one-rule-per-range form. The backend
// "nftables+compact" is the nftables backend with CompactLists (each list
// one named set, one rule). A length "N:P" adds P excluded outbound ports
// (20000, 20003, ...; never the destination's).
//
//   conn_cost_benchmark [--lengths=0,10,100,1000,3000,10000,10000:1000]
//                       [--connections=2000] [--rounds=3]
//                       [--backends=nftables,nftables+compact,iptables-nft,
//                                   iptables-legacy]
//
// Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN). Prints one markdown
// table.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "meshcap/engine.h"
#include "meshcap/policy_json.h"

namespace {

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = s.find(',', at);
    const std::string item = s.substr(
        at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

// P excluded ports, none the destination's (80).
std::string Ports(int p) {
  std::string out;
  for (int i = 0; i < p; ++i) {
    if (i > 0) out += ',';
    out += std::to_string(20000 + 3 * i);
  }
  return out;
}

// N distinct /32s in 10.0.0.0/8, none adjacent to another, none the
// destination.
std::string Exclusions(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    const int a = 2 * i;  // every other address: none adjacent
    out += "10." + std::to_string((a >> 16) & 255) + "." +
           std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255) +
           "/32";
  }
  return out;
}

// In the child: the namespace, the capture, the listener, the timings.
// Writes the median in nanoseconds to `fd`; exits non-zero on failure.
int Measure(const std::string& backend, int n, int ports, int connections,
            int fd) {
  if (unshare(CLONE_NEWNET) != 0) return 2;
  // One CPU for the connection, its softirq and the listener: where the
  // scheduler put them otherwise changed the cost by half again.
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  sched_setaffinity(0, sizeof(one), &one);
  if (std::system("ip link set lo up && ip link add eth0 type veth peer "
                  "name eth0p && ip addr add 203.0.113.2/24 dev eth0 && "
                  "ip link set eth0 up && ip link set eth0p up && "
                  "ip route add default via 203.0.113.1") != 0) {
    return 3;
  }
  const bool compact = backend == "nftables+compact";
  std::string json = R"({"OutboundIPRangesInclude": "*",
                         "InboundPortsInclude": "")";
  if (compact) json += R"(, "CompactLists": true)";
  if (n > 0) json += R"(, "OutboundIPRangesExclude": ")" + Exclusions(n) + "\"";
  if (ports > 0) json += R"(, "OutboundPortsExclude": ")" + Ports(ports) + "\"";
  json += "}";
  absl::StatusOr<meshcap::CapturePolicy> policy = meshcap::PolicyFromJson(json);
  if (!policy.ok()) return 4;
  meshcap::EngineOptions o;
  o.backend = compact ? "nftables" : backend;
  absl::StatusOr<std::unique_ptr<meshcap::Engine>> engine =
      meshcap::Engine::Create(o);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(engine.status().message()).c_str());
    return 5;
  }
  absl::StatusOr<meshcap::ApplyResult> applied = (*engine)->Apply(*policy);
  if (!applied.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(applied.status().message()).c_str());
    return 6;
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(15001);
  at.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0 ||
      listen(listener, 4096) != 0) {
    return 7;
  }
  std::thread acceptor([&] {
    for (int i = 0; i < connections + 100; ++i) {
      const int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      close(c);
    }
  });
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(80);
  inet_pton(AF_INET, "198.51.100.10", &to.sin_addr);
  std::vector<int64_t> ns;
  ns.reserve(static_cast<size_t>(connections));
  for (int i = 0; i < connections + 100; ++i) {  // 100 to warm up
    const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const linger abort{1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
    const auto t0 = std::chrono::steady_clock::now();
    const int r = connect(s, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    const auto t1 = std::chrono::steady_clock::now();
    close(s);
    if (r != 0) return 8;
    if (i >= 100) {
      ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
                       .count());
    }
  }
  acceptor.join();
  close(listener);
  std::nth_element(ns.begin(), ns.begin() + static_cast<long>(ns.size() / 2),
                   ns.end());
  const int64_t median = ns[ns.size() / 2];
  return write(fd, &median, sizeof(median)) == sizeof(median) ? 0 : 9;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> lengths = {"0",    "10",    "100",       "1000",
                                      "3000", "10000", "10000:1000"};
  std::vector<std::string> backends = {"nftables", "nftables+compact",
                                       "iptables-nft", "iptables-legacy"};
  int connections = 2000;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--lengths=", 0) == 0) lengths = SplitComma(a.substr(10));
    if (a.rfind("--backends=", 0) == 0) backends = SplitComma(a.substr(11));
    if (a.rfind("--rounds=", 0) == 0) rounds = std::atoi(a.c_str() + 9);
    if (a.rfind("--connections=", 0) == 0) {
      connections = std::atoi(a.c_str() + 14);
    }
  }
  struct Cell {
    std::string backend, length;
    std::vector<double> us;  // one median per round
    std::string error;
  };
  std::vector<Cell> cells;
  for (const std::string& b : backends) {
    for (const std::string& l : lengths) cells.push_back({b, l, {}, ""});
  }
  // Rounds over every cell in a shuffled order, so that a noisy moment
  // hurts them all alike; each cell reports the median of its rounds.
  std::vector<size_t> order(cells.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937 rng(1);
  for (int round = 0; round < rounds; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      Cell& c = cells[i];
      int pipefd[2];
      if (pipe(pipefd) != 0) return 1;
      const pid_t pid = fork();
      if (pid == 0) {
        close(pipefd[0]);
        const size_t colon = c.length.find(':');
        const int ports = colon == std::string::npos
                              ? 0
                              : std::atoi(c.length.c_str() + colon + 1);
        _exit(Measure(c.backend, std::atoi(c.length.c_str()), ports,
                      connections, pipefd[1]));
      }
      close(pipefd[1]);
      int64_t median = 0;
      const bool got = read(pipefd[0], &median, sizeof(median)) ==
                       static_cast<ssize_t>(sizeof(median));
      close(pipefd[0]);
      int status = 0;
      waitpid(pid, &status, 0);
      if (!got) {
        c.error = "failed (exit " + std::to_string(WEXITSTATUS(status)) + ")";
        continue;
      }
      c.us.push_back(static_cast<double>(median) / 1000.0);
    }
  }
  std::printf(
      "# A new captured TCP connection's connect() with N excluded /32 "
      "ranges (N:P: and P excluded ports): Istio's linear form, and "
      "nftables+compact (CompactLists: named sets); median of %d "
      "connections per cell and round, median of %d rounds\n\n",
      connections, rounds);
  std::printf("| backend | N[:P] | connect, µs | vs N = 0 |\n");
  std::printf("| --- | ---: | ---: | ---: |\n");
  double base = 0;
  for (Cell& c : cells) {
    if (!c.error.empty() || c.us.empty()) {
      std::printf("| %s | %s | %s | |\n", c.backend.c_str(), c.length.c_str(),
                  c.error.c_str());
      continue;
    }
    std::sort(c.us.begin(), c.us.end());
    const double us = c.us[c.us.size() / 2];
    if (c.length == "0") base = us;
    char ratio[32] = "";
    if (base > 0) std::snprintf(ratio, sizeof(ratio), "%.2fx", us / base);
    std::printf("| %s | %s | %.1f | %s |\n", c.backend.c_str(),
                c.length.c_str(), us, ratio);
  }
  return 0;
}
