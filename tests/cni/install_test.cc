// SPDX-License-Identifier: GPL-2.0-or-later
// `meshcap-cni install|uninstall [--watch]` on scratch directories holding
// the configurations real primary CNIs write (flannel, Calico, the
// reference bridge): the pure parts in-process, then the binary as a
// DaemonSet runs it. No root needed.

#include "src/cni/install.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/cni/kube_client.h"
#include "src/json.h"

namespace meshcap::cni {
namespace {

namespace fs = std::filesystem;
using internal::Json;
using ::testing::HasSubstr;

constexpr char kFlannel[] = R"({
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "flannel",
      "delegate": {
        "hairpinMode": true,
        "isDefaultGateway": true
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
)";

// As Calico's install-cni writes it (trimmed of its IPAM details).
constexpr char kCalico[] = R"({
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes",
      "nodename": "node-1",
      "mtu": 0,
      "ipam": {"type": "calico-ipam"},
      "policy": {"type": "k8s"},
      "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}
    },
    {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}},
    {"type": "bandwidth", "capabilities": {"bandwidth": true}}
  ]
})";

// The reference bridge as a single-plugin .conf.
constexpr char kBridge[] = R"({
  "cniVersion": "1.0.0",
  "name": "mynet",
  "type": "bridge",
  "bridge": "cni0",
  "isGateway": true,
  "ipMasq": true,
  "ipam": {
    "type": "host-local",
    "subnet": "10.22.0.0/16",
    "routes": [{"dst": "0.0.0.0/0"}]
  }
})";

Json Parse(const std::string& text) {
  absl::StatusOr<Json> j = internal::ParseJson(text, {});
  EXPECT_TRUE(j.ok()) << j.status() << "\n" << text;
  return j.ok() ? *j : Json();
}

