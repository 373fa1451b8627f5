// SPDX-License-Identifier: GPL-2.0-or-later
//
// What meshcap-cni's ADD adds to a pod's set-up, as a runtime pays it: the
// whole process (spawn of meshcap-cni, the configuration on stdin, the
// result on stdout), against what istio-init does for the same rules: an
// iptables-legacy-restore and an ip6tables-legacy-restore run inside the
// pod's namespace. Istio's default policy, IPv4 and IPv6 on both sides.
//
// Every run gets a fresh network namespace (lo up, as in a pod). The
// namespaces of one benchmark are all made before its timed loop and
// dropped after it, so that the kernel's asynchronous namespace clean-up
// never lands inside a measurement. Both sides are started the same way (a
// vfork-style clone, then execve; the restore children enter the pod's
// namespace first, which costs them one setns).
//
// Both are timed from the spawn to the end of the wait (wall) and by the
// CPU time the children used (user + system), which other load on the
// machine disturbs much less. ADD runs with the backend named in the
// configuration (nftables, iptables-legacy) and with "auto", in three
// ways:
//   - "ADD": "podSelection": "all" and the policy in the configuration
//     (no pod to read; the number earlier reports compare with);
//   - "ADD from annotations": as istio-cni decides, from the pod
//     annotations a runtime hands over (Istio's basic case: its status
//     annotation), the policy from NewRedirect;
//   - "ADD with API read": the same pod read from the Kubernetes API
//     stand-in (tests/cni/apiserver) over HTTPS on loopback, which this
//     benchmark starts in its own network namespace.
// The pods of the two istio-cni ways hold an IPv6 address (istio-iptables
// then writes IPv4 and IPv6 rules, as the restore pair does).
//
// DEL is timed on pods an untimed ADD captured just before: the whole
// process, which includes the wait a runtime would pay for the kernel's
// deferred destroy work if meshcap-cni closed its sockets itself
// (main.cc).
//
// The floors under both sides are timed the same way, interleaved: any
// process (/bin/true), meshcap-cni answering VERSION (its start-up and
// exit, without the work) and the restore pair on an empty input. STATUS
// is timed too, apart (it is not on a pod's set-up path).
//
// Run as root: `build/bench/cni_add_benchmark` (or `meson test
// --benchmark cni_add`); it prints the medians over every run and the
// ratios last. $MESHCAP_CNI_PLUGIN names another plugin binary to time;
// $MESHCAP_CNI_BASELINE one more, timed alongside for before/after.

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"

extern char** environ;

namespace {

constexpr int kRunsPerRepetition = 30;

// Every run's time (µs), per benchmark, for medians over all runs.
std::map<std::string, std::vector<double>>& Samples() {
  static auto* const samples = new std::map<std::string, std::vector<double>>;
  return *samples;
}

// The same, in CPU time of the spawned processes (user + system): what
// the work costs, whatever else the machine runs meanwhile.
std::map<std::string, std::vector<double>>& CpuSamples() {
  static auto* const samples = new std::map<std::string, std::vector<double>>;
  return *samples;
}

// The plugin: $MESHCAP_CNI_PLUGIN, else the one this build made.
const char* Plugin() {
  const char* env = getenv("MESHCAP_CNI_PLUGIN");
  return env != nullptr && *env != '\0' ? env : MESHCAP_CNI_PLUGIN;
}

// $MESHCAP_CNI_BASELINE: another build of the plugin, timed in the same
// run, interleaved with this one (before/after comparisons on a machine
// whose speed drifts); nullptr when unset.
const char* Baseline() {
  const char* env = getenv("MESHCAP_CNI_BASELINE");
  return env != nullptr && *env != '\0' ? env : nullptr;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1) + 0.5)];
}

// Istio's default sidecar capture (istio-init: -p 15001 -z 15006 -u 1337
// -m REDIRECT -i '*' -b '*' -d 15090,15021,15020), with IPv6.
constexpr char kPolicy[] =
    R"({"ProxyPort": "15001", "InboundCapturePort": "15006",
        "ProxyUID": "1337", "InboundInterceptionMode": "REDIRECT",
        "OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020", "EnableIPv6": true})";

