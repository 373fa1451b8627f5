// SPDX-License-Identifier: GPL-2.0-or-later
// Running the meshcap-cni binary as a runtime runs it, for the tests that
// drive it as a process: the CNI_* variables, the configuration on stdin,
// the result or error JSON on stdout; and reading a pod's rules back with
// the standard tools.

#ifndef MESHCAP_TESTS_CNI_CNI_EXEC_UTIL_H_
#define MESHCAP_TESTS_CNI_CNI_EXEC_UTIL_H_

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/testing/netns.h"

namespace meshcap::cni::testing {

struct Exec {
  int exit_code = -1;
  std::string out;
  std::string err;
  nlohmann::json json() const {
    return nlohmann::json::parse(out, nullptr, false);
  }
};

// Runs `plugin` with exactly `env` (and PATH) and `input` on stdin.
// `drop_caps`: as root without any capability (bounding set emptied).
inline Exec RunPlugin(const std::string& plugin,
                      const std::map<std::string, std::string>& env,
                      const std::string& input, bool drop_caps = false) {
  int in[2], out[2], err[2];
  Exec r;
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0) {
    return r;
  }
  std::vector<std::string> env_s = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (drop_caps) {
      for (int cap = 0; cap <= 63; ++cap) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
    char* argv[] = {const_cast<char*>("meshcap-cni"), nullptr};
    execve(plugin.c_str(), argv, envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  size_t done = 0;
  while (done < input.size()) {
    const ssize_t n = write(in[1], input.data() + done, input.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(in[1]);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0 && poll(fds, 2, 60000) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, n);
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

constexpr char kPrevResult[] =
    R"({"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"a6:1b:4c:2d:3e:4f"},)"
    R"({"name":"eth0","mac":"b6:1b:4c:2d:3e:51","sandbox":"/var/run/netns/p"}],)"
    R"("ips":[{"interface":1,"address":"203.0.113.2/24","gateway":"203.0.113.1"}],)"
    R"("routes":[{"dst":"0.0.0.0/0","gw":"203.0.113.1"}],"dns":{}})";

// The ruleset of `netns` as the standard tools print it, counters and
// comments left out.
inline std::string Ruleset(int netns, const std::string& backend) {
  if (backend == "nftables") {
    return ::meshcap::testing::ShellIn(netns, "nft list ruleset").output;
  }
  return ::meshcap::testing::ShellIn(
             netns,
             "{ iptables-legacy-save; ip6tables-legacy-save; } | "
             "grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'")
      .output;
}

}  // namespace meshcap::cni::testing

#endif  // MESHCAP_TESTS_CNI_CNI_EXEC_UTIL_H_