Json Entry() {
  InstallOptions o;
  o.plugin_config = Parse(R"({"exclude_namespaces": ["kube-system"]})");
  absl::StatusOr<Json> e = OurEntry(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : Json();
}

// ---- the pure parts ---------------------------------------------------

TEST(PrimaryConfFileTest, TheFirstLoadableFileInLexicalOrder) {
  const std::map<std::string, std::string> files = {
      {"00-broken.conf", "{not json"},
      {"01-empty.conflist", R"({"name":"x","plugins":[]})"},
      {"02-notype.conf", R"({"name":"x"})"},
      {"05-readme.txt", "hello"},
      {"10-flannel.conflist", kFlannel},
      {"20-bridge.conf", kBridge},
  };
  std::vector<std::string> names;
  for (const auto& [n, t] : files) names.push_back(n);
  std::reverse(names.begin(), names.end());
  auto read = [&](const std::string& n) -> std::optional<std::string> {
    return files.at(n);
  };
  EXPECT_EQ(PrimaryConfFile(names, read), "10-flannel.conflist");
  names.erase(std::find(names.begin(), names.end(), "10-flannel.conflist"));
  EXPECT_EQ(PrimaryConfFile(names, read), "20-bridge.conf");
  EXPECT_EQ(PrimaryConfFile({"05-readme.txt", "00-broken.conf"}, read),
            std::nullopt);
}

TEST(WithOurEntryTest, AConflistKeepsEveryKeyAndPluginInOrderAndGetsOursLast) {
  absl::StatusOr<std::optional<ConfEdit>> edit =
      WithOurEntry("10-calico.conflist", kCalico, Entry());
  ASSERT_TRUE(edit.ok()) << edit.status();
  ASSERT_TRUE(edit->has_value());
  EXPECT_EQ((*edit)->name, "10-calico.conflist");
  Json got = Parse((*edit)->text);
  Json want = Parse(kCalico);
  want["plugins"].push_back(Entry());
  EXPECT_EQ(got, want);  // ordered: key order included
  // Again: nothing to do.
  absl::StatusOr<std::optional<ConfEdit>> again =
      WithOurEntry("10-calico.conflist", (*edit)->text, Entry());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
}

TEST(WithOurEntryTest, AnOldEntryOfOursIsReplacedAndMovedLast) {
  Json doc = Parse(kFlannel);
  Json old = Entry();
  old["plugin_log_level"] = "debug";
  doc["plugins"].insert(doc["plugins"].begin() + 1, old);
  doc["plugins"].push_back(old);
  absl::StatusOr<std::optional<ConfEdit>> edit =
      WithOurEntry("10-flannel.conflist", doc.dump(), Entry());
  ASSERT_TRUE(edit.ok()) << edit.status();
  ASSERT_TRUE(edit->has_value());
  Json want = Parse(kFlannel);
  want["plugins"].push_back(Entry());
  EXPECT_EQ(Parse((*edit)->text), want);
}

TEST(WithOurEntryTest, ASinglePluginConfBecomesAConflist) {
  absl::StatusOr<std::optional<ConfEdit>> edit =
      WithOurEntry("10-bridge.conf", kBridge, Entry());
  ASSERT_TRUE(edit.ok()) << edit.status();
  ASSERT_TRUE(edit->has_value());
  EXPECT_EQ((*edit)->name, "10-bridge.conflist");
  Json got = Parse((*edit)->text);
  EXPECT_EQ(got["cniVersion"], "1.0.0");
  EXPECT_EQ(got["name"], "mynet");
  ASSERT_EQ(got["plugins"].size(), 2u);
  EXPECT_EQ(got["plugins"][0], Parse(kBridge));
  EXPECT_EQ(got["plugins"][1], Entry());
}

TEST(WithOurEntryTest, RefusesWhatIsNoNetwork) {
  Json alone = Entry();
  alone["cniVersion"] = "1.0.0";
  alone["name"] = "x";
  absl::StatusOr<std::optional<ConfEdit>> edit =
      WithOurEntry("10-x.conf", alone.dump(), Entry());
  EXPECT_EQ(edit.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(edit.status().message(), HasSubstr("10-x.conf"));
  edit = WithOurEntry("10-x.conflist",
                      R"({"name":"x","plugins":[{"type":"meshcap-cni"}]})",
                      Entry());
  EXPECT_EQ(edit.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WithoutOurEntryTest, TakesOursOutAndLeavesTheRest) {
  Json doc = Parse(kCalico);
  doc["plugins"].push_back(Entry());
  absl::StatusOr<std::optional<std::string>> without =
      WithoutOurEntry(doc.dump());
  ASSERT_TRUE(without.ok()) << without.status();
  ASSERT_TRUE(without->has_value());
  EXPECT_EQ(Parse(**without), Parse(kCalico));
  without = WithoutOurEntry(kCalico);
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->has_value());
}

TEST(KubeconfigTextTest, ThePluginReadsWhatTheInstallerWrites) {
  const std::string ca =
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  absl::StatusOr<Kubeconfig> k = Kubeconfig::Parse(
      KubeconfigText("https", "10.96.0.1", "443", ca, "eyJhbGc.x-y_z\n"),
      "/run/istio-cni/istio-cni-kubeconfig");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->server, "https://10.96.0.1:443");
  EXPECT_EQ(k->ca_pem, ca);
  EXPECT_EQ(k->token, "eyJhbGc.x-y_z");
  EXPECT_FALSE(k->insecure_skip_tls_verify);
  k = Kubeconfig::Parse(KubeconfigText("https", "fd00::1", "6443", ca, "t"),
                        "/k");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->server, "https://[fd00::1]:6443");
}

