// SPDX-License-Identifier: GPL-2.0-or-later
// `meshcap-cni install|uninstall`: the flags, and `--watch`, which keeps
// the installation true with inotify until SIGTERM or SIGINT.

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/cni/install.h"
#include "src/cni/reconcile.h"
#include "src/json.h"
#include "src/netns_lock.h"
#include "src/state_dir.h"
#include "src/text.h"

namespace meshcap::cni {
namespace {

constexpr std::string_view kUsage =
    "usage: meshcap-cni install [flags]    chain meshcap-cni into the node's "
    "CNI configuration\n"
    "       meshcap-cni uninstall [flags]  take it out again\n"
    "(run with no CNI_COMMAND in the environment; a runtime runs the plugin "
    "with one)\n"
    "\n"
    "flags:\n"
    "  --cni-conf-dir=DIR         the runtime's network configurations "
    "(default /etc/cni/net.d)\n"
    "  --cni-bin-dir=DIR          where the runtime looks for plugins; "
    "repeatable (default /opt/cni/bin)\n"
    "  --cni-agent-run-dir=DIR    where the kubeconfig is written as "
    "istio-cni-kubeconfig (default /var/run/istio-cni)\n"
    "  --service-account-dir=DIR  the service account's token and ca.crt "
    "(default /var/run/secrets/kubernetes.io/serviceaccount)\n"
    "  --plugin-config=FILE       a JSON object: our entry's keys beside "
    "\"type\" (the ConfigMap)\n"
    "  --watch                    install, then keep it installed (inotify) "
    "until SIGTERM or SIGINT; SIGHUP re-reads --plugin-config; and hold "
    "every captured pod's capture (reconcile)\n"
    "  --state-dir=DIR            meshcap's state directory, as the plugin "
    "sees it (default $MESHCAP_STATE_DIR, else /run/meshcap)\n"
    "  --reconcile-interval=DUR   --watch: a full pass over the captured "
    "pods this often, e.g. 10s (default 10s; pods are also held by kernel "
    "events)\n"
    "  --poll-interval=DUR        --watch: how often an iptables-legacy pod "
    "is verified (default 1s)\n"
    "  --metrics-address=HOST:PORT  --watch: serve Prometheus metrics at "
    "/metrics (default: none)\n"
    "  --help                     this text\n"
    "\n"
    "The kubeconfig is written from KUBERNETES_SERVICE_HOST, "
    "KUBERNETES_SERVICE_PORT (default 443) and KUBERNETES_SERVICE_PROTOCOL "
    "(default https); without a host, none is written.\n"
    "Exit status: 0 done, 1 failed, 2 bad usage.\n";

struct Flags {
  std::string command;
  InstallOptions options;
  std::string plugin_config_file;
  bool watch = false;
  std::string state_dir;
  std::chrono::milliseconds reconcile_interval{10000};
  std::chrono::milliseconds poll_interval{1000};
  std::string metrics_address;
};

// "10s", "500ms", "2m": a positive duration.
std::optional<std::chrono::milliseconds> ParseDurationFlag(std::string_view s) {
  uint64_t scale = 0;
  std::string_view num = s;
  if (absl::EndsWith(internal::ToAbsl(s), "ms")) {
    scale = 1;
    num = s.substr(0, s.size() - 2);
  } else if (absl::EndsWith(internal::ToAbsl(s), "s")) {
    scale = 1000;
    num = s.substr(0, s.size() - 1);
  } else if (absl::EndsWith(internal::ToAbsl(s), "m")) {
    scale = 60000;
    num = s.substr(0, s.size() - 1);
  }
  const std::optional<uint64_t> n =
      internal::ParseDecimal(num, 1, 24 * 3600 * 1000);
  if (scale == 0 || !n.has_value()) return std::nullopt;
  return std::chrono::milliseconds(*n * scale);
}

void Say(const std::string& line) {
  const std::string text =
      absl::StrCat(internal::UtcTimestamp(),
                   " meshcap-cni: ", internal::PrintableLine(line), "\n");
  fwrite(text.data(), 1, text.size(), stderr);
  fflush(stderr);
}

// Parses argv; nullopt after printing the error (or the help, `*help`).
std::optional<Flags> ParseFlags(int argc, char** argv, bool* help) {
  Flags f;
  *help = false;
  if (argc < 2) {
    fprintf(stderr, "meshcap-cni: no subcommand\n%s", kUsage.data());
    return std::nullopt;
  }
  f.command = argv[1];
  if (f.command == "--help" || f.command == "-h" || f.command == "help") {
    *help = true;
    return std::nullopt;
  }
  if (f.command != "install" && f.command != "uninstall") {
    fprintf(stderr,
            "meshcap-cni: unknown subcommand %s (install or uninstall)\n",
            internal::Quote(f.command).c_str());
    return std::nullopt;
  }
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view name = arg;
    std::optional<std::string> value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    auto need = [&]() -> std::optional<std::string> {
      if (value.has_value()) return value;
      if (i + 1 < argc) return std::string(argv[++i]);
      fprintf(stderr, "meshcap-cni: %s needs a value\n",
              std::string(name).c_str());
      return std::nullopt;
    };
    if (name == "--help" || name == "-h") {
      *help = true;
      return std::nullopt;
    }
    if (name == "--watch") {
      if (value.has_value()) {
        fprintf(stderr, "meshcap-cni: --watch takes no value\n");
        return std::nullopt;
      }
      f.watch = true;
      continue;
    }
    std::string* target = nullptr;
    std::string duration;
    if (name == "--state-dir") target = &f.state_dir;
    if (name == "--metrics-address") target = &f.metrics_address;
    if (name == "--reconcile-interval" || name == "--poll-interval") {
      target = &duration;
    }
    if (name == "--cni-conf-dir") target = &f.options.conf_dir;
    if (name == "--service-account-dir") {
      target = &f.options.service_account_dir;
    }
    if (name == "--cni-agent-run-dir") target = &f.options.cni_agent_run_dir;
    if (name == "--plugin-config") target = &f.plugin_config_file;
    if (name == "--cni-bin-dir") {
      f.options.bin_dirs.emplace_back();
      target = &f.options.bin_dirs.back();
    }
    if (target == nullptr) {
      fprintf(stderr, "meshcap-cni: unknown flag %s\n",
              internal::Quote(arg).c_str());
      return std::nullopt;
    }
    std::optional<std::string> v = need();
    if (!v.has_value()) return std::nullopt;
    if (v->empty()) {
      fprintf(stderr, "meshcap-cni: %s needs a value\n",
              std::string(name).c_str());
      return std::nullopt;
    }
    *target = *v;
    if (target == &duration) {
      const std::optional<std::chrono::milliseconds> d =
          ParseDurationFlag(duration);
      if (!d.has_value()) {
        fprintf(stderr,
                "meshcap-cni: %s: %s is not a positive duration (500ms, "
                "10s, 2m)\n",
                std::string(name).c_str(), internal::Quote(duration).c_str());
        return std::nullopt;
      }
      (name == "--poll-interval" ? f.poll_interval : f.reconcile_interval) = *d;
    }
  }
  if (!f.watch && (!f.metrics_address.empty())) {
    fprintf(stderr, "meshcap-cni: --metrics-address is for install --watch\n");
    return std::nullopt;
  }
  if (f.state_dir.empty()) f.state_dir = internal::DefaultStateDir();
  if (f.watch && f.command != "install") {
    fprintf(stderr, "meshcap-cni: --watch is for install\n");
    return std::nullopt;
  }
  if (const char* h = getenv("KUBERNETES_SERVICE_HOST"); h && *h) {
    f.options.kube_host = h;
  }
  if (const char* p = getenv("KUBERNETES_SERVICE_PORT"); p && *p) {
    f.options.kube_port = p;
  }
  if (const char* p = getenv("KUBERNETES_SERVICE_PROTOCOL"); p && *p) {
    f.options.kube_protocol = p;
  }
  return f;
}

absl::Status LoadPluginConfig(Flags& f) {
  if (f.plugin_config_file.empty()) return absl::OkStatus();
  FILE* file = fopen(f.plugin_config_file.c_str(), "re");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "cannot read --plugin-config ", internal::Quote(f.plugin_config_file),
        ": ", strerror(errno)));
  }
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), file)) > 0 &&
         text.size() < (1 << 20)) {
    text.append(buf, n);
  }
  fclose(file);
  absl::StatusOr<internal::Json> doc =
      internal::ParseJson(text, {.max_bytes = 1 << 20, .max_depth = 64});
  if (!doc.ok() || !doc->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--plugin-config ", internal::Quote(f.plugin_config_file), ": ",
        doc.ok() ? "not a JSON object" : std::string(doc.status().message())));
  }
  f.options.plugin_config = std::move(*doc);
  return absl::OkStatus();
}

