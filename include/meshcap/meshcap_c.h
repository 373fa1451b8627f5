// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: meshcap_c.h
// -----------------------------------------------------------------------------
//
// The stable C ABI of meshcap (`libmeshcap_c.so.1`, `pkg-config meshcap-c`).
// It is what the Python and Go packages are built on, and what programs in
// any language that can call C should use: unlike the C++ API, whose ABI
// follows Abseil's, it stays compatible across releases. Every function is
// versioned (`MESHCAP_1.0`); nothing else is exported.
//
//   meshcap_policy *policy = NULL;
//   char *error = NULL;
//   int rc = meshcap_policy_from_json(
//       "{\"OutboundIPRangesInclude\": \"*\", \"InboundPortsInclude\": \"*\"}",
//       &policy, &error);
//   if (rc != MESHCAP_OK) {
//     fprintf(stderr, "%s: %s\n", meshcap_code_name(rc), error);
//     meshcap_free(error);
//     return 1;
//   }
//   meshcap_engine_options options;
//   meshcap_engine_options_init(&options);
//   options.netns_path = "/var/run/netns/pod";
//   meshcap_engine *engine = NULL;
//   rc = meshcap_engine_new(&options, &engine, &error);
//   if (rc == MESHCAP_OK) {
//     rc = meshcap_engine_apply(engine, policy, NULL, NULL, NULL, &error);
//   }
//   ...
//   meshcap_engine_free(engine);
//   meshcap_policy_free(policy);
//
// Conventions:
//   - Fallible functions return an `int` error code, `MESHCAP_OK` (0) or one
//     of `enum meshcap_code`, whose values are Abseil's `absl::StatusCode`.
//     Their last parameter, `char **ret_error`, may be NULL; otherwise it
//     receives a message naming the offending value on failure (owned by the
//     caller: `meshcap_free()` it) and NULL on success.
//   - Output parameters come last and are named `ret_*`. On failure they are
//     set to NULL (handles, strings) or 0.
//   - Strings in are UTF-8 (or bytes), NUL-terminated, and may be freed as
//     soon as the call returns: the library keeps no pointer of the caller's
//     after a call returns, and makes no callbacks. Strings out are
//     NUL-terminated, allocated by the library and freed with `meshcap_free()`.
//   - Results with structure (what an apply changed, a verify report) are
//     JSON objects; fields may be added in later versions, never removed.
//   - `*_free()` functions accept NULL and return NULL.
//   - Options structs start with their own size (`size`), set by the
//     `*_options_init()` inline functions to what the caller was compiled
//     with, so that later versions can add fields at the end.
//
// Threads and namespaces:
//   - A `meshcap_policy` is immutable and may be used from any number of
//     threads at once. A `meshcap_policy_builder` is not thread-safe.
//   - A `meshcap_engine` may be shared between threads: calls on one engine
//     are serialized (one kernel transaction at a time). Freeing a handle
//     while another thread is still using it is, as ever, undefined.
//   - The calling thread never changes network namespace or identity. Work
//     inside another namespace runs on a thread of the engine's that entered
//     it once (and the validation probe on threads of its own), so runtimes
//     that move work between threads (Go's, for one) can call any function
//     from any thread.
//
// Error codes, as the functions below use them:
//   - MESHCAP_INVALID_ARGUMENT: a malformed or out-of-range value, an unknown
//     policy key or backend name, a NULL argument, a rule the kernel refused;
//   - MESHCAP_NOT_FOUND: a namespace path that does not exist, an unknown
//     group name;
//   - MESHCAP_PERMISSION_DENIED: no CAP_NET_ADMIN (or CAP_SYS_ADMIN to enter
//     the namespace), or no write access to the state directory;
//   - MESHCAP_ABORTED: the expected ruleset generation no longer matches;
//   - MESHCAP_UNAVAILABLE: the kernel lacks a feature;
//   - MESHCAP_FAILED_PRECONDITION: the state of the namespace prevents the
//     operation (lo down, a foreign jump into our chains, a proxy already
//     listening during validation);
//   - MESHCAP_DEADLINE_EXCEEDED: the namespace's lock (or the xtables lock)
//     is still held by another process after the timeout; for validation,
//     the probe was not captured;
//   - MESHCAP_RESOURCE_EXHAUSTED: out of memory;
//   - MESHCAP_INTERNAL: a bug.

