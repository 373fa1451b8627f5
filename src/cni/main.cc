// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap-cni: the chained CNI plugin. A runtime runs it with the CNI_*
// variables set and the network configuration on stdin; see plugin.h.

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "src/cni/error.h"
#include "src/cni/log.h"
#include "src/cni/plugin.h"
#include "src/cni/version.h"

namespace {

constexpr size_t kMaxInput = 64 << 20;

bool ReadAll(int fd, std::string* out) {
  char buf[16384];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > kMaxInput) {
      errno = EFBIG;
      return false;
    }
  }
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

int main() {
  // One malloc arena. The Engine's namespace thread would otherwise get an
  // arena of its own: a 64 MiB reservation, trimmed by two munmaps and
  // grown by an mprotect per page or so, each of which, in a process with
  // two threads, costs a TLB shootdown across CPUs (about 0.1 ms of ADD's
  // 2.7 ms on the 2-CPU VM of README "Performance"). The two threads never
  // allocate at the same time: the caller waits while the namespace
  // thread works.
  mallopt(M_ARENA_MAX, 1);
  const char* command = getenv("CNI_COMMAND");
  if (command == nullptr || *command == '\0') {
    // Run by hand: say what this is, as the reference plugins do.
    std::string about =
        "meshcap-cni: installs a pod's traffic capture (Istio's sidecar or "
        "ambient rules) in its network namespace, chained after the "
        "interface plugins\nCNI protocol versions supported:";
    for (const std::string& v : meshcap::cni::SupportedVersions()) {
      about += " " + v;
    }
    WriteAll(STDERR_FILENO, about + "\n");
    return 0;
  }
  std::string input;
  if (std::string_view(command) != "VERSION" || !isatty(STDIN_FILENO)) {
    if (!ReadAll(STDIN_FILENO, &input)) {
      const meshcap::cni::CniError e{
          meshcap::cni::kErrIoFailure,
          "cannot read the network configuration from stdin", strerror(errno)};
      WriteAll(STDOUT_FILENO, e.ToJson(meshcap::cni::kNewestVersion) + "\n");
      return 1;
    }
  }
  meshcap::cni::Logger log;
  // Never freed: the process ends below with _exit, and the kernel closes
  // the Engines' sockets and ends their threads faster than an orderly
  // teardown would (nothing of theirs is held or pending once a command
  // returns).
  auto* retained = new meshcap::cni::Retained;
  const meshcap::cni::PluginOutput out = meshcap::cni::RunPlugin(
      [](const char* name) { return getenv(name); }, input, log,
      meshcap::cni::KernelNodeChecks(), retained);
  WriteAll(STDOUT_FILENO, out.stdout_text);
  // Everything is written (no stdio buffers are used): skip the static
  // destructors as well.
  _exit(out.exit_code);
}