void Report(const InstallReport& r, std::string_view verb) {
  // A note is said once per process (a watcher installs again and again).
  static auto* const said = new std::set<std::string>;
  for (const std::string& note : r.notes) {
    if (said->insert(note).second) Say(note);
  }
  for (const std::string& path : r.changed) {
    Say(absl::StrCat(std::string(verb), " ", path));
  }
}

// A listening TCP socket for --metrics-address (HOST:PORT, [V6]:PORT or
// :PORT for every address).
absl::StatusOr<int> ListenMetrics(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics-address: ", internal::Quote(address), " is not HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int e = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                port.c_str(), &hints, &found);
      e != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-address: ", internal::Quote(address), ": ",
                     gai_strerror(e)));
  }
  int fd = -1;
  int err = 0;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 16) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-address: cannot listen on ",
                     internal::Quote(address), ": ", strerror(err)));
  }
  return fd;
}

// Answers one scrape: GET /metrics (or /), anything else 404.
void ServeOne(int listen_fd, const NodeReconciler& reconciler) {
  const int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return;
  const struct timeval tv = {1, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.size() < 8192) {
    const ssize_t n = read(c, buf, sizeof(buf));
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  std::string status = "404 Not Found", body = "not found\n";
  const std::string type = "text/plain; version=0.0.4; charset=utf-8";
  if (absl::StartsWith(request, "GET /metrics ") ||
      absl::StartsWith(request, "GET / ")) {
    status = "200 OK";
    body = reconciler.Metrics();
  }
  const std::string response =
      absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                   "\r\nContent-Length: ", body.size(),
                   "\r\nConnection: close\r\n\r\n", body);
  size_t done = 0;
  while (done < response.size()) {
    const ssize_t n = write(c, response.data() + done, response.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(c);
}

// The datagram socket the plugin reports ADD and DEL to
// (<state_dir>/cni/agent.sock).
absl::StatusOr<int> ListenForThePlugin(const std::string& state_dir) {
  absl::StatusOr<internal::StateDir> state =
      internal::StateDir::Open(state_dir, true);
  if (!state.ok()) return state.status();
  absl::StatusOr<internal::StateDir> cni = state->Sub("cni", true);
  if (!cni.ok()) return cni.status();
  const std::string path = cni->PathOf("agent.sock");
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(internal::Quote(path), " is too long for a socket"));
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(strerror(errno));
  unlinkat(cni->fd(), "agent.sock", 0);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", internal::Quote(path), ": ", strerror(e)));
  }
  return fd;
}

