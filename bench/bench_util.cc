// SPDX-License-Identifier: GPL-2.0-or-later

#include "bench/bench_util.h"

#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

extern char** environ;

namespace meshcap::bench {

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