#ifndef MESHCAP_MESHCAP_C_H_
#define MESHCAP_MESHCAP_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// -----------------------------------------------------------------------------
// Errors, memory, version
// -----------------------------------------------------------------------------

// The error codes: `absl::StatusCode`, value for value.
enum meshcap_code {
  MESHCAP_OK = 0,
  MESHCAP_CANCELLED = 1,
  MESHCAP_UNKNOWN = 2,
  MESHCAP_INVALID_ARGUMENT = 3,
  MESHCAP_DEADLINE_EXCEEDED = 4,
  MESHCAP_NOT_FOUND = 5,
  MESHCAP_ALREADY_EXISTS = 6,
  MESHCAP_PERMISSION_DENIED = 7,
  MESHCAP_RESOURCE_EXHAUSTED = 8,
  MESHCAP_FAILED_PRECONDITION = 9,
  MESHCAP_ABORTED = 10,
  MESHCAP_OUT_OF_RANGE = 11,
  MESHCAP_UNIMPLEMENTED = 12,
  MESHCAP_INTERNAL = 13,
  MESHCAP_UNAVAILABLE = 14,
  MESHCAP_DATA_LOSS = 15,
  MESHCAP_UNAUTHENTICATED = 16
};

// The name of an error code, as Abseil spells it: "OK", "NOT_FOUND". An
// unknown code gives "". The string is static.
const char *meshcap_code_name(int code);

// Frees a string the library returned. NULL is fine.
void meshcap_free(void *p);

// The version of the library, "MAJOR.MINOR.PATCH" (static storage). Compare
// with MESHCAP_VERSION in <meshcap/version.h> for the headers'.
const char *meshcap_version(void);

// -----------------------------------------------------------------------------
// Policies
// -----------------------------------------------------------------------------

// A validated capture policy (`meshcap::CapturePolicy`). Immutable.
typedef struct meshcap_policy meshcap_policy;

// Collects knob values, then validates them all at once
// (`meshcap::PolicyBuilder`).
typedef struct meshcap_policy_builder meshcap_policy_builder;

// Makes a policy from a JSON object whose keys are Istio's `Config` field
// names, as `meshcap --policy FILE` reads them:
//
//   {"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
//    "InboundPortsExclude": "15090,15021,15020"}
//
// "{}" is the library's defaults. MESHCAP_INVALID_ARGUMENT for malformed
// JSON (with line and column), an unknown or repeated key, a bad value (the
// message names the key and the value); MESHCAP_NOT_FOUND for an unknown
// group name.
int meshcap_policy_from_json(const char *json, meshcap_policy **ret_policy,
                             char **ret_error);

// The policy as a JSON object of every knob of its profile, with the values
// in effect; `meshcap_policy_from_json()` of it gives an equal policy.
int meshcap_policy_to_json(const meshcap_policy *policy, char **ret_json,
                           char **ret_error);

// Frees a policy.
meshcap_policy *meshcap_policy_free(meshcap_policy *policy);

// A builder with every knob at its default.
int meshcap_policy_builder_new(meshcap_policy_builder **ret_builder,
                               char **ret_error);

// Sets the knob named `key`, a JSON key ("ProxyPort") or istio-iptables'
// long flag ("envoy-port"), to `value` in Istio's text syntax ("15001",
// "*", "10.0.0.0/8,fd00::/8", "true"). An empty value unsets the knob.
// `origin` (NULL: the key) is what error messages call the value, e.g.
// "pod.json: key 'ProxyPort'". Values, and unknown keys, are checked by
// `meshcap_policy_builder_build()`; this fails only for NULL arguments.
int meshcap_policy_builder_set(meshcap_policy_builder *builder, const char *key,
                               const char *value, const char *origin,
                               char **ret_error);

