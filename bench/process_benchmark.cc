// SPDX-License-Identifier: GPL-2.0-or-later
//
// Whole-process latency: how long a command takes as istio-init (or a CNI
// plugin) meets it, start-up and exit included (an nfnetlink socket's
// close can wait on the kernel's destroy work). Each trial runs in a fresh
// network namespace made by a child process (lo up, as in a pod): setup
// commands first, untimed, 100 ms to settle, then the timed commands, from
// the first fork to the last exit. The cases are interleaved, trial by trial,
// in a shuffled order, so that a noisy moment hurts them all alike.
//
//   process_benchmark --runs=N --meshcap=PATH --work=DIR
//
// prints one JSON object: {"cases": {name: [seconds, ...]}, ...}.
// bench/report.py runs it, subtracts the `true` baseline (a fork and exec
// in a fresh namespace) and prints medians and ratios.

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Command {
  std::vector<std::string> argv;
  std::string stdin_path;  // empty: /dev/null
};

struct Case {
  std::string name;
  std::vector<Command> setup;
  std::vector<Command> timed;
};

// Runs `c` and waits; true on exit status 0.
bool Run(const Command& c) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(
      &fa, 0, c.stdin_path.empty() ? "/dev/null" : c.stdin_path.c_str(),
      O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<char*> argv;
  for (const std::string& a : c.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  const int rc =
      posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return false;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void LoUp() {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP;
    ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  close(fd);
}

// One trial in a fresh namespace; the timed part's seconds, or < 0.
double Trial(const Case& c) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    double result = -1;
    if (unshare(CLONE_NEWNET) == 0) {
      LoUp();
      bool ok = true;
      for (const Command& s : c.setup) ok = ok && Run(s);
      // A re-apply comes later than right after the first: let the
      // kernel's deferred work from the setup (RCU callbacks, destroy work)
      // finish, so that it is not charged to the command timed.
      if (!c.setup.empty()) usleep(100 * 1000);
      if (ok) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const Command& t : c.timed) ok = ok && Run(t);
        const auto t1 = std::chrono::steady_clock::now();
        if (ok) result = std::chrono::duration<double>(t1 - t0).count();
      }
    }
    (void)!write(pipefd[1], &result, sizeof(result));
    _exit(0);
  }
  close(pipefd[1]);
  double result = -1;
  if (read(pipefd[0], &result, sizeof(result)) != sizeof(result)) result = -1;
  close(pipefd[0]);
  waitpid(child, nullptr, 0);
  return result;
}

std::string Flag(int argc, char** argv, const std::string& name,
                 const std::string& def) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = std::atoi(Flag(argc, argv, "runs", "30").c_str());
  const std::string meshcap = Flag(argc, argv, "meshcap", "meshcap");
  const std::string work = Flag(argc, argv, "work", "/tmp");
  // Files bench/report.py prepared in `work`: Istio's restore inputs and
  // nft script for the same policy, and an istio-iptables link.
  const std::string v4 = work + "/rules.v4", v6 = work + "/rules.v6";
  const std::string nft = work + "/rules.nft";
  const std::string istio = work + "/istio-iptables";
  const std::vector<std::string> flags = {
      "-p",         "15001", "-z", "15006",
      "-u",         "1337",  "-m", "REDIRECT",
      "-i",         "*",     "-x", "",
      "-b",         "*",     "-d", "15090,15021,15020",
      "--ipv6=true"};
  auto with_flags = [&](std::vector<std::string> head) {
    head.insert(head.end(), flags.begin(), flags.end());
    return Command{head, ""};
  };
  const Command nft_apply =
      with_flags({meshcap, "apply", "--backend=nftables"});
  const Command ipt_apply =
      with_flags({meshcap, "apply", "--backend=iptables-legacy"});
  const Command iptnft_apply =
      with_flags({meshcap, "apply", "--backend=iptables-nft"});
  const Command restore4{{"iptables-legacy-restore", "--noflush"}, v4};
  const Command restore6{{"ip6tables-legacy-restore", "--noflush"}, v6};
  const Command nft_restore4{{"iptables-nft-restore", "--noflush"}, v4};
  const Command nft_restore6{{"ip6tables-nft-restore", "--noflush"}, v6};
  // Start-up and exit alone: meshcap's own (no kernel work at all) against
  // nft's and a small C program's (`true`, the baseline).
  Command render = with_flags({meshcap, "render", "--backend=nftables"});
  const std::vector<Case> cases = {
      {"true", {}, {{{"true"}, ""}}},
      {"meshcap-version", {}, {{{meshcap, "--version"}, ""}}},
      {"meshcap-render", {}, {render}},
      {"nft-version", {}, {{{"nft", "--version"}, ""}}},
      {"meshcap-nft-first", {}, {nft_apply}},
      {"meshcap-nft-reapply", {nft_apply}, {nft_apply}},
      {"meshcap-legacy-first", {}, {ipt_apply}},
      {"meshcap-legacy-reapply", {ipt_apply}, {ipt_apply}},
      {"meshcap-iptnft-first", {}, {iptnft_apply}},
      {"meshcap-iptnft-reapply", {iptnft_apply}, {iptnft_apply}},
      // The drop-in in a fresh pod: iptables-nft, as Istio picks there.
      {"istio-iptables-name", {}, {with_flags({istio})}},
      {"restore-pair", {}, {restore4, restore6}},
      {"nft-restore-pair", {}, {nft_restore4, nft_restore6}},
      {"nft-f", {}, {{{"nft", "-f", nft}, ""}}},
  };
  std::map<std::string, std::vector<double>> results;
  std::mt19937 rng(42);
  std::vector<size_t> order(cases.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (int r = 0; r < runs; ++r) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      const double s = Trial(cases[i]);
      if (s < 0) {
        fprintf(stderr, "process_benchmark: case %s failed\n",
                cases[i].name.c_str());
        return 1;
      }
      results[cases[i].name].push_back(s);
    }
  }
  printf("{\"runs\": %d, \"cases\": {", runs);
  bool first = true;
  for (const auto& [name, v] : results) {
    printf("%s\"%s\": [", first ? "" : ", ", name.c_str());
    for (size_t i = 0; i < v.size(); ++i) printf("%s%.9f", i ? ", " : "", v[i]);
    printf("]");
    first = false;
  }
  printf("}}\n");
  return 0;
}