// What the bridge plugin hands on (its 1.0.0 result).
constexpr char kPrevResult[] =
    R"({"cniVersion": "1.0.0",
        "interfaces": [{"name": "cni0", "mac": "a6:1b:4c:2d:3e:4f"},
                       {"name": "veth3a1b2c3d", "mac": "fe:1b:4c:2d:3e:50"},
                       {"name": "eth0", "mac": "b6:1b:4c:2d:3e:51",
                        "sandbox": "/var/run/netns/cni-bench"}],
        "ips": [{"interface": 2, "address": "203.0.113.2/24",
                 "gateway": "203.0.113.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "203.0.113.1"}],
        "dns": {}})";

// iptables-legacy-restore --noflush input of the same policy, as Istio's
// generator writes it (tests/conformance/istio/istio-init-default.rules for
// IPv4; the IPv6 half as `meshcap render --ipv6=true` prints it).
constexpr char kRestoreV4[] = R"(* nat
-N ISTIO_INBOUND
-N ISTIO_REDIRECT
-N ISTIO_IN_REDIRECT
-N ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
COMMIT
)";
constexpr char kRestoreV6[] = R"(* nat
-N ISTIO_INBOUND
-N ISTIO_REDIRECT
-N ISTIO_IN_REDIRECT
-N ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -o lo -s ::6/128 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d ::1/128 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d ::1/128 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d ::1/128 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
COMMIT
)";

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "cni_add_benchmark: %s: %s\n", what.c_str(), strerror(errno));
  exit(1);
}

// A memfd holding `text`, rewound before each use.
int TextFd(const char* name, const std::string& text) {
  const int fd = memfd_create(name, 0);
  if (fd < 0 || write(fd, text.data(), text.size()) !=
                    static_cast<ssize_t>(text.size())) {
    Die("memfd");
  }
  return fd;
}

// `n` fresh network namespaces with lo up, each held by an fd only; with
// `address`, an eth0 holding 2001:db8::2/64 (what the interface plugin
// before meshcap-cni leaves).
std::vector<int> FreshNamespaces(int n, bool address = false) {
  std::vector<int> fds;
  std::thread maker([&] {
    for (int i = 0; i < n; ++i) {
      if (unshare(CLONE_NEWNET) != 0) Die("unshare(CLONE_NEWNET) (root?)");
      if (address &&
          system("ip link add eth0 type veth peer name peer0 && "
                 "ip -6 addr add 2001:db8::2/64 dev eth0 nodad") != 0) {
        Die("ip link add (iproute2?)");
      }
      const int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      const int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      ifreq ifr{};
      strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
      if (fd < 0 || sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
        Die("lo");
      }
      ifr.ifr_flags |= IFF_UP;
      if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) Die("lo up");
      close(sock);
      fds.push_back(fd);
    }
  });
  maker.join();
  return fds;
}

void DropNamespaces(std::vector<int>& fds) {
  for (int fd : fds) close(fd);
  fds.clear();
  // Let the kernel's asynchronous clean-up finish outside the timings.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

struct Child {
  const char* path;
  char* const* argv;
  char* const* envp;
  int stdin_fd;
  int netns_fd;  // -1: stay
};

int ChildMain(void* arg) {
  const Child* c = static_cast<const Child*>(arg);
  if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) != 0) _exit(126);
  if (dup2(c->stdin_fd, 0) < 0) _exit(126);
  const int null = open("/dev/null", O_WRONLY);
  if (null < 0 || dup2(null, 1) < 0) _exit(126);
  execve(c->path, c->argv, c->envp);
  _exit(127);
}