// Returns the knob named `key` to its default.
int meshcap_policy_builder_unset(meshcap_policy_builder *builder,
                                 const char *key, char **ret_error);

// Sets the knobs of a JSON object, as `meshcap_policy_from_json()` reads it,
// on top of what the builder holds. `source` (NULL: "policy") names the
// document in messages. MESHCAP_INVALID_ARGUMENT for malformed JSON or an
// unknown key; the builder may then hold some of the object's values.
int meshcap_policy_builder_set_json(meshcap_policy_builder *builder,
                                    const char *json, const char *source,
                                    char **ret_error);

// Validates every knob and makes the policy. The builder is unchanged and
// may be used again.
int meshcap_policy_builder_build(const meshcap_policy_builder *builder,
                                 meshcap_policy **ret_policy, char **ret_error);

// Frees a builder.
meshcap_policy_builder *meshcap_policy_builder_free(
    meshcap_policy_builder *builder);

// -----------------------------------------------------------------------------
// Dry runs
// -----------------------------------------------------------------------------

// The text Istio's generator for `backend` would run, byte for byte:
// "nftables" gives the `nft -f` transaction, "iptables-legacy" the
// `iptables-restore --noflush` input (IPv4, then IPv6). No kernel is
// touched. MESHCAP_INVALID_ARGUMENT for a backend this build lacks.
int meshcap_render(const meshcap_policy *policy, const char *backend,
                   char **ret_text, char **ret_error);

// Why one packet is or is not captured under `policy` (`meshcap::Explain`,
// `meshcap explain`): the rules it meets in the kernel's order, spelled as
// `backend`'s Istio generator spells them (NULL: "nftables"), and the
// verdict. `packet_json` is an object of strings or numbers: "dst"
// ("IP:PORT", required), "proto" ("tcp", "udp"), "src" ("IP[:PORT]"),
// "uid", "gid", "oif" (a sent packet), "iif" (an arriving one), "mark",
// "connmark", "ctState" ("new", "established", "related", "invalid").
// `*ret_json` is {"captured": bool, "port": int|null, "mode": "REDIRECT" |
// "TPROXY" | "ACCEPT" | "DROP", "summary", "tproxyMark", "routeTable",
// "ctZone", "mark", "connmark", "backend", "packet", "path": [{"table",
// "family", "chain", "rule", "text", "matched", "failedMatch", "outcome",
// "decisive"}]}. No kernel is touched. MESHCAP_INVALID_ARGUMENT, naming the
// value, for a packet that cannot happen or an unknown backend. Since
// MESHCAP_1.2.
int meshcap_explain(const meshcap_policy *policy, const char *packet_json,
                    const char *backend, char **ret_json, char **ret_error);

// -----------------------------------------------------------------------------
// Engines: apply, verify, clean
// -----------------------------------------------------------------------------

// One backend in one network namespace (`meshcap::Engine`).
typedef struct meshcap_engine meshcap_engine;

typedef struct meshcap_engine_options {
  // sizeof(meshcap_engine_options) as the caller was compiled.
  uint32_t size;
  // The target namespace by an open fd, borrowed for the duration of
  // `meshcap_engine_new()` only; -1: none.
  int32_t netns_fd;
  // "nftables", "iptables-legacy" or "auto" (NULL too): $MESHCAP_BACKEND
  // when set, else the backend already holding meshcap's rules there, else
  // Istio's detection.
  const char *backend;
  // The target namespace by path ("/proc/PID/ns/net", "/var/run/netns/X").
  // Neither path nor fd: the namespace of the thread calling
  // `meshcap_engine_new()`.
  const char *netns_path;
  // iptables-legacy: the xtables lock file. NULL: $XTABLES_LOCKFILE, else
  // /run/xtables.lock.
  const char *xtables_lock_path;
  // Where meshcap keeps its per-namespace locks and intent records. NULL:
  // $MESHCAP_STATE_DIR, else /run/meshcap.
  const char *state_dir;
  // How long to wait for the namespace's lock and the xtables lock, in
  // milliseconds; negative: the default (30000).
  int64_t lock_timeout_ms;
} meshcap_engine_options;