TEST(OurEntryTest, AConfigMapThatWouldFailEveryPodIsRefusedNamingTheKey) {
  InstallOptions o;
  o.plugin_config = Parse(R"({"exclude_namespace": ["kube-system"]})");
  absl::StatusOr<Json> e = OurEntry(o);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("exclude_namespace"));
  o.plugin_config = Parse(R"({"type": "istio-cni"})");
  EXPECT_THAT(OurEntry(o).status().message(), HasSubstr("istio-cni"));
  o.plugin_config = Parse(R"({"plugin_log_level": "info"})");
  absl::StatusOr<Json> ok = OurEntry(o);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)["type"], "meshcap-cni");
  EXPECT_EQ((*ok)["cni_agent_run_dir"], "/var/run/istio-cni");
}

// ---- the binary -------------------------------------------------------

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& text, mode_t mode) {
  // As a primary CNI does: a new file renamed over the old.
  const std::string tmp = path + ".writing";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
  }
  chmod(tmp.c_str(), mode);
  ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0) << path;
}

class Scratch {
 public:
  Scratch() {
    char t[] = "/tmp/meshcap-install-XXXXXX";
    root_ = mkdtemp(t);
    for (const char* d : {"net.d", "bin", "bin2", "sa", "run"}) {
      fs::create_directories(root_ + "/" + d);
    }
    Spit(root_ + "/sa/token", "eyJhbGciOiJSUzI1NiJ9.payload.sig", 0644);
    Spit(root_ + "/sa/ca.crt",
         "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
         0644);
  }
  ~Scratch() { fs::remove_all(root_); }
  std::string operator/(const std::string& p) const { return root_ + "/" + p; }
  std::vector<std::string> Flags() const {
    return {"--cni-conf-dir=" + root_ + "/net.d",
            "--cni-bin-dir=" + root_ + "/bin",
            "--cni-bin-dir=" + root_ + "/bin2",
            "--service-account-dir=" + root_ + "/sa",
            "--cni-agent-run-dir=" + root_ + "/run"};
  }

 private:
  std::string root_;
};

pid_t Spawn(const std::vector<std::string>& args, const std::string& out,
            const std::string& err) {
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                  "KUBERNETES_SERVICE_HOST=10.96.0.1",
                                  "KUBERNETES_SERVICE_PORT=443"};
  std::vector<char*> argv = {const_cast<char*>(MESHCAP_CNI)};
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    execve(MESHCAP_CNI, argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

RunResult RunCni(const Scratch& s, std::vector<std::string> args) {
  const pid_t pid = Spawn(args, s / "out", s / "err");
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(s / "out"),
          Slurp(s / "err")};
}