// Spawns as posix_spawn does (a clone sharing our memory until the exec),
// waits, and returns the exit status; adds the child's CPU time (user and
// system, µs) to `*cpu`.
int Spawn(const Child& child, double* cpu) {
  static std::vector<char> stack(256 * 1024);
  const pid_t pid =
      clone(ChildMain, stack.data() + stack.size(),
            CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<Child*>(&child));
  if (pid < 0) Die("clone");
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) < 0) Die("wait4");
  *cpu += (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
          usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<char*> Argv(std::vector<std::string>& items) {
  std::vector<char*> out;
  for (std::string& s : items) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Where the plugin keeps its records and the restore pair its xtables lock:
// under /run, on a tmpfs as on a node. Where /run is not one (this
// project's VM keeps /run on the root ext4, where the record's rename costs
// about 0.1 ms), the benchmark mounts a tmpfs of its own there, in a mount
// namespace of its own (made in main, before any thread), so that the
// machine never sees it.
std::string& StateDirSlot() {
  static auto* const dir = new std::string;
  return *dir;
}
std::string StateDir() { return StateDirSlot(); }

bool IsTmpfs(const char* path) {
  struct statfs fs {};
  return statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

void MakeStateDir() {
  char tmpl[] = "/run/meshcap-cni-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp under /run (root?)");
  StateDirSlot() = tmpl;
  const char* how = "on /run's tmpfs";
  if (!IsTmpfs(tmpl)) {
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", tmpl, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0) {
      Die("mounting a private tmpfs on " + std::string(tmpl));
    }
    how = "on a private tmpfs: /run is not a tmpfs here";
  }
  fprintf(stderr, "cni_add_benchmark: state in %s (%s)\n", tmpl, how);
  // At any exit, Die's too: the directory's content, our tmpfs (if it is
  // one of ours: in our mount namespace only) and the directory itself.
  atexit([] {
    const std::string& dir = StateDirSlot();
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::filesystem::remove_all(e.path(), ec);
    }
    umount2(dir.c_str(), MNT_DETACH);
    rmdir(dir.c_str());
  });
}

// A container ID no earlier run of this process used: a runtime's ADD is
// for a new container, so its record never replaces an old one.
std::string ContainerId() {
  static unsigned serial = 0;
  return "bench" + std::to_string(getpid()) + "-" + std::to_string(serial++);
}

// How ADD learns what to do (see the top).
enum class AddMode { kConfigured, kAnnotations, kApi };

const char* ModeName(AddMode m) {
  switch (m) {
    case AddMode::kConfigured:
      return "ADD";
    case AddMode::kAnnotations:
      return "ADD from annotations";
    case AddMode::kApi:
      return "ADD with API read";
  }
  return "?";
}

// The kubeconfig of the stand-in this process started ("" before).
std::string& KubeconfigSlot() {
  static auto* const path = new std::string;
  return *path;
}

std::string AddConfig(const char* backend, AddMode mode) {
  std::string c = std::string(R"({"cniVersion": "1.0.0", )") +
                  R"("name": "bench", "type": "meshcap-cni", "backend": ")" +
                  backend + R"(", "prevResult": )" + kPrevResult;
  switch (mode) {
    case AddMode::kConfigured:
      return c + R"(, "podSelection": "all", "policy": )" + kPolicy + "}";
    case AddMode::kAnnotations:
      // What containerd hands a plugin with the capability: Istio's basic
      // case (the injector's status annotation).
      return c + R"(, "runtimeConfig": {"io.kubernetes.cri.pod-annotations": )"
                 R"({"sidecar.istio.io/status": "{\"initContainers\":)"
                 R"([\"istio-validation\"],\"containers\":)"
                 R"([\"istio-proxy\"]}"}}})";
    case AddMode::kApi:
      return c + R"(, "kubeconfig": ")" + KubeconfigSlot() + R"("})";
  }
  return c;
}

// The pod the command is for: the stand-in's fixture "basic" in "mesh".
std::vector<std::string> PodEnv(const std::string& command,
                                const std::string& id, int netns) {
  return {
      "CNI_COMMAND=" + command,
      "CNI_CONTAINERID=" + id,
      "CNI_NETNS=/proc/" + std::to_string(getpid()) + "/fd/" +
          std::to_string(netns),
      "CNI_IFNAME=eth0",
      "CNI_ARGS=K8S_POD_NAMESPACE=mesh;K8S_POD_NAME=basic",
      "CNI_PATH=/usr/lib/cni",
      "MESHCAP_STATE_DIR=" + StateDir(),
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
  };
}