// Fills `options` with the defaults (auto backend, the caller's namespace).
static inline void meshcap_engine_options_init(
    meshcap_engine_options *options) {
  static const meshcap_engine_options kDefaults = {
      sizeof(meshcap_engine_options), -1, NULL, NULL, NULL, NULL, -1};
  *options = kDefaults;
}

// Options for one apply.
typedef struct meshcap_apply_options {
  // sizeof(meshcap_apply_options) as the caller was compiled.
  uint32_t size;
  // MESHCAP_APPLY_* bits.
  uint32_t flags;
  // With MESHCAP_APPLY_EXPECT_GENERATION: apply only if the kernel's ruleset
  // generation is still this one (a verify report's "generation"); else
  // MESHCAP_ABORTED and nothing changes. nftables only.
  uint32_t expected_generation;
} meshcap_apply_options;

#define MESHCAP_APPLY_EXPECT_GENERATION (1u << 0)

static inline void meshcap_apply_options_init(meshcap_apply_options *options) {
  static const meshcap_apply_options kDefaults = {sizeof(meshcap_apply_options),
                                                  0, 0};
  *options = kDefaults;
}

// Opens the namespace and picks the backend. `options` NULL: the defaults.
// MESHCAP_NOT_FOUND for a namespace path that does not exist;
// MESHCAP_INVALID_ARGUMENT for an unknown backend, a file that is not a
// network namespace, or both a path and an fd; MESHCAP_PERMISSION_DENIED
// without the privileges to enter the namespace.
int meshcap_engine_new(const meshcap_engine_options *options,
                       meshcap_engine **ret_engine, char **ret_error);

// Closes the engine's socket, ends its thread, and frees it.
meshcap_engine *meshcap_engine_free(meshcap_engine *engine);

// "nftables" or "iptables-legacy"; valid until the engine is freed.
const char *meshcap_engine_backend(const meshcap_engine *engine);

// Makes the namespace hold exactly the policy's capture, in one
// transaction. `options` may be NULL. On success, `*ret_changed` (if not
// NULL) is 1 when anything was sent and 0 when the kernel already held
// exactly the policy, and `*ret_result` (if not NULL) is a JSON object:
//
//   {"backend": "nftables", "changed": true,
//    "changes": ["replaced table inet istio-proxy-nat", ...]}
int meshcap_engine_apply(meshcap_engine *engine, const meshcap_policy *policy,
                         const meshcap_apply_options *options, int *ret_changed,
                         char **ret_result, char **ret_error);

// Compares the namespace with the policy. MESHCAP_OK means the kernel was
// read, whether or not it matches: `*ret_matches` (if not NULL) is 1 when
// it holds exactly the policy's capture. `*ret_report` (if not NULL) is a
// JSON object:
//
//   {"backend": "nftables", "generation": 42, "matches": false,
//    "differences": [{"kind": "missing", "object": "rule",
//                     "table": "istio-proxy-nat", "chain": "istio-output",
//                     "position": 3, "desired": "...", "actual": "",
//                     "text": "missing rule 3 in ..."}]}
//
// "kind" is "missing", "extra" or "changed"; "generation" is what to pass as
// `meshcap_apply_options.expected_generation` (0 for iptables-legacy).
int meshcap_engine_verify(meshcap_engine *engine, const meshcap_policy *policy,
                          int *ret_matches, char **ret_report,
                          char **ret_error);

// Removes everything of meshcap's from the namespace, in both backends, and
// its policy routing (`meshcap clean`). Removing nothing is a success
// (`*ret_changed` 0). `*ret_result` as for `meshcap_engine_apply()`.
int meshcap_engine_clean(meshcap_engine *engine, int *ret_changed,
                         char **ret_result, char **ret_error);