std::vector<std::string> With(std::vector<std::string> a,
                              std::vector<std::string> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Snapshot {
  std::map<std::string, std::string> bytes;
  std::map<std::string, std::pair<ino_t, int64_t>> identity;  // inode, mtime
  std::map<std::string, mode_t> mode;
};

Snapshot Take(const Scratch& s) {
  Snapshot snap;
  for (const char* d : {"net.d", "bin", "bin2", "run"}) {
    for (const auto& e : fs::directory_iterator(s / d)) {
      const std::string p = e.path().string();
      struct stat st;
      stat(p.c_str(), &st);
      snap.bytes[p] = Slurp(p);
      snap.identity[p] = {
          st.st_ino, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
      snap.mode[p] = st.st_mode & 07777;
    }
  }
  return snap;
}

struct Primary {
  const char* name;
  const char* file;
  const char* text;
  const char* result;  // the file that holds our entry afterwards
};

class InstallBinaryTest : public ::testing::TestWithParam<Primary> {};

TEST_P(InstallBinaryTest, InstallsOnceKeepsModesAndUninstallsToWhatWasThere) {
  const Primary& p = GetParam();
  Scratch s;
  Spit(s / ("net.d/" + std::string(p.file)), p.text, 0640);
  // Another network, lower in priority: never touched.
  Spit(s / "net.d/99-other.conflist", kFlannel, 0644);
  Spit(s / "net.d/README", "not a configuration", 0644);
  const Snapshot before = Take(s);

  RunResult r = RunCni(s, With({"install"}, s.Flags()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string result = s / ("net.d/" + std::string(p.result));
  Json doc = Parse(Slurp(result));
  Json primary = Parse(p.text);
  const Json& plugins = doc["plugins"];
  ASSERT_GE(plugins.size(), 2u);
  EXPECT_EQ(plugins.back()["type"], "meshcap-cni");
  EXPECT_EQ(plugins.back()["cni_agent_run_dir"], s / "run");
  if (primary.contains("plugins")) {
    Json want = primary;
    want["plugins"].push_back(plugins.back());
    EXPECT_EQ(doc, want);
  } else {
    EXPECT_EQ(plugins[0], primary);
    EXPECT_FALSE(fs::exists(s / ("net.d/" + std::string(p.file))));
  }
  struct stat st;
  ASSERT_EQ(stat(result.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u) << "the primary's mode";
  for (const char* bin : {"bin/meshcap-cni", "bin2/meshcap-cni"}) {
    ASSERT_EQ(stat((s / bin).c_str(), &st), 0) << bin;
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_EQ(Slurp(s / bin), Slurp(MESHCAP_CNI)) << bin;
  }
  ASSERT_EQ(stat((s / "run/istio-cni-kubeconfig").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  absl::StatusOr<Kubeconfig> k =
      Kubeconfig::Load(s / "run/istio-cni-kubeconfig");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->server, "https://10.96.0.1:443");
  EXPECT_EQ(k->token, "eyJhbGciOiJSUzI1NiJ9.payload.sig");
  EXPECT_EQ(Slurp(s / "net.d/99-other.conflist"), kFlannel);
  EXPECT_EQ(Slurp(s / "net.d/README"), "not a configuration");
  // No temporary file is left.
  for (const auto& e : fs::directory_iterator(s / "net.d")) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr("tmp")));
  }

  // A second install changes no byte, and rewrites nothing.
  const Snapshot installed = Take(s);
  r = RunCni(s, With({"install"}, s.Flags()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const Snapshot again = Take(s);
  EXPECT_EQ(again.bytes, installed.bytes);
  EXPECT_EQ(again.identity, installed.identity);

  r = RunCni(s, With({"uninstall"}, s.Flags()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Snapshot after = Take(s);
  EXPECT_FALSE(fs::exists(s / "bin/meshcap-cni"));
  EXPECT_FALSE(fs::exists(s / "bin2/meshcap-cni"));
  EXPECT_FALSE(fs::exists(s / "run/istio-cni-kubeconfig"));
  Json left = Parse(Slurp(result));
  if (primary.contains("plugins")) {
    EXPECT_EQ(left, primary);
    EXPECT_EQ(after.mode.at(result), 0640u);
  } else {
    // The converted list stays a list, with the primary alone.
    ASSERT_EQ(left["plugins"].size(), 1u);
    EXPECT_EQ(left["plugins"][0], primary);
  }
  EXPECT_EQ(after.bytes.at(s / "net.d/99-other.conflist"), kFlannel);
  EXPECT_EQ(Slurp(s / "net.d/README"), "not a configuration");
  (void)before;
}

INSTANTIATE_TEST_SUITE_P(
    Primaries, InstallBinaryTest,
    ::testing::Values(
        Primary{"flannel", "10-flannel.conflist", kFlannel,
                "10-flannel.conflist"},
        Primary{"calico", "10-calico.conflist", kCalico, "10-calico.conflist"},
        Primary{"bridge", "10-bridge.conf", kBridge, "10-bridge.conflist"}),
    [](const ::testing::TestParamInfo<Primary>& i) { return i.param.name; });

TEST(InstallCommandTest, HelpListsEveryFlagAndMistakesExitNonZero) {
  Scratch s;
  RunResult r = RunCni(s, {"install", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag :
       {"--cni-conf-dir", "--cni-bin-dir", "--watch", "--service-account-dir",
        "--cni-agent-run-dir", "--plugin-config"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
  r = RunCni(s, {"instal"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("'instal'"));
  r = RunCni(s, {"install", "--cni-conf-dri=/x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--cni-conf-dri"));
  r = RunCni(s, {"uninstall", "--watch"});
  EXPECT_EQ(r.exit_code, 2);
  Spit(s / "cm.json", R"({"exclude_namespace": []})", 0644);
  r = RunCni(
      s, With({"install", "--plugin-config=" + (s / "cm.json")}, s.Flags()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("exclude_namespace"));
  // No primary configuration yet: an error that says so, nothing written.
  r = RunCni(s, With({"install"}, s.Flags()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no network configuration"));
  EXPECT_TRUE(fs::is_empty(s / "net.d"));
}

// Waits up to `limit` for `done`; returns how long it took, or nullopt.
std::optional<std::chrono::milliseconds> Within(
    std::chrono::milliseconds limit, const std::function<bool()>& done) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    if (done()) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return std::nullopt;
}

bool HasOurEntryLast(const std::string& path) {
  absl::StatusOr<Json> doc = internal::ParseJson(Slurp(path), {});
  if (!doc.ok() || !doc->contains("plugins")) return false;
  const Json& p = (*doc)["plugins"];
  return p.is_array() && !p.empty() &&
         p.back().value("type", "") == "meshcap-cni";
}

TEST(InstallWatchTest, KeepsTheEntryAndTheBinaryInPlaceUntilSigterm) {
  Scratch s;
  // The DaemonSet may start before the primary CNI writes its file.
  const pid_t pid =
      Spawn(With({"install", "--watch"}, s.Flags()), s / "out", s / "err");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::string conf = s / "net.d/10-flannel.conflist";
  Spit(conf, kFlannel, 0644);
  std::optional<std::chrono::milliseconds> t =
      Within(std::chrono::seconds(5), [&] { return HasOurEntryLast(conf); });
  ASSERT_TRUE(t.has_value()) << Slurp(s / "err");
  // The issue's goal is 1 s (bench/ measures the median); CI's machines
  // are noisy, so the bound here is looser and the time is printed.
  printf("primary written late: entry in %lld ms\n",
         static_cast<long long>(t->count()));

  for (int i = 0; i < 5; ++i) {
    Spit(conf, kFlannel, 0644);  // the primary CNI rewrites its file
    t = Within(std::chrono::seconds(5), [&] { return HasOurEntryLast(conf); });
    ASSERT_TRUE(t.has_value()) << Slurp(s / "err");
    printf("rewrite %d: entry back in %lld ms\n", i,
           static_cast<long long>(t->count()));
    EXPECT_LT(t->count(), 1000);
  }
  const std::string bin = s / "bin/meshcap-cni";
  const std::string self = Slurp(MESHCAP_CNI);
  ASSERT_TRUE(Within(std::chrono::seconds(5), [&] {
                return Slurp(bin) == self;
              }).has_value());
  ASSERT_EQ(unlink(bin.c_str()), 0);
  t = Within(std::chrono::seconds(5), [&] { return Slurp(bin) == self; });
  ASSERT_TRUE(t.has_value()) << "a deleted binary is restored";
  Spit(bin, "#!/bin/sh\nexit 0\n", 0755);
  t = Within(std::chrono::seconds(5), [&] { return Slurp(bin) == self; });
  ASSERT_TRUE(t.has_value()) << "a replaced binary is restored";
  {
    // Truncated in place (not renamed over).
    std::ofstream f(bin, std::ios::binary | std::ios::trunc);
  }
  t = Within(std::chrono::seconds(5), [&] { return Slurp(bin) == self; });
  ASSERT_TRUE(t.has_value()) << "a truncated binary is restored";

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << status << Slurp(s / "err");
  EXPECT_TRUE(HasOurEntryLast(conf)) << "the installation stays";
  EXPECT_THAT(Slurp(s / "err"), HasSubstr("the installation stays"));
}

}  // namespace
}  // namespace meshcap::cni
