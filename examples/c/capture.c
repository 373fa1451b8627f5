// SPDX-License-Identifier: GPL-2.0-or-later
//
// Applies istio-init's default capture to a network namespace given by
// path, checks it, asks meshcap to explain the connection it is about to
// dial (which rule captures it), and shows the captured connection: inside the
// namespace, a connection dialled to 198.51.100.10:80 is accepted by a "proxy"
// listening on 127.0.0.1:15001, which reads the address the application
// dialled with SO_ORIGINAL_DST.
//
//   capture /var/run/netns/pod      (as root)
//
// The namespace needs a route to 198.51.100.10, as a pod has (eth0 and a
// default route); examples/run_example.sh makes such a namespace.
//
// Build: cc capture.c $(pkg-config --cflags --libs meshcap-c) -lpthread

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <meshcap/meshcap_c.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const char kPolicy[] =
    "{\"OutboundIPRangesInclude\": \"*\", \"InboundPortsInclude\": \"*\", "
    "\"InboundPortsExclude\": \"15090,15021,15020\"}";

// The proxy's listener and the application's connection, made on a thread
// that enters the namespace (a socket belongs to the namespace it was made
// in, whichever thread uses it later). The main thread never moves.
struct Sockets {
  const char *netns_path;
  int proxy;
  int app;
  char error[256];
};

static void *MakeSockets(void *arg) {
  struct Sockets *s = arg;
  struct sockaddr_in proxy_addr = {0};
  struct sockaddr_in app_dst = {0};
  struct timeval timeout = {5, 0};
  const int one = 1;
  int ns = open(s->netns_path, O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
    snprintf(s->error, sizeof(s->error), "entering %s: %s", s->netns_path,
             strerror(errno));
    if (ns >= 0) close(ns);
    return NULL;
  }
  close(ns);
  proxy_addr.sin_family = AF_INET;
  proxy_addr.sin_port = htons(15001);
  inet_pton(AF_INET, "127.0.0.1", &proxy_addr.sin_addr);
  s->proxy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  setsockopt(s->proxy, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(s->proxy, (struct sockaddr *)&proxy_addr, sizeof(proxy_addr)) != 0 ||
      listen(s->proxy, 1) != 0) {
    snprintf(s->error, sizeof(s->error), "listening on 127.0.0.1:15001: %s",
             strerror(errno));
    return NULL;
  }
  app_dst.sin_family = AF_INET;
  app_dst.sin_port = htons(80);
  inet_pton(AF_INET, "198.51.100.10", &app_dst.sin_addr);
  s->app = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  setsockopt(s->app, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(s->app, (struct sockaddr *)&app_dst, sizeof(app_dst)) != 0) {
    snprintf(s->error, sizeof(s->error), "dialling 198.51.100.10:80: %s",
             strerror(errno));
  }
  return NULL;
}

static int Fail(const char *what, int rc, char *error) {
  fprintf(stderr, "capture: %s: %s (%s)\n", what, error ? error : "",
          meshcap_code_name(rc));
  meshcap_free(error);
  return 1;
}

int main(int argc, char **argv) {
  meshcap_policy *policy = NULL;
  meshcap_engine *engine = NULL;
  meshcap_engine_options options;
  struct Sockets sockets = {NULL, -1, -1, ""};
  struct sockaddr_in original;
  socklen_t len = sizeof(original);
  char *error = NULL;
  char address[INET_ADDRSTRLEN];
  pthread_t thread;
  int changed = 0;
  int matches = 0;
  int conn;
  int rc;

  if (argc != 2) {
    fprintf(stderr, "usage: %s NETNS_PATH\n", argv[0]);
    return 2;
  }
  rc = meshcap_policy_from_json(kPolicy, &policy, &error);
  if (rc != MESHCAP_OK) return Fail("policy", rc, error);

  meshcap_engine_options_init(&options);
  options.netns_path = argv[1];
  rc = meshcap_engine_new(&options, &engine, &error);
  if (rc != MESHCAP_OK) return Fail(argv[1], rc, error);
  rc = meshcap_engine_apply(engine, policy, NULL, &changed, NULL, &error);
  if (rc != MESHCAP_OK) return Fail("apply", rc, error);
  printf("meshcap %s: applied the istio-init policy to %s (%s, %s)\n",
         meshcap_version(), argv[1], meshcap_engine_backend(engine),
         changed ? "changed" : "already in place");
  rc = meshcap_engine_verify(engine, policy, &matches, NULL, &error);
  if (rc != MESHCAP_OK) return Fail("verify", rc, error);
  printf("verify: %s\n", matches ? "the kernel holds exactly the policy"
                                 : "the kernel differs from the policy");
  // Why the connection below is captured: the rule that decides, from the
  // policy alone (a JSON object comes back; its "summary" is one line).
  {
    char *json = NULL;
    const char *summary;
    rc = meshcap_explain(policy,
                         "{\"dst\": \"198.51.100.10:80\", \"uid\": 1000}",
                         meshcap_engine_backend(engine), &json, &error);
    if (rc != MESHCAP_OK) return Fail("explain", rc, error);
    summary = strstr(json, "\"summary\":\"");
    if (summary != NULL) {
      summary += strlen("\"summary\":\"");
      printf("explain: %.*s\n", (int)strcspn(summary, "\""), summary);
    }
    meshcap_free(json);
  }
  meshcap_engine_free(engine);
  meshcap_policy_free(policy);

  sockets.netns_path = argv[1];
  pthread_create(&thread, NULL, MakeSockets, &sockets);
  pthread_join(thread, NULL);
  if (sockets.error[0] != '\0') {
    fprintf(stderr, "capture: %s\n", sockets.error);
    return 1;
  }
  conn = accept4(sockets.proxy, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0 ||
      getsockopt(conn, SOL_IP, SO_ORIGINAL_DST, &original, &len) != 0) {
    fprintf(stderr, "capture: SO_ORIGINAL_DST: %s\n", strerror(errno));
    return 1;
  }
  inet_ntop(AF_INET, &original.sin_addr, address, sizeof(address));
  printf(
      "dialled 198.51.100.10:80; the proxy on 127.0.0.1:15001 accepted it; "
      "original destination (SO_ORIGINAL_DST): %s:%u\n",
      address, (unsigned)ntohs(original.sin_port));
  close(conn);
  close(sockets.app);
  close(sockets.proxy);
  return 0;
}