void BM_CniAdd(benchmark::State& state, const char* backend, AddMode mode,
               bool baseline) {
  const char* plugin = baseline ? Baseline() : Plugin();
  const std::string name = std::string(ModeName(mode)) + " (" + backend +
                           (baseline ? ", baseline)" : ")");
  if (mode == AddMode::kApi && KubeconfigSlot().empty()) {
    state.SkipWithError("no Kubernetes API stand-in (python3, openssl?)");
    return;
  }
  const int config_fd = TextFd("config", AddConfig(backend, mode));
  std::vector<int> namespaces =
      FreshNamespaces(state.max_iterations, mode != AddMode::kConfigured);
  std::vector<std::string> argv_s = {"meshcap-cni"};
  std::vector<char*> argv = Argv(argv_s);
  size_t i = 0;
  for (auto _ : state) {
    std::vector<std::string> env_s =
        PodEnv("ADD", ContainerId(), namespaces[i]);
    std::vector<char*> env = Argv(env_s);
    lseek(config_fd, 0, SEEK_SET);
    double cpu = 0;
    const auto start = std::chrono::steady_clock::now();
    const int rc =
        Spawn({plugin, argv.data(), env.data(), config_fd, -1}, &cpu);
    const auto end = std::chrono::steady_clock::now();
    if (rc != 0) {
      state.SkipWithError("meshcap-cni ADD failed (run it as root)");
      break;
    }
    const double seconds = std::chrono::duration<double>(end - start).count();
    state.SetIterationTime(seconds);
    Samples()[name].push_back(seconds * 1e6);
    CpuSamples()[name].push_back(cpu);
    ++i;
  }
  close(config_fd);
  DropNamespaces(namespaces);
}

// DEL of a pod ADD captured (untimed) just before, as on a pod's stop.
void BM_CniDel(benchmark::State& state, const char* backend) {
  const std::string name = std::string("DEL (") + backend + ")";
  const int config_fd =
      TextFd("config", AddConfig(backend, AddMode::kConfigured));
  std::vector<int> namespaces = FreshNamespaces(state.max_iterations);
  std::vector<std::string> argv_s = {"meshcap-cni"};
  std::vector<char*> argv = Argv(argv_s);
  size_t i = 0;
  for (auto _ : state) {
    const std::string id = ContainerId();
    std::vector<std::string> add_s = PodEnv("ADD", id, namespaces[i]);
    std::vector<std::string> del_s = PodEnv("DEL", id, namespaces[i]);
    std::vector<char*> add = Argv(add_s);
    std::vector<char*> del = Argv(del_s);
    double cpu = 0;
    state.PauseTiming();
    lseek(config_fd, 0, SEEK_SET);
    const int added =
        Spawn({Plugin(), argv.data(), add.data(), config_fd, -1}, &cpu);
    // As on a node: the pod ran a while before it stops.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    state.ResumeTiming();
    lseek(config_fd, 0, SEEK_SET);
    cpu = 0;
    const auto start = std::chrono::steady_clock::now();
    const int rc =
        Spawn({Plugin(), argv.data(), del.data(), config_fd, -1}, &cpu);
    const auto end = std::chrono::steady_clock::now();
    if (added != 0 || rc != 0) {
      state.SkipWithError("meshcap-cni ADD or DEL failed (run it as root)");
      break;
    }
    const double seconds = std::chrono::duration<double>(end - start).count();
    state.SetIterationTime(seconds);
    Samples()[name].push_back(seconds * 1e6);
    CpuSamples()[name].push_back(cpu);
    ++i;
  }
  close(config_fd);
  DropNamespaces(namespaces);
}

