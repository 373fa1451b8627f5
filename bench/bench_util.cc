// SPDX-License-Identifier: GPL-2.0-or-later

#include "bench/bench_util.h"

#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

extern char** environ;

namespace meshcap::bench {

void ScalingSizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"foreign", "policy"});
  for (int f : {0, 1000, 5000, 20000}) b->Args({f, 0});
  for (int p : {100, 250, 500, 1000}) b->Args({0, p});
}

PolicyBuilder IstioInit() {
  PolicyBuilder b;
  b.SetProxyPort("15001")
      .SetInboundCapturePort("15006")
      .SetProxyUids("1337")
      .SetInterceptMode("REDIRECT")
      .SetOutboundCidrsInclude("*")
      .SetInboundPorts("*")
      .SetInboundPortsExclude("15090,15021,15020");
  return b;
}

CapturePolicy IstioInitDualStack() {
  PolicyBuilder b = IstioInit();
  b.SetIpv6(true);
  return *b.Build();
}

CapturePolicy IstioInitWithExclusions(int n, int extra_port) {
  PolicyBuilder b = IstioInit();
  b.SetIpv6(true);
  std::string cidrs, ports = "15090,15021,15020";
  for (int i = 0; i < n; ++i) {
    // 10.x.y.0/24: distinct, outside the documentation ranges the traffic
    // tests use, and never routed here.
    cidrs += (i ? "," : "") + std::string("10.") + std::to_string(i / 256) +
             "." + std::to_string(i % 256) + ".0/24";
    ports += "," + std::to_string(20000 + i);
  }
  if (!cidrs.empty()) b.SetOutboundCidrsExclude(cidrs);
  b.SetInboundPortsExclude(ports);
  if (extra_port > 0) b.SetOutboundPortsExclude(std::to_string(extra_port));
  return *b.Build();
}

int RunProgram(const char* const argv[]) {
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr,
                   const_cast<char* const*>(argv), environ) != 0) {
    return -1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/meshcap-bench-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0 || write(fd, text.data(), text.size()) !=
                    static_cast<ssize_t>(text.size())) {
    std::abort();
  }
  close(fd);
  return path;
}

}  // namespace meshcap::bench