// Holding a capture (MESHCAP_1.1).
typedef struct meshcap_watch_options {
  // sizeof(meshcap_watch_options) as the caller was compiled.
  uint32_t size;
  // How often to verify without a kernel event (iptables-legacy's tables
  // send none), and to retry a failed heal; 1000.
  uint32_t interval_ms;
  // nftables and iptables-nft: a full verify this often anyway; 60000.
  uint32_t resync_ms;
  // Where events go, -1 (the default) for nowhere: one JSON object per
  // line, each written whole (borrowed for the call; a pipe suits):
  //
  //   {"kind": "healed", "message": "healed in 1.3 ms: missing table ...",
  //    "drifted": ["missing table ..."], "changes": ["added table ..."],
  //    "elapsed_us": 1301, "error": ""}
  //
  // "kind" is "applied", "waiting" (another watcher holds the namespace),
  // "healed" or "heal_failed" ("error" then says why).
  int32_t event_fd;
} meshcap_watch_options;

static inline void meshcap_watch_options_init(meshcap_watch_options *options) {
  static const meshcap_watch_options kDefaults = {sizeof(meshcap_watch_options),
                                                  1000, 60000, -1};
  *options = kDefaults;
}

// Applies the policy, then holds it: whenever anything changes what apply
// owns, re-applies it (meshcap::Engine::Watch). Blocks until
// meshcap_engine_stop_watch() and then returns MESHCAP_OK, leaving the
// capture in place; an error if the first apply fails. Other calls on this
// engine wait until it returns.
int meshcap_engine_watch(meshcap_engine *engine, const meshcap_policy *policy,
                         const meshcap_watch_options *options,
                         char **ret_error);

// Makes the engine's running (or next) watch return. Any thread, and safe
// in a signal handler; does not wait for the engine's other calls.
void meshcap_engine_stop_watch(meshcap_engine *engine);

// -----------------------------------------------------------------------------
// Validation
// -----------------------------------------------------------------------------

// Istio's validation probe (`istio-iptables --run-validation`): listens on
// 127.0.0.1 at the outbound and inbound ports, dials 127.0.0.6 at the probe
// port as `uid`/`gid`, and passes when a listener accepts the connection
// with the probe port as its original destination.
typedef struct meshcap_validate_options {
  // sizeof(meshcap_validate_options) as the caller was compiled.
  uint32_t size;
  // The namespace by fd (borrowed for the call), -1: none.
  int32_t netns_fd;
  // The namespace by path; neither: the calling thread's.
  const char *netns_path;
  uint16_t outbound_port;  // 15001
  uint16_t inbound_port;   // 15006
  uint16_t probe_port;     // 15002
  // MESHCAP_VALIDATE_* bits.
  uint16_t flags;
  uint32_t uid;  // 1337
  uint32_t gid;  // 1337
  // How long to try, in milliseconds; negative: 5000.
  int64_t timeout_ms;
} meshcap_validate_options;

// Listen on ::1 and dial ::6 instead.
#define MESHCAP_VALIDATE_IPV6 (1u << 0)

static inline void meshcap_validate_options_init(
    meshcap_validate_options *options) {
  static const meshcap_validate_options kDefaults = {
      sizeof(meshcap_validate_options),
      -1,
      NULL,
      15001,
      15006,
      15002,
      0,
      1337,
      1337,
      -1};
  *options = kDefaults;
}

// Takes the ports and the identity from a policy, as `meshcap validate`
// does: its proxy port, inbound capture port, first proxy UID and GID.
int meshcap_validate_options_set_policy(meshcap_validate_options *options,
                                        const meshcap_policy *policy,
                                        char **ret_error);

// Runs the probe. MESHCAP_OK when it was captured;
// MESHCAP_DEADLINE_EXCEEDED when nothing captured it in time (the message
// says what the client saw); MESHCAP_FAILED_PRECONDITION when a listener
// cannot bind; MESHCAP_PERMISSION_DENIED when the identity cannot be taken.
int meshcap_validate(const meshcap_validate_options *options, char **ret_error);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // MESHCAP_MESHCAP_C_H_