// STATUS as a runtime polls it (containerd asks on every CRI Status):
// the whole process, which makes, applies in, verifies, probes and drops
// two scratch namespaces of its own. Not part of pod set-up; reported
// apart.
void BM_CniStatus(benchmark::State& state, const char* backend) {
  const std::string name = std::string("STATUS (") + backend + ")";
  const std::string config = std::string(R"({"cniVersion": "1.1.0", )") +
                             R"("name": "bench", "type": "meshcap-cni", )" +
                             R"("profile": "sidecar", "backend": ")" + backend +
                             R"(", "policy": )" + kPolicy + "}";
  const int config_fd = TextFd("config", config);
  std::vector<std::string> argv_s = {"meshcap-cni"};
  std::vector<char*> argv = Argv(argv_s);
  std::vector<std::string> env_s = {
      "CNI_COMMAND=STATUS",
      "CNI_PATH=/usr/lib/cni",
      "MESHCAP_STATE_DIR=" + StateDir(),
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
  };
  std::vector<char*> env = Argv(env_s);
  for (auto _ : state) {
    lseek(config_fd, 0, SEEK_SET);
    double cpu = 0;
    const auto start = std::chrono::steady_clock::now();
    const int rc =
        Spawn({Plugin(), argv.data(), env.data(), config_fd, -1}, &cpu);
    const auto end = std::chrono::steady_clock::now();
    if (rc != 0) {
      state.SkipWithError("meshcap-cni STATUS failed (run it as root)");
      break;
    }
    const double seconds = std::chrono::duration<double>(end - start).count();
    state.SetIterationTime(seconds);
    Samples()[name].push_back(seconds * 1e6);
    CpuSamples()[name].push_back(cpu);
  }
  close(config_fd);
  // Its scratch namespaces are the kernel's to clean up, as after ADD's.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

void BM_RestorePair(benchmark::State& state) {
  const int v4 = TextFd("v4", kRestoreV4);
  const int v6 = TextFd("v6", kRestoreV6);
  std::vector<int> namespaces = FreshNamespaces(state.max_iterations);
  std::vector<std::string> argv4_s = {"iptables-legacy-restore", "--noflush"};
  std::vector<std::string> argv6_s = {"ip6tables-legacy-restore", "--noflush"};
  std::vector<char*> argv4 = Argv(argv4_s);
  std::vector<char*> argv6 = Argv(argv6_s);
  // Their own xtables lock, never the machine's /run/xtables.lock.
  std::vector<std::string> env_s = {
      "XTABLES_LOCKFILE=" + StateDir() + "/xtables.lock",
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
  };
  std::vector<char*> env = Argv(env_s);
  size_t i = 0;
  for (auto _ : state) {
    lseek(v4, 0, SEEK_SET);
    lseek(v6, 0, SEEK_SET);
    double cpu = 0;
    const auto start = std::chrono::steady_clock::now();
    const int rc4 = Spawn({"/usr/sbin/iptables-legacy-restore", argv4.data(),
                           env.data(), v4, namespaces[i]},
                          &cpu);
    const int rc6 = Spawn({"/usr/sbin/ip6tables-legacy-restore", argv6.data(),
                           env.data(), v6, namespaces[i]},
                          &cpu);
    const auto end = std::chrono::steady_clock::now();
    if (rc4 != 0 || rc6 != 0) {
      state.SkipWithError("*tables-legacy-restore failed (root? installed?)");
      break;
    }
    const double seconds = std::chrono::duration<double>(end - start).count();
    state.SetIterationTime(seconds);
    Samples()["restore pair"].push_back(seconds * 1e6);
    CpuSamples()["restore pair"].push_back(cpu);
    ++i;
  }
  close(v4);
  close(v6);
  DropNamespaces(namespaces);
}