// Install, then keep it installed: every change in the watched
// directories (our own writes included, which find nothing to do) runs the
// install again; so does a timer, for what inotify cannot see (a
// directory mounted over).
int Watch(Flags& f) {
  // A dozen descriptors per held pod (its namespace, sockets, locks): the
  // soft limit (often 1024) goes up to the hard one, as Go programs do.
  if (struct rlimit rl;
      getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  const int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) {
    Say(absl::StrCat("cannot watch: inotify: ", strerror(errno)));
    return 1;
  }
  constexpr uint32_t kMask = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO |
                             IN_MOVED_FROM | IN_DELETE | IN_ATTRIB |
                             IN_DELETE_SELF | IN_MOVE_SELF;
  std::vector<std::string> dirs = {f.options.conf_dir,
                                   f.options.service_account_dir};
  for (const std::string& d : f.options.bin_dirs.empty()
                                  ? std::vector<std::string>{"/opt/cni/bin"}
                                  : f.options.bin_dirs) {
    dirs.push_back(d);
  }
  auto add_watches = [&] {
    for (const std::string& d : dirs) {
      (void)inotify_add_watch(in, d.c_str(), kMask | IN_ONLYDIR);
    }
  };
  add_watches();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  const int sig = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig < 0) {
    Say(absl::StrCat("cannot watch: signalfd: ", strerror(errno)));
    return 1;
  }
  // The node reconcile, its metrics, and the plugin's reports.
  NodeReconciler reconciler(f.state_dir, f.poll_interval, Say);
  int metrics = -1;
  if (!f.metrics_address.empty()) {
    absl::StatusOr<int> m = ListenMetrics(f.metrics_address);
    if (!m.ok()) {
      Say(std::string(m.status().message()));
      return 2;
    }
    metrics = *m;
    Say(absl::StrCat("serving metrics at ", f.metrics_address));
  }
  absl::StatusOr<int> reports = ListenForThePlugin(f.state_dir);
  if (!reports.ok()) {
    Say(absl::StrCat("not told of ADD and DEL (a pass every ",
                     f.reconcile_interval.count(),
                     " ms instead): ", reports.status().message()));
  }
  const int report_fd = reports.ok() ? *reports : -1;
  using Clock = std::chrono::steady_clock;
  Clock::time_point next_pass = Clock::now();
  constexpr int kResyncMs = 30000;
  constexpr int kRetryMs = 1000;
  std::string last_error;
  int timeout = 0;
  Clock::time_point next_install = Clock::now();
  for (;;) {
    if (Clock::now() >= next_pass) {
      reconciler.Pass();
      next_pass = Clock::now() + f.reconcile_interval;
    }
    if (Clock::now() >= next_install) {
      absl::StatusOr<InstallReport> r = Install(f.options);
      if (r.ok()) {
        Report(*r, "install: wrote");
        if (!last_error.empty()) Say("installed");
        last_error.clear();
        timeout = kResyncMs;
      } else {
        const std::string e(r.status().message());
        if (e != last_error) Say(absl::StrCat("not installed yet: ", e));
        last_error = e;
        timeout = kRetryMs;
      }
      next_install = Clock::now() + std::chrono::milliseconds(timeout);
    }
    const auto until = std::min(next_install, next_pass);
    const int wait_ms = static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(until -
                                                                 Clock::now())
                   .count() +
               1));
    struct pollfd fds[4] = {{in, POLLIN, 0},
                            {sig, POLLIN, 0},
                            {metrics, POLLIN, 0},
                            {report_fd, POLLIN, 0}};
    const int n = poll(fds, 4, wait_ms);
    if (fds[2].revents & POLLIN) ServeOne(metrics, reconciler);
    if (fds[3].revents & POLLIN) {
      char msg[128];
      ssize_t got;
      while ((got = recv(report_fd, msg, sizeof(msg), MSG_DONTWAIT)) > 0) {
        reconciler.Report(std::string_view(msg, static_cast<size_t>(got)));
        next_pass = Clock::now();  // a pod came or went: look now
      }
    }
    if (n < 0 && errno != EINTR) {
      Say(absl::StrCat("poll: ", strerror(errno)));
      return 1;
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sig, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
          absl::Status s = LoadPluginConfig(f);
          Say(s.ok() ? std::string("re-read --plugin-config")
                     : absl::StrCat(s.message(), "; keeping the old one"));
          next_install = Clock::now();
          continue;
        }
        Say(absl::StrCat("signal ", si.ssi_signo,
                         ": exiting; the installation stays"));
        return 0;
      }
    }
    if (fds[0].revents & POLLIN) {
      alignas(struct inotify_event) char buf[16384];
      bool gone = false;
      ssize_t len;
      while ((len = read(in, buf, sizeof(buf))) > 0) {
        for (char* p = buf; p < buf + len;) {
          const auto* e = reinterpret_cast<const struct inotify_event*>(p);
          if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
            gone = true;
          }
          p += sizeof(struct inotify_event) + e->len;
        }
      }
      // A directory replaced (a token's ..data, a bin dir remounted):
      // watch what is there now.
      if (gone) add_watches();
      next_install = Clock::now();
    }
  }
}

}  // namespace

