// SPDX-License-Identifier: GPL-2.0-or-later
//
// The C ABI as a C program uses it: only <meshcap/meshcap_c.h> and
// libmeshcap_c, compiled as C.
//
//   c_api_test unit     no privileges, no kernel state
//   c_api_test kernel   apply/verify/clean/validate, each case in a fresh
//                       network namespace of its own; exits 77 (skipped)
//                       when namespaces cannot be made
//
// Every case prints "ok NAME" or "FAIL NAME: why"; the exit status is 1 if
// any failed.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <meshcap/meshcap_c.h>
#include <meshcap/version.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// -----------------------------------------------------------------------------
// A tiny harness
// -----------------------------------------------------------------------------

static int case_failed;
static const char *case_name;

static void Failf(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  if (!case_failed) printf("FAIL %s\n", case_name);
  case_failed = 1;
  printf("  %s:%d: ", file, line);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

#define CHECK(cond)                                             \
  do {                                                          \
    if (!(cond)) Failf(__FILE__, __LINE__, "CHECK(%s)", #cond); \
  } while (0)

// Checks a return code, and prints the message when it is not the one
// expected.
#define CHECK_CODE(expr, want, err)                                    \
  do {                                                                 \
    int rc_ = (expr);                                                  \
    if (rc_ != (want)) {                                               \
      Failf(__FILE__, __LINE__, "%s returned %s (%s), want %s", #expr, \
            meshcap_code_name(rc_), (err) ? (err) : "no message",      \
            meshcap_code_name(want));                                  \
    }                                                                  \
  } while (0)

#define CHECK_CONTAINS(haystack, needle)                      \
  do {                                                        \
    const char *h_ = (haystack);                              \
    if (h_ == NULL || strstr(h_, (needle)) == NULL) {         \
      Failf(__FILE__, __LINE__, "'%s' does not contain '%s'", \
            h_ ? h_ : "(null)", (needle));                    \
    }                                                         \
  } while (0)

static const char kIstioInit[] =
    "{\"OutboundIPRangesInclude\": \"*\", \"InboundPortsInclude\": \"*\", "
    "\"InboundPortsExclude\": \"15090,15021,15020\"}";

static meshcap_policy *IstioInit(void) {
  meshcap_policy *p = NULL;
  char *err = NULL;
  CHECK_CODE(meshcap_policy_from_json(kIstioInit, &p, &err), MESHCAP_OK, err);
  meshcap_free(err);
  return p;
}

// -----------------------------------------------------------------------------
// Namespaces
// -----------------------------------------------------------------------------

// A fresh network namespace with lo up, held by an fd only; `path` opens
// it from this process and from children (/proc/PID/fd/N).
struct Netns {
  int fd;
  int error;  // errno of the failure, when fd < 0
  char path[64];
};

static int LoopbackUp(void) {
  struct ifreq ifr;
  int ok;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  close(fd);
  return ok;
}

// Runs on a thread of its own: the thread that unshares is thrown away.
static void *MakeNetns(void *arg) {
  struct Netns *ns = arg;
  if (unshare(CLONE_NEWNET) == 0 && LoopbackUp()) {
    ns->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  }
  if (ns->fd < 0) ns->error = errno;
  return NULL;
}

static int NetnsOpen(struct Netns *ns) {
  pthread_t t;
  ns->fd = -1;
  ns->error = 0;
  if (pthread_create(&t, NULL, MakeNetns, ns) != 0) return 0;
  pthread_join(t, NULL);
  if (ns->fd < 0) return 0;
  snprintf(ns->path, sizeof(ns->path), "/proc/%d/fd/%d", (int)getpid(), ns->fd);
  return 1;
}

static void NetnsClose(struct Netns *ns) {
  if (ns->fd >= 0) close(ns->fd);
  ns->fd = -1;
}

// Runs a shell command inside the namespace; returns its stdout (malloc'd)
// and its exit status in *status.
static char *ShellIn(const struct Netns *ns, const char *command, int *status) {
  char full[1024];
  char *out = NULL;
  size_t len = 0;
  FILE *p;
  char buf[4096];
  size_t n;
  snprintf(full, sizeof(full), "nsenter --net=%s sh -c '%s' 2>&1", ns->path,
           command);
  p = popen(full, "r");
  if (p == NULL) return NULL;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
    out = realloc(out, len + n + 1);
    memcpy(out + len, buf, n);
    len += n;
    out[len] = '\0';
  }
  *status = pclose(p);
  if (out == NULL) out = calloc(1, 1);
  return out;
}

static unsigned long ThreadNetnsInode(void) {
  struct stat st;
  if (stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return (unsigned long)st.st_ino;
}

static meshcap_engine *NewEngine(const char *backend, const char *path,
                                 int fd) {
  meshcap_engine_options o;
  meshcap_engine *e = NULL;
  char *err = NULL;
  meshcap_engine_options_init(&o);
  o.backend = backend;
  o.netns_path = path;
  o.netns_fd = fd;
  o.xtables_lock_path = getenv("MESHCAP_TEST_XTABLES_LOCK");
  CHECK_CODE(meshcap_engine_new(&o, &e, &err), MESHCAP_OK, err);
  meshcap_free(err);
  return e;
}

// -----------------------------------------------------------------------------
// Unit cases: no kernel state
// -----------------------------------------------------------------------------

static void TestVersionAndCodes(void) {
  CHECK(strcmp(meshcap_version(), MESHCAP_VERSION) == 0);
  CHECK(strcmp(meshcap_code_name(MESHCAP_OK), "OK") == 0);
  CHECK(strcmp(meshcap_code_name(MESHCAP_NOT_FOUND), "NOT_FOUND") == 0);
  CHECK(strcmp(meshcap_code_name(MESHCAP_PERMISSION_DENIED),
               "PERMISSION_DENIED") == 0);
  CHECK(strcmp(meshcap_code_name(MESHCAP_UNAUTHENTICATED), "UNAUTHENTICATED") ==
        0);
  CHECK(strcmp(meshcap_code_name(17), "") == 0);
  CHECK(strcmp(meshcap_code_name(-1), "") == 0);
  // Absl's values, which Go and Python mirror.
  CHECK(MESHCAP_INVALID_ARGUMENT == 3 && MESHCAP_NOT_FOUND == 5 &&
        MESHCAP_PERMISSION_DENIED == 7 && MESHCAP_ABORTED == 10 &&
        MESHCAP_UNAVAILABLE == 14);
}

static void TestPolicyJsonRoundTrip(void) {
  meshcap_policy *p = IstioInit();
  meshcap_policy *q = NULL;
  char *json = NULL;
  char *json2 = NULL;
  char *err = NULL;
  if (p == NULL) return;
  CHECK_CODE(meshcap_policy_to_json(p, &json, &err), MESHCAP_OK, err);
  CHECK_CONTAINS(json, "\"InboundPortsExclude\"");
  CHECK_CONTAINS(json, "15090");
  CHECK_CODE(meshcap_policy_from_json(json, &q, &err), MESHCAP_OK, err);
  CHECK_CODE(meshcap_policy_to_json(q, &json2, &err), MESHCAP_OK, err);
  CHECK(json != NULL && json2 != NULL && strcmp(json, json2) == 0);
  CHECK(err == NULL);
  meshcap_free(json);
  meshcap_free(json2);
  CHECK(meshcap_policy_free(p) == NULL);
  meshcap_policy_free(q);
  CHECK(meshcap_policy_free(NULL) == NULL);
}

static void ExpectJsonError(const char *json, int code, const char *needle) {
  meshcap_policy *p = (meshcap_policy *)1;
  char *err = NULL;
  CHECK_CODE(meshcap_policy_from_json(json, &p, &err), code, err);
  CHECK(p == NULL);
  CHECK_CONTAINS(err, needle);
  meshcap_free(err);
}

static void TestPolicyErrors(void) {
  meshcap_policy *p = NULL;
  ExpectJsonError("{\"ProxyPort\": ", MESHCAP_INVALID_ARGUMENT,
                  "not valid JSON");
  ExpectJsonError("{\"Bogus\": \"1\"}", MESHCAP_INVALID_ARGUMENT, "'Bogus'");
  ExpectJsonError("{\"InboundPortsExclude\": \"15090,0\"}",
                  MESHCAP_INVALID_ARGUMENT, "'0'");
  ExpectJsonError("{\"OutboundIPRangesInclude\": \"10.0.0.0/33\"}",
                  MESHCAP_INVALID_ARGUMENT, "10.0.0.0/33");
  ExpectJsonError("{\"OwnerGroupsInclude\": \"no-such-group-meshcap\"}",
                  MESHCAP_NOT_FOUND, "no-such-group-meshcap");
  // The message is optional...
  CHECK_CODE(meshcap_policy_from_json("[]", &p, NULL), MESHCAP_INVALID_ARGUMENT,
             NULL);
  // ...and so is nothing else.
  {
    char *err = NULL;
    CHECK_CODE(meshcap_policy_from_json(NULL, &p, &err),
               MESHCAP_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "'json'");
    meshcap_free(err);
    CHECK_CODE(meshcap_policy_from_json("{}", NULL, &err),
               MESHCAP_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "'ret_policy'");
    meshcap_free(err);
  }
}

static void TestBuilder(void) {
  meshcap_policy_builder *b = NULL;
  meshcap_policy *built = NULL;
  meshcap_policy *from_json = IstioInit();
  char *a = NULL;
  char *c = NULL;
  char *err = NULL;
  CHECK_CODE(meshcap_policy_builder_new(&b, &err), MESHCAP_OK, err);
  if (b == NULL || from_json == NULL) return;
  CHECK_CODE(
      meshcap_policy_builder_set(b, "OutboundIPRangesInclude", "*", NULL, &err),
      MESHCAP_OK, err);
  // A long flag works as a key too.
  CHECK_CODE(
      meshcap_policy_builder_set(b, "istio-inbound-ports", "*", NULL, &err),
      MESHCAP_OK, err);
  CHECK_CODE(meshcap_policy_builder_set_json(
                 b, "{\"InboundPortsExclude\": [15090, 15021, 15020]}",
                 "pod.json", &err),
             MESHCAP_OK, err);
  CHECK_CODE(meshcap_policy_builder_build(b, &built, &err), MESHCAP_OK, err);
  CHECK_CODE(meshcap_render(built, "nftables", &a, &err), MESHCAP_OK, err);
  CHECK_CODE(meshcap_render(from_json, "nftables", &c, &err), MESHCAP_OK, err);
  CHECK(a != NULL && c != NULL && strcmp(a, c) == 0);
  meshcap_free(a);
  meshcap_free(c);
  meshcap_policy_free(built);
  built = NULL;

  // Errors name the origin and the value.
  CHECK_CODE(
      meshcap_policy_builder_set(b, "ProxyPort", "70000", "--envoy-port", &err),
      MESHCAP_OK, err);
  CHECK_CODE(meshcap_policy_builder_build(b, &built, &err),
             MESHCAP_INVALID_ARGUMENT, err);
  CHECK(built == NULL);
  CHECK_CONTAINS(err, "--envoy-port");
  CHECK_CONTAINS(err, "70000");
  meshcap_free(err);
  // Unset puts the default back; the builder is reusable.
  CHECK_CODE(meshcap_policy_builder_unset(b, "ProxyPort", &err), MESHCAP_OK,
             err);
  CHECK_CODE(meshcap_policy_builder_build(b, &built, &err), MESHCAP_OK, err);
  meshcap_policy_free(built);
  built = NULL;
  // Unknown keys are reported by build, by name.
  CHECK_CODE(meshcap_policy_builder_set(b, "ProxyPortt", "1", NULL, &err),
             MESHCAP_OK, err);
  CHECK_CODE(meshcap_policy_builder_build(b, &built, &err),
             MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "ProxyPortt");
  meshcap_free(err);
  CHECK_CODE(
      meshcap_policy_builder_set_json(b, "{\"Nope\": 1}", "pod.json", &err),
      MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "pod.json");
  CHECK_CONTAINS(err, "'Nope'");
  meshcap_free(err);
  CHECK_CODE(meshcap_policy_builder_set(b, NULL, "1", NULL, &err),
             MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "'key'");
  meshcap_free(err);
  CHECK(meshcap_policy_builder_free(b) == NULL);
  meshcap_policy_free(from_json);
}

static void TestRender(void) {
  meshcap_policy *p = IstioInit();
  char *text = NULL;
  char *err = NULL;
  if (p == NULL) return;
  CHECK_CODE(meshcap_render(p, "nftables", &text, &err), MESHCAP_OK, err);
  CHECK_CONTAINS(text, "add table inet istio-proxy-nat");
  meshcap_free(text);
  CHECK_CODE(meshcap_render(p, "iptables-legacy", &text, &err), MESHCAP_OK,
             err);
  CHECK_CONTAINS(text, "-A ISTIO_OUTPUT -j ISTIO_REDIRECT");
  meshcap_free(text);
  text = (char *)1;
  CHECK_CODE(meshcap_render(p, "pf", &text, &err), MESHCAP_INVALID_ARGUMENT,
             err);
  CHECK(text == NULL);
  CHECK_CONTAINS(err, "pf");
  meshcap_free(err);
  meshcap_policy_free(p);
}

static void TestExplain(void) {
  meshcap_policy *p = IstioInit();
  char *json = NULL;
  char *err = NULL;
  if (p == NULL) return;
  CHECK_CODE(meshcap_explain(p, "{\"dst\": \"10.96.0.10:80\", \"uid\": 1000}",
                             "nftables", &json, &err),
             MESHCAP_OK, err);
  CHECK_CONTAINS(json, "\"captured\":true");
  CHECK_CONTAINS(json, "\"port\":15001");
  CHECK_CONTAINS(json, "redirect to :15001");
  meshcap_free(json);
  /* The proxy's own traffic passes; NULL picks nftables, the iptables
     spelling is asked for. */
  CHECK_CODE(meshcap_explain(p, "{\"dst\": \"10.96.0.10:80\", \"uid\": 1337}",
                             "iptables-legacy", &json, &err),
             MESHCAP_OK, err);
  CHECK_CONTAINS(json, "\"captured\":false");
  CHECK_CONTAINS(json, "--uid-owner 1337 -j RETURN");
  meshcap_free(json);
  json = (char *)1;
  CHECK_CODE(
      meshcap_explain(p, "{\"dst\": \"10.96.0.10:70000\"}", NULL, &json, &err),
      MESHCAP_INVALID_ARGUMENT, err);
  CHECK(json == NULL);
  CHECK_CONTAINS(err, "70000");
  meshcap_free(err);
  CHECK_CODE(meshcap_explain(p, NULL, NULL, &json, &err),
             MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "packet_json");
  meshcap_free(err);
  meshcap_policy_free(p);
}

static void TestEngineErrorsWithoutKernel(void) {
  meshcap_engine_options o;
  meshcap_engine *e = (meshcap_engine *)1;
  char *err = NULL;
  meshcap_engine_options_init(&o);
  o.netns_path = "/nonexistent/meshcap/ns";
  CHECK_CODE(meshcap_engine_new(&o, &e, &err), MESHCAP_NOT_FOUND, err);
  CHECK(e == NULL);
  CHECK_CONTAINS(err, "/nonexistent/meshcap/ns");
  meshcap_free(err);

  o.netns_path = "/etc/hostname";
  CHECK_CODE(meshcap_engine_new(&o, &e, &err), MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "/etc/hostname");
  meshcap_free(err);

  o.netns_path = "/proc/self/ns/net";
  o.netns_fd = 0;
  CHECK_CODE(meshcap_engine_new(&o, &e, &err), MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "not both");
  meshcap_free(err);

  meshcap_engine_options_init(&o);
  o.backend = "pf";
  CHECK_CODE(meshcap_engine_new(&o, &e, &err), MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "pf");
  meshcap_free(err);

  // NULL handles are errors naming the argument, not crashes.
  CHECK_CODE(meshcap_engine_apply(NULL, NULL, NULL, NULL, NULL, &err),
             MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "'engine'");
  meshcap_free(err);
  CHECK_CODE(meshcap_engine_clean(NULL, NULL, NULL, NULL),
             MESHCAP_INVALID_ARGUMENT, NULL);
  CHECK(meshcap_engine_free(NULL) == NULL);
  CHECK(strcmp(meshcap_engine_backend(NULL), "") == 0);
}

static void TestOptionsVersioning(void) {
  // A caller built against a later header: a bigger struct.
  struct {
    meshcap_engine_options v1;
    uint64_t later_field;
  } bigger;
  meshcap_engine_options o;
  meshcap_engine *e = NULL;
  char *err = NULL;

  meshcap_engine_options_init(&o);
  o.size = 8;
  CHECK_CODE(meshcap_engine_new(&o, &e, &err), MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "meshcap_engine_options.size is 8");
  meshcap_free(err);

  memset(&bigger, 0, sizeof(bigger));
  meshcap_engine_options_init(&bigger.v1);
  bigger.v1.size = sizeof(bigger);
  bigger.v1.netns_path = "/nonexistent/meshcap/ns";
  // Unknown fields left zero: accepted (and the path is then looked at).
  CHECK_CODE(meshcap_engine_new(&bigger.v1, &e, &err), MESHCAP_NOT_FOUND, err);
  meshcap_free(err);
  // Unknown fields set: refused, whatever they are.
  bigger.later_field = 1;
  CHECK_CODE(meshcap_engine_new(&bigger.v1, &e, &err), MESHCAP_INVALID_ARGUMENT,
             err);
  CHECK_CONTAINS(err, "does not know");
  meshcap_free(err);
}

static void TestValidateOptions(void) {
  meshcap_validate_options v;
  meshcap_policy *p = NULL;
  char *err = NULL;
  meshcap_validate_options_init(&v);
  CHECK(v.outbound_port == 15001 && v.inbound_port == 15006 &&
        v.probe_port == 15002 && v.uid == 1337 && v.gid == 1337);
  CHECK_CODE(meshcap_policy_from_json(
                 "{\"ProxyPort\": 16001, \"InboundCapturePort\": 16006, "
                 "\"ProxyUID\": \"2000\", \"ProxyGID\": \"2001\"}",
                 &p, &err),
             MESHCAP_OK, err);
  CHECK_CODE(meshcap_validate_options_set_policy(&v, p, &err), MESHCAP_OK, err);
  CHECK(v.outbound_port == 16001 && v.inbound_port == 16006 && v.uid == 2000 &&
        v.gid == 2001);
  meshcap_policy_free(p);

  v.flags = 0x80;
  CHECK_CODE(meshcap_validate(&v, &err), MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "flags");
  meshcap_free(err);
  meshcap_validate_options_init(&v);
  v.probe_port = 0;
  CHECK_CODE(meshcap_validate(&v, &err), MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "probe_port");
  meshcap_free(err);
  meshcap_validate_options_init(&v);
  v.netns_path = "/nonexistent/meshcap/ns";
  CHECK_CODE(meshcap_validate(&v, &err), MESHCAP_NOT_FOUND, err);
  meshcap_free(err);
}

// -----------------------------------------------------------------------------
// Kernel cases: each in a fresh namespace
// -----------------------------------------------------------------------------

static int NftHoldsOurs(const struct Netns *ns) {
  int status = -1;
  char *out = ShellIn(ns, "nft list tables", &status);
  int holds = out != NULL && strstr(out, "istio-proxy-nat") != NULL;
  free(out);
  return holds;
}

static void ApplyVerifyClean(const char *backend, int by_fd) {
  struct Netns ns;
  meshcap_engine *e;
  meshcap_policy *p = IstioInit();
  char *result = NULL;
  char *err = NULL;
  int changed = -1;
  int matches = -1;
  const unsigned long inode = ThreadNetnsInode();
  if (p == NULL || !NetnsOpen(&ns)) {
    CHECK(!"a namespace");
    return;
  }
  e = by_fd ? NewEngine(backend, NULL, ns.fd) : NewEngine(backend, ns.path, -1);
  // The fd was only borrowed for the call.
  if (by_fd) NetnsClose(&ns);
  if (e == NULL) return;
  CHECK(strcmp(meshcap_engine_backend(e), backend) == 0);

  CHECK_CODE(meshcap_engine_verify(e, p, &matches, NULL, &err), MESHCAP_OK,
             err);
  CHECK(matches == 0);
  CHECK_CODE(meshcap_engine_apply(e, p, NULL, &changed, &result, &err),
             MESHCAP_OK, err);
  CHECK(changed == 1);
  CHECK_CONTAINS(result, "\"changed\":true");
  CHECK_CONTAINS(result, "\"changes\":[\"");
  meshcap_free(result);
  if (!by_fd && strcmp(backend, "nftables") == 0) CHECK(NftHoldsOurs(&ns));
  if (!by_fd && strcmp(backend, "iptables-legacy") == 0) {
    int status = -1;
    char *out = ShellIn(&ns, "iptables-legacy-save -t nat", &status);
    CHECK_CONTAINS(out, "-A ISTIO_OUTPUT -j ISTIO_REDIRECT");
    free(out);
  }

  CHECK_CODE(meshcap_engine_verify(e, p, &matches, &result, &err), MESHCAP_OK,
             err);
  CHECK(matches == 1);
  CHECK_CONTAINS(result, "\"matches\":true");
  CHECK_CONTAINS(result, "\"differences\":[]");
  meshcap_free(result);

  // Re-applying the same policy sends nothing.
  CHECK_CODE(meshcap_engine_apply(e, p, NULL, &changed, &result, &err),
             MESHCAP_OK, err);
  CHECK(changed == 0);
  CHECK_CONTAINS(result, "\"changes\":[]");
  meshcap_free(result);

  CHECK_CODE(meshcap_engine_clean(e, &changed, &result, &err), MESHCAP_OK, err);
  CHECK(changed == 1);
  meshcap_free(result);
  if (!by_fd && strcmp(backend, "nftables") == 0) CHECK(!NftHoldsOurs(&ns));
  CHECK_CODE(meshcap_engine_verify(e, p, &matches, &result, &err), MESHCAP_OK,
             err);
  CHECK(matches == 0);
  CHECK_CONTAINS(result, "\"kind\":\"missing\"");
  meshcap_free(result);
  CHECK_CODE(meshcap_engine_clean(e, &changed, NULL, &err), MESHCAP_OK, err);
  CHECK(changed == 0);

  // Whatever happened, this thread stayed where it was.
  CHECK(ThreadNetnsInode() == inode);
  meshcap_engine_free(e);
  meshcap_policy_free(p);
  NetnsClose(&ns);
}

static void TestApplyVerifyCleanNftablesByPath(void) {
  ApplyVerifyClean("nftables", 0);
}
static void TestApplyVerifyCleanNftablesByFd(void) {
  ApplyVerifyClean("nftables", 1);
}
static void TestApplyVerifyCleanIptablesLegacy(void) {
  ApplyVerifyClean("iptables-legacy", 0);
}

static long JsonNumber(const char *json, const char *key) {
  const char *at = json == NULL ? NULL : strstr(json, key);
  if (at == NULL) return -1;
  return strtol(at + strlen(key), NULL, 10);
}

static void TestExpectedGenerationAborts(void) {
  struct Netns ns;
  meshcap_engine *e;
  meshcap_policy *p = IstioInit();
  meshcap_apply_options ao;
  char *report = NULL;
  char *err = NULL;
  int status = -1;
  char *out;
  long generation;
  if (p == NULL || !NetnsOpen(&ns)) {
    CHECK(!"a namespace");
    return;
  }
  e = NewEngine("nftables", ns.path, -1);
  if (e == NULL) return;
  CHECK_CODE(meshcap_engine_verify(e, p, NULL, &report, &err), MESHCAP_OK, err);
  generation = JsonNumber(report, "\"generation\":");
  meshcap_free(report);
  CHECK(generation >= 0);

  meshcap_apply_options_init(&ao);
  ao.flags = MESHCAP_APPLY_EXPECT_GENERATION;
  ao.expected_generation = (uint32_t)generation;
  // Somebody else commits in between.
  out = ShellIn(&ns, "nft add table inet somebody-else", &status);
  CHECK(status == 0);
  free(out);
  CHECK_CODE(meshcap_engine_apply(e, p, &ao, NULL, NULL, &err), MESHCAP_ABORTED,
             err);
  meshcap_free(err);
  CHECK(!NftHoldsOurs(&ns));

  // With the current generation it goes through.
  CHECK_CODE(meshcap_engine_verify(e, p, NULL, &report, &err), MESHCAP_OK, err);
  ao.expected_generation = (uint32_t)JsonNumber(report, "\"generation\":");
  meshcap_free(report);
  CHECK_CODE(meshcap_engine_apply(e, p, &ao, NULL, NULL, &err), MESHCAP_OK,
             err);
  CHECK(NftHoldsOurs(&ns));

  ao.flags = 0x40;
  CHECK_CODE(meshcap_engine_apply(e, p, &ao, NULL, NULL, &err),
             MESHCAP_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(err, "flags");
  meshcap_free(err);
  meshcap_engine_free(e);
  meshcap_policy_free(p);
  NetnsClose(&ns);
}

struct Unprivileged {
  const char *path;
  int rc;
  char *err;
};

// Drops this thread's (only this thread's) privileges: raw setresuid, not
// glibc's, which would change every thread of the process.
static void *CreateUnprivileged(void *arg) {
  struct Unprivileged *u = arg;
  meshcap_engine_options o;
  meshcap_engine *e = NULL;
  if (syscall(SYS_setresgid, 65534, 65534, 65534) != 0 ||
      syscall(SYS_setresuid, 65534, 65534, 65534) != 0) {
    u->rc = -1;
    return NULL;
  }
  meshcap_engine_options_init(&o);
  o.netns_path = u->path;
  o.backend = "nftables";
  u->rc = meshcap_engine_new(&o, &e, &u->err);
  meshcap_engine_free(e);
  return NULL;
}

static void TestPermissionDenied(void) {
  struct Netns ns;
  struct Unprivileged u = {NULL, 0, NULL};
  pthread_t t;
  if (!NetnsOpen(&ns)) {
    CHECK(!"a namespace");
    return;
  }
  u.path = ns.path;
  pthread_create(&t, NULL, CreateUnprivileged, &u);
  pthread_join(t, NULL);
  CHECK_CODE(u.rc, MESHCAP_PERMISSION_DENIED, u.err);
  meshcap_free(u.err);
  NetnsClose(&ns);
}

static void TestValidate(void) {
  struct Netns ns;
  meshcap_engine *e;
  meshcap_policy *p = IstioInit();
  meshcap_validate_options v;
  char *err = NULL;
  const unsigned long inode = ThreadNetnsInode();
  if (p == NULL || !NetnsOpen(&ns)) {
    CHECK(!"a namespace");
    return;
  }
  meshcap_validate_options_init(&v);
  CHECK_CODE(meshcap_validate_options_set_policy(&v, p, &err), MESHCAP_OK, err);
  v.netns_path = ns.path;
  v.timeout_ms = 300;
  // Nothing applied yet: the probe is not captured.
  CHECK_CODE(meshcap_validate(&v, &err), MESHCAP_DEADLINE_EXCEEDED, err);
  CHECK_CONTAINS(err, "127.0.0.6:15002");
  meshcap_free(err);

  e = NewEngine("nftables", ns.path, -1);
  if (e == NULL) return;
  CHECK_CODE(meshcap_engine_apply(e, p, NULL, NULL, NULL, &err), MESHCAP_OK,
             err);
  v.timeout_ms = 5000;
  CHECK_CODE(meshcap_validate(&v, &err), MESHCAP_OK, err);
  // By fd as well.
  v.netns_path = NULL;
  v.netns_fd = ns.fd;
  CHECK_CODE(meshcap_validate(&v, &err), MESHCAP_OK, err);
  CHECK(ThreadNetnsInode() == inode);
  meshcap_engine_free(e);
  meshcap_policy_free(p);
  NetnsClose(&ns);
}

struct SharedEngine {
  meshcap_engine *engine;
  meshcap_policy *policy;
  int failures;
};

static void *Hammer(void *arg) {
  struct SharedEngine *s = arg;
  int i;
  for (i = 0; i < 10; ++i) {
    int matches = 0;
    if (meshcap_engine_apply(s->engine, s->policy, NULL, NULL, NULL, NULL) !=
            MESHCAP_OK ||
        meshcap_engine_verify(s->engine, s->policy, &matches, NULL, NULL) !=
            MESHCAP_OK ||
        !matches) {
      __atomic_add_fetch(&s->failures, 1, __ATOMIC_SEQ_CST);
    }
  }
  return NULL;
}

static void TestSharedEngineAcrossThreads(void) {
  struct Netns ns;
  struct SharedEngine s = {NULL, NULL, 0};
  pthread_t t[4];
  int i;
  if (!NetnsOpen(&ns)) {
    CHECK(!"a namespace");
    return;
  }
  s.policy = IstioInit();
  s.engine = NewEngine("nftables", ns.path, -1);
  if (s.engine == NULL || s.policy == NULL) return;
  for (i = 0; i < 4; ++i) pthread_create(&t[i], NULL, Hammer, &s);
  for (i = 0; i < 4; ++i) pthread_join(t[i], NULL);
  CHECK(s.failures == 0);
  meshcap_engine_free(s.engine);
  meshcap_policy_free(s.policy);
  NetnsClose(&ns);
}

// -----------------------------------------------------------------------------

struct Case {
  const char *name;
  void (*fn)(void);
};

struct WatchRun {
  meshcap_engine *engine;
  meshcap_policy *policy;
  int event_fd;
  int rc;
  char *err;
};

static void *RunWatch(void *arg) {
  struct WatchRun *w = arg;
  meshcap_watch_options o;
  meshcap_watch_options_init(&o);
  o.event_fd = w->event_fd;
  w->rc = meshcap_engine_watch(w->engine, w->policy, &o, &w->err);
  return NULL;
}

// One line from `fd` (up to 10 s), malloc'd; NULL on time-out.
static char *ReadLine(int fd) {
  char *line = calloc(1, 65536);
  size_t len = 0;
  struct pollfd p = {fd, POLLIN, 0};
  while (len < 65535 && poll(&p, 1, 10000) == 1) {
    if (read(fd, line + len, 1) != 1) break;
    if (line[len] == '\n') {
      line[len] = '\0';
      return line;
    }
    ++len;
  }
  free(line);
  return NULL;
}

static void TestWatchHealsAndReports(void) {
  struct Netns ns;
  struct WatchRun w;
  pthread_t t;
  int pipe_fds[2];
  int status = -1;
  int matches = -1;
  char *line;
  char *err = NULL;
  if (!NetnsOpen(&ns) || pipe(pipe_fds) != 0) {
    CHECK(!"a namespace and a pipe");
    return;
  }
  memset(&w, 0, sizeof(w));
  w.engine = NewEngine("nftables", ns.path, -1);
  w.policy = IstioInit();
  w.event_fd = pipe_fds[1];
  if (w.engine == NULL || w.policy == NULL) return;
  CHECK(pthread_create(&t, NULL, RunWatch, &w) == 0);
  line = ReadLine(pipe_fds[0]);
  CHECK_CONTAINS(line, "\"kind\":\"applied\"");
  free(line);
  free(ShellIn(&ns, "nft delete table inet istio-proxy-nat", &status));
  CHECK(status == 0);
  line = ReadLine(pipe_fds[0]);
  CHECK_CONTAINS(line, "\"kind\":\"healed\"");
  CHECK_CONTAINS(line, "\"drifted\":[\"missing table istio-proxy-nat");
  CHECK_CONTAINS(line, "\"elapsed_us\":");
  free(line);
  meshcap_engine_stop_watch(w.engine);
  pthread_join(t, NULL);
  CHECK_CODE(w.rc, MESHCAP_OK, w.err);
  meshcap_free(w.err);
  // Stopped: the capture stays, and the engine takes calls again.
  CHECK_CODE(meshcap_engine_verify(w.engine, w.policy, &matches, NULL, &err),
             MESHCAP_OK, err);
  CHECK(matches == 1);
  // Bad options: an error naming them, nothing applied.
  {
    meshcap_watch_options o;
    meshcap_watch_options_init(&o);
    o.interval_ms = 0;
    CHECK_CODE(meshcap_engine_watch(w.engine, w.policy, &o, &err),
               MESHCAP_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "interval_ms");
    meshcap_free(err);
  }
  meshcap_engine_stop_watch(NULL);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  meshcap_engine_free(w.engine);
  meshcap_policy_free(w.policy);
  NetnsClose(&ns);
}

static const struct Case kUnit[] = {
    {"VersionAndCodes", TestVersionAndCodes},
    {"PolicyJsonRoundTrip", TestPolicyJsonRoundTrip},
    {"PolicyErrors", TestPolicyErrors},
    {"Builder", TestBuilder},
    {"Render", TestRender},
    {"Explain", TestExplain},
    {"EngineErrorsWithoutKernel", TestEngineErrorsWithoutKernel},
    {"OptionsVersioning", TestOptionsVersioning},
    {"ValidateOptions", TestValidateOptions},
};

static const struct Case kKernel[] = {
    {"ApplyVerifyCleanNftablesByPath", TestApplyVerifyCleanNftablesByPath},
    {"ApplyVerifyCleanNftablesByFd", TestApplyVerifyCleanNftablesByFd},
    {"ApplyVerifyCleanIptablesLegacy", TestApplyVerifyCleanIptablesLegacy},
    {"ExpectedGenerationAborts", TestExpectedGenerationAborts},
    {"PermissionDenied", TestPermissionDenied},
    {"Validate", TestValidate},
    {"SharedEngineAcrossThreads", TestSharedEngineAcrossThreads},
    {"WatchHealsAndReports", TestWatchHealsAndReports},
};

static int Run(const struct Case *cases, size_t n) {
  size_t i;
  int failed = 0;
  for (i = 0; i < n; ++i) {
    case_name = cases[i].name;
    case_failed = 0;
    cases[i].fn();
    if (!case_failed) printf("ok %s\n", case_name);
    failed += case_failed;
  }
  printf("%zu cases, %d failed\n", n, failed);
  return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "unit") == 0) {
    return Run(kUnit, sizeof(kUnit) / sizeof(kUnit[0]));
  }
  if (argc == 2 && strcmp(argv[1], "kernel") == 0) {
    struct Netns probe;
    if (!NetnsOpen(&probe)) {
      printf("skipped: cannot create a network namespace: %s\n",
             strerror(probe.error));
      return 77;
    }
    NetnsClose(&probe);
    return Run(kKernel, sizeof(kKernel) / sizeof(kKernel[0]));
  }
  fprintf(stderr, "usage: %s unit|kernel\n", argv[0]);
  return 2;
}