// The floors under both sides, started the same way: any process
// (/bin/true, dynamically linked to libc alone), meshcap-cni itself
// answering VERSION (its loading, linking, static initialisers and exit,
// and reading the configuration: everything of ADD's but the work), and
// the restore pair's own start-up (both binaries on an empty input in the
// pod's namespace).
void BM_Floor(benchmark::State& state, const char* which) {
  const std::string name = which;
  const int input =
      TextFd("input",
             name == "meshcap-cni VERSION" ? R"({"cniVersion": "1.0.0"})" : "");
  std::vector<int> namespaces = FreshNamespaces(state.max_iterations);
  std::vector<std::string> argv_s = {"true"};
  std::vector<std::string> argv4_s = {"iptables-legacy-restore", "--noflush"};
  std::vector<std::string> argv6_s = {"ip6tables-legacy-restore", "--noflush"};
  std::vector<char*> argv = Argv(argv_s);
  std::vector<char*> argv4 = Argv(argv4_s);
  std::vector<char*> argv6 = Argv(argv6_s);
  std::vector<std::string> env_s = {
      "CNI_COMMAND=VERSION",
      "XTABLES_LOCKFILE=" + StateDir() + "/xtables.lock",
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
  };
  std::vector<char*> env = Argv(env_s);
  size_t i = 0;
  for (auto _ : state) {
    lseek(input, 0, SEEK_SET);
    double cpu = 0;
    int rc = 0;
    const auto start = std::chrono::steady_clock::now();
    if (name == "/bin/true") {
      rc = Spawn({"/bin/true", argv.data(), env.data(), input, -1}, &cpu);
    } else if (name == "meshcap-cni VERSION") {
      rc = Spawn({Plugin(), argv.data(), env.data(), input, -1}, &cpu);
    } else {
      rc = Spawn({"/usr/sbin/iptables-legacy-restore", argv4.data(), env.data(),
                  input, namespaces[i]},
                 &cpu);
      lseek(input, 0, SEEK_SET);
      rc |= Spawn({"/usr/sbin/ip6tables-legacy-restore", argv6.data(),
                   env.data(), input, namespaces[i]},
                  &cpu);
    }
    const auto end = std::chrono::steady_clock::now();
    if (rc != 0) {
      state.SkipWithError((name + " failed").c_str());
      break;
    }
    const double seconds = std::chrono::duration<double>(end - start).count();
    state.SetIterationTime(seconds);
    Samples()["floor: " + name].push_back(seconds * 1e6);
    CpuSamples()["floor: " + name].push_back(cpu);
    ++i;
  }
  close(input);
  DropNamespaces(namespaces);
}

BENCHMARK(BM_RestorePair)
    ->UseManualTime()
    ->Iterations(kRunsPerRepetition)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Floor, true, "/bin/true")
    ->UseManualTime()
    ->Iterations(kRunsPerRepetition)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Floor, cni_version, "meshcap-cni VERSION")
    ->UseManualTime()
    ->Iterations(kRunsPerRepetition)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Floor, empty_restore_pair, "empty restore pair")
    ->UseManualTime()
    ->Iterations(kRunsPerRepetition)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

// This process's own network namespace, lo up: where the plugin runs and
// the API stand-in listens (the machine's loopback is not used).
void OwnNetworkNamespace() {
  if (unshare(CLONE_NEWNET) != 0) Die("unshare(CLONE_NEWNET) (root?)");
  if (system("ip link set lo up") != 0) Die("ip link set lo up");
}