int RunInstallCommand(int argc, char** argv) {
  bool help = false;
  std::optional<Flags> flags = ParseFlags(argc, argv, &help);
  if (!flags.has_value()) {
    if (help) {
      fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    }
    return 2;
  }
  if (absl::Status s = LoadPluginConfig(*flags); !s.ok()) {
    fprintf(stderr, "meshcap-cni: %s\n",
            internal::PrintableLine(std::string(s.message())).c_str());
    return 2;
  }
  if (flags->command == "install") {
    // A ConfigMap that would fail every pod is bad usage, not a failure to
    // retry.
    if (absl::StatusOr<internal::Json> e = OurEntry(flags->options); !e.ok()) {
      fprintf(
          stderr, "meshcap-cni: %s\n",
          internal::PrintableLine(std::string(e.status().message())).c_str());
      return 2;
    }
    if (flags->watch) return Watch(*flags);
    absl::StatusOr<InstallReport> r = Install(flags->options);
    if (!r.ok()) {
      fprintf(
          stderr, "meshcap-cni: install: %s\n",
          internal::PrintableLine(std::string(r.status().message())).c_str());
      return 1;
    }
    Report(*r, "install: wrote");
    return 0;
  }
  absl::StatusOr<InstallReport> r = Uninstall(flags->options);
  if (!r.ok()) {
    fprintf(stderr, "meshcap-cni: uninstall: %s\n",
            internal::PrintableLine(std::string(r.status().message())).c_str());
    return 1;
  }
  Report(*r, "uninstall: removed or rewrote");
  return 0;
}

}  // namespace meshcap::cni
