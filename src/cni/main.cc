// SPDX-License-Identifier: GPL-2.0-or-later
//
// meshcap-cni: the chained CNI plugin. A runtime runs it with the CNI_*
// variables set and the network configuration on stdin; see plugin.h.

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "src/cni/error.h"
#include "src/cni/install.h"
#include "src/cni/log.h"
#include "src/cni/plugin.h"
#include "src/cni/version.h"
#include "src/netns_lock.h"

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

// The last close of a bound nfnetlink socket (any process's) waits for
// the kernel's deferred destroy work and its RCU grace period
// (nft_rcv_nl_event) whenever anybody's commit deleted netfilter objects in
// the last few milliseconds: 8 to 25 ms here. A DEL always deletes, and
// pods start while others stop, so a runtime would pay that wait on every
// pod's stop and on many pods' start. A child that shares nothing but this
// process's open files takes them over and closes them after this process
// has exited: the work is done and committed, only the freeing waits, and
// nobody waits for it. The child runs on a small stack of its own in this
// process's memory (CLONE_VM: nothing is copied), touches no lock and calls
// nothing but raw system calls; its new parent (init, or the nearest
// subreaper: never containerd itself, whose shims alone are subreapers)
// reaps it.
int CloseLater(void*) {
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    // The runtime's pipes see their end now, not when the wait is over.
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
  }
  _exit(0);
}

void LeaveTheLastCloseToAChild() {
  alignas(16) static char stack[16384];
  // Without CLONE_FILES: the child gets its own copy of the fd table, so
  // this process's exit no longer closes the sockets' last reference.
  (void)clone(CloseLater, stack + sizeof(stack), CLONE_VM | SIGCHLD, nullptr);
}

double Now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

// Tells the node agent (meshcap-cni install --watch, reconcile.h) that an
// ADD or DEL ran, for its metrics and its next pass: one datagram, never
// waited for; nobody listening costs a failed sendto.
void TellTheAgent(std::string_view verb, bool ok, double seconds) {
  const std::string path =
      meshcap::internal::DefaultStateDir() + "/cni/agent.sock";
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return;
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  char msg[64];
  const int n =
      snprintf(msg, sizeof(msg), "%.*s %d %.6f", static_cast<int>(verb.size()),
               verb.data(), ok ? 1 : 0, seconds);
  if (n > 0) {
    (void)sendto(fd, msg, static_cast<size_t>(n), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  // One malloc arena. The Engine's namespace thread would otherwise get an
  // arena of its own: a 64 MiB reservation, trimmed by two munmaps and
  // grown by an mprotect per page or so, each of which, in a process with
  // two threads, costs a TLB shootdown across CPUs (about 0.1 ms of ADD's
  // 2.7 ms on the 2-CPU VM of README "Performance"). The two threads never
  // allocate at the same time: the caller waits while the namespace
  // thread works.
  mallopt(M_ARENA_MAX, 1);
  const double start = Now();
  const char* command = getenv("CNI_COMMAND");
  if ((command == nullptr || *command == '\0') && argc > 1) {
    // `meshcap-cni install|uninstall`: the node's installer (install.h).
    return meshcap::cni::RunInstallCommand(argc, argv);
  }
  if (command == nullptr || *command == '\0') {
    // Run by hand: say what this is, as the reference plugins do.
    std::string about =
        "meshcap-cni: installs a pod's traffic capture (Istio's sidecar or "
        "ambient rules) in its network namespace, chained after the "
        "interface plugins\n(meshcap-cni install|uninstall --help: chain it "
        "into "
        "the node's CNI configuration)\nCNI protocol versions supported:";
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
  if (const std::string_view c(command); c == "ADD" || c == "DEL") {
    TellTheAgent(c, out.exit_code == 0, Now() - start);
  }
  if (!retained->engines.empty()) LeaveTheLastCloseToAChild();
  // Everything is written (no stdio buffers are used): skip the static
  // destructors as well.
  _exit(out.exit_code);
}