// Starts the Kubernetes API stand-in (tests/cni/apiserver) and records its
// kubeconfig; stopped at exit. Without python3 or openssl, the API case is
// skipped.
void StartStandIn() {
  const std::string dir = StateDir() + "/standin";
  const std::string ready = dir + "-ready.json";
  const std::string root = MESHCAP_SOURCE_ROOT;
  static pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl("/usr/bin/python3", "python3",
          (root + "/tests/cni/apiserver/standin.py").c_str(), "--fixtures",
          (root + "/tests/cni/apiserver/fixtures/pods.json").c_str(), "--port",
          "0", "--ready-file", ready.c_str(), "--workdir", dir.c_str(),
          nullptr);
    _exit(127);
  }
  atexit([] {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  });
  for (int i = 0; i < 400 && access(ready.c_str(), R_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  const std::string kubeconfig = dir + "/kubeconfig-ca-data";
  if (access(kubeconfig.c_str(), R_OK) == 0) KubeconfigSlot() = kubeconfig;
}

int main(int argc, char** argv) {
  MakeStateDir();
  OwnNetworkNamespace();
  StartStandIn();
  for (AddMode mode :
       {AddMode::kConfigured, AddMode::kAnnotations, AddMode::kApi}) {
    for (const char* backend : {"nftables", "iptables-legacy", "auto"}) {
      for (bool baseline : {false, true}) {
        if (baseline && Baseline() == nullptr) continue;
        if (mode != AddMode::kConfigured && std::string(backend) == "auto") {
          continue;
        }
        const std::string name =
            std::string("BM_CniAdd/") +
            (mode == AddMode::kConfigured    ? ""
             : mode == AddMode::kAnnotations ? "annotations/"
                                             : "api/") +
            backend + (baseline ? "/baseline" : "");
        benchmark::RegisterBenchmark(name.c_str(), BM_CniAdd, backend, mode,
                                     baseline)
            ->UseManualTime()
            ->Iterations(kRunsPerRepetition)
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  for (const char* backend : {"nftables", "iptables-legacy"}) {
    benchmark::RegisterBenchmark((std::string("BM_CniDel/") + backend).c_str(),
                                 BM_CniDel, backend)
        ->UseManualTime()
        ->Iterations(kRunsPerRepetition)
        ->Unit(benchmark::kMicrosecond);
  }
  for (const char* backend : {"nftables", "iptables-legacy"}) {
    benchmark::RegisterBenchmark(
        (std::string("BM_CniStatus/") + backend).c_str(), BM_CniStatus, backend)
        ->UseManualTime()
        ->Iterations(kRunsPerRepetition / 3)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const auto& samples = Samples();
  if (samples.empty()) return 0;
  printf("\nper run, over all repetitions (us):\n");
  for (const auto& [name, v] : samples) {
    printf(
        "  %-30s wall median %6.0f (p25 %6.0f, p75 %6.0f)   cpu median "
        "%6.0f   %zu runs\n",
        name.c_str(), Median(v), Percentile(v, 0.25), Percentile(v, 0.75),
        Median(CpuSamples()[name]), v.size());
  }
  auto pair = samples.find("restore pair");
  if (pair == samples.end()) return 0;
  const double pair_wall = Median(pair->second);
  const double pair_cpu = Median(CpuSamples()["restore pair"]);
  // The goals (issue 17): ADD as configured and from annotations at most
  // 0.5x the pair; with the API read at most 1.0x.
  for (AddMode mode :
       {AddMode::kConfigured, AddMode::kAnnotations, AddMode::kApi}) {
    const double goal = mode == AddMode::kApi ? 1.0 : 0.5;
    for (const char* backend : {"nftables", "iptables-legacy", "auto"}) {
      for (const char* suffix : {")", ", baseline)"}) {
        const std::string name =
            std::string(ModeName(mode)) + " (" + backend + suffix;
        auto add = samples.find(name);
        if (add == samples.end()) continue;
        const double ratio = Median(add->second) / pair_wall;
        const double cpu_ratio = Median(CpuSamples()[name]) / pair_cpu;
        printf("%s / restore pair: wall %.2f (goal <= %.2f: %s), cpu %.2f\n",
               name.c_str(), ratio, goal, ratio <= goal ? "met" : "not met",
               cpu_ratio);
      }
    }
  }
  for (const char* backend : {"nftables", "iptables-legacy"}) {
    auto del = samples.find(std::string("DEL (") + backend + ")");
    auto floor = samples.find("floor: /bin/true");
    if (del == samples.end() || floor == samples.end()) continue;
    const double over = Median(del->second) - Median(floor->second);
    printf("DEL (%s): %.2f ms, %.2f ms over /bin/true (goal < 5 ms: %s)\n",
           backend, Median(del->second) / 1000, over / 1000,
           over < 5000 ? "met" : "not met");
  }
  // What the start-up alone takes of the goal's budget.
  auto version = samples.find("floor: meshcap-cni VERSION");
  if (version != samples.end()) {
    printf("floor: meshcap-cni VERSION / restore pair: wall %.2f, cpu %.2f\n",
           Median(version->second) / pair_wall,
           Median(CpuSamples()[version->first]) / pair_cpu);
  }
  return 0;
}
