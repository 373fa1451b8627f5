// SPDX-License-Identifier: GPL-2.0-or-later
//
// The C ABI (include/meshcap/meshcap_c.h) over the C++ API. Each function
// checks its arguments, calls the C++ API, and turns an `absl::Status` into
// a code and an owned message. No exception crosses the boundary, and no
// pointer of the caller's is kept after a function returns.

#include "meshcap/meshcap_c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "config.h"
#include "meshcap/engine.h"
#include "meshcap/explain.h"
#include "meshcap/policy.h"
#include "meshcap/policy_json.h"
#include "meshcap/render.h"
#include "meshcap/validate.h"
#include "nlohmann/json.hpp"

#define MESHCAP_C_API extern "C" __attribute__((visibility("default")))

namespace {

using Json = nlohmann::json;

// The handles. The public structs stay incomplete, here as in the header (so
// the ABI's debug information shows them opaque): each handle is one of
// these, passed out as a pointer to its public name.
struct Policy {
  explicit Policy(meshcap::CapturePolicy p) : policy(std::move(p)) {}
  const meshcap::CapturePolicy policy;
};

struct Builder {
  meshcap::PolicyBuilder builder;
};

struct Engine {
  // Calls on one engine take turns: `meshcap::Engine` is not thread-safe.
  std::mutex mu;
  std::unique_ptr<meshcap::Engine> engine;
  // What meshcap_engine_backend() returns; NUL-terminated, engine-owned.
  std::string backend;
};

const Policy* Get(const meshcap_policy* p) {
  return reinterpret_cast<const Policy*>(p);
}
meshcap_policy* Handle(Policy* p) {
  return reinterpret_cast<meshcap_policy*>(p);
}
Builder* Get(meshcap_policy_builder* b) {
  return reinterpret_cast<Builder*>(b);
}
const Builder* Get(const meshcap_policy_builder* b) {
  return reinterpret_cast<const Builder*>(b);
}
meshcap_policy_builder* Handle(Builder* b) {
  return reinterpret_cast<meshcap_policy_builder*>(b);
}
Engine* Get(meshcap_engine* e) { return reinterpret_cast<Engine*>(e); }
const Engine* Get(const meshcap_engine* e) {
  return reinterpret_cast<const Engine*>(e);
}
meshcap_engine* Handle(Engine* e) {
  return reinterpret_cast<meshcap_engine*>(e);
}

// The codes are Abseil's, value for value.
#define MESHCAP_C_SAME_CODE(c, k) \
  static_assert(c == static_cast<int>(absl::StatusCode::k), #c)
MESHCAP_C_SAME_CODE(MESHCAP_OK, kOk);
MESHCAP_C_SAME_CODE(MESHCAP_CANCELLED, kCancelled);
MESHCAP_C_SAME_CODE(MESHCAP_UNKNOWN, kUnknown);
MESHCAP_C_SAME_CODE(MESHCAP_INVALID_ARGUMENT, kInvalidArgument);
MESHCAP_C_SAME_CODE(MESHCAP_DEADLINE_EXCEEDED, kDeadlineExceeded);
MESHCAP_C_SAME_CODE(MESHCAP_NOT_FOUND, kNotFound);
MESHCAP_C_SAME_CODE(MESHCAP_ALREADY_EXISTS, kAlreadyExists);
MESHCAP_C_SAME_CODE(MESHCAP_PERMISSION_DENIED, kPermissionDenied);
MESHCAP_C_SAME_CODE(MESHCAP_RESOURCE_EXHAUSTED, kResourceExhausted);
MESHCAP_C_SAME_CODE(MESHCAP_FAILED_PRECONDITION, kFailedPrecondition);
MESHCAP_C_SAME_CODE(MESHCAP_ABORTED, kAborted);
MESHCAP_C_SAME_CODE(MESHCAP_OUT_OF_RANGE, kOutOfRange);
MESHCAP_C_SAME_CODE(MESHCAP_UNIMPLEMENTED, kUnimplemented);
MESHCAP_C_SAME_CODE(MESHCAP_INTERNAL, kInternal);
MESHCAP_C_SAME_CODE(MESHCAP_UNAVAILABLE, kUnavailable);
MESHCAP_C_SAME_CODE(MESHCAP_DATA_LOSS, kDataLoss);
MESHCAP_C_SAME_CODE(MESHCAP_UNAUTHENTICATED, kUnauthenticated);
#undef MESHCAP_C_SAME_CODE

// The layouts of MESHCAP_1.0. A struct may only grow at its end; these are
// the sizes older callers pass, which must stay accepted.
constexpr uint32_t kEngineOptionsV1Size = 48;
constexpr uint32_t kApplyOptionsV1Size = 12;
constexpr uint32_t kValidateOptionsV1Size = 40;
constexpr uint32_t kWatchOptionsV1Size = 16;
static_assert(sizeof(meshcap_engine_options) == kEngineOptionsV1Size);
static_assert(sizeof(meshcap_apply_options) == kApplyOptionsV1Size);
static_assert(sizeof(meshcap_validate_options) == kValidateOptionsV1Size);
static_assert(sizeof(meshcap_watch_options) == kWatchOptionsV1Size);
// A size beyond this is not a size.
constexpr uint32_t kMaxOptionsSize = 4096;

// A copy of `s` from malloc(), or nullptr when out of memory.
char* Dup(std::string_view s) {
  char* p = static_cast<char*>(malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

// Hands `s` to the caller through `ret` (when not NULL). A message that
// cannot be allocated is dropped: the code alone still says what happened.
int Fail(const absl::Status& s, char** ret_error) {
  if (ret_error != nullptr) {
    *ret_error = Dup(std::string_view(s.message().data(), s.message().size()));
  }
  return static_cast<int>(s.code());
}

int Fail(absl::StatusCode code, std::string_view message, char** ret_error) {
  if (ret_error != nullptr) *ret_error = Dup(message);
  return static_cast<int>(code);
}

int NullArgument(const char* function, const char* argument, char** ret_error) {
  return Fail(absl::StatusCode::kInvalidArgument,
              absl::StrCat(function, ": argument '", argument, "' is NULL"),
              ret_error);
}

// Stores `s` in `*ret` (when `ret` is not NULL).
absl::Status Give(std::string_view s, char** ret) {
  if (ret == nullptr) return absl::OkStatus();
  *ret = Dup(s);
  if (*ret == nullptr) {
    return absl::ResourceExhaustedError("out of memory for the result");
  }
  return absl::OkStatus();
}

// Runs `body`, which returns an absl::Status, and turns it (or any
// exception) into a code and a message. Every entry point goes through
// here: nothing thrown crosses into C.
template <typename Body>
int Guard(char** ret_error, Body&& body) {
  if (ret_error != nullptr) *ret_error = nullptr;
  try {
    const absl::Status s = body();
    if (s.ok()) return MESHCAP_OK;
    return Fail(s, ret_error);
  } catch (const std::bad_alloc&) {
    return Fail(absl::StatusCode::kResourceExhausted, "out of memory",
                ret_error);
  } catch (const std::exception& e) {
    return Fail(absl::StatusCode::kInternal,
                absl::StrCat("internal error: ", e.what()), ret_error);
  } catch (...) {
    return Fail(absl::StatusCode::kInternal, "internal error", ret_error);
  }
}

// Copies a caller's options struct of any version into `out`: older
// (smaller) ones leave the rest at `out`'s defaults; newer (larger) ones
// are accepted when the fields this library does not know are all zero.
template <typename T>
absl::Status ReadOptions(const T* in, uint32_t v1_size, const char* what,
                         const char* init, T* out) {
  static_assert(std::is_trivially_copyable_v<T>);
  const uint32_t size = in->size;
  if (size < v1_size || size > kMaxOptionsSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ".size is ", size, "; initialize it with ", init,
                     "() (this library expects ", sizeof(T), ")"));
  }
  if (size > sizeof(T)) {
    const auto* extra = reinterpret_cast<const unsigned char*>(in) + sizeof(T);
    for (uint32_t i = 0; i < size - sizeof(T); ++i) {
      if (extra[i] != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " sets fields this version of libmeshcap_c (",
                         meshcap_version(), ") does not know: its size is ",
                         size, ", this library's ", sizeof(T)));
      }
    }
  }
  memcpy(static_cast<void*>(out), in, std::min<size_t>(size, sizeof(T)));
  out->size = sizeof(T);
  return absl::OkStatus();
}

std::string OrEmpty(const char* s) { return s == nullptr ? "" : s; }

const char* KindName(meshcap::Difference::Kind k) {
  switch (k) {
    case meshcap::Difference::Kind::kMissing:
      return "missing";
    case meshcap::Difference::Kind::kExtra:
      return "extra";
    case meshcap::Difference::Kind::kChanged:
      return "changed";
  }
  return "unknown";
}

// Kernel-derived text (interface names, comments) need not be UTF-8;
// invalid bytes become U+FFFD rather than an exception.
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ChangesJson(std::string_view backend,
                        const meshcap::ApplyResult& r) {
  // The usual answer of a re-apply, without building a document: the same
  // bytes as the dump below (backend names need no escaping).
  if (!r.changed() &&
      backend.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") ==
          std::string_view::npos) {
    std::string out = "{\"backend\":\"";
    out.append(backend);
    out += "\",\"changed\":false,\"changes\":[]}";
    return out;
  }
  Json j = Json::object();
  j["backend"] = backend;
  j["changed"] = r.changed();
  j["changes"] = r.changes;
  return Dump(j);
}

std::string ReportJson(std::string_view backend,
                       const meshcap::VerifyReport& r) {
  Json diffs = Json::array();
  for (const meshcap::Difference& d : r.differences) {
    diffs.push_back({{"kind", KindName(d.kind)},
                     {"object", d.object},
                     {"table", d.table},
                     {"chain", d.chain},
                     {"position", d.position},
                     {"desired", d.desired},
                     {"actual", d.actual},
                     {"text", d.ToString()}});
  }
  Json j = Json::object();
  j["backend"] = backend;
  j["generation"] = r.generation;
  j["matches"] = r.matches();
  j["differences"] = std::move(diffs);
  return Dump(j);
}

}  // namespace

// -----------------------------------------------------------------------------
// Errors, memory, version
// -----------------------------------------------------------------------------

MESHCAP_C_API const char* meshcap_code_name(int code) {
  switch (code) {
    case MESHCAP_OK:
      return "OK";
    case MESHCAP_CANCELLED:
      return "CANCELLED";
    case MESHCAP_UNKNOWN:
      return "UNKNOWN";
    case MESHCAP_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case MESHCAP_DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case MESHCAP_NOT_FOUND:
      return "NOT_FOUND";
    case MESHCAP_ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case MESHCAP_PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case MESHCAP_RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case MESHCAP_FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case MESHCAP_ABORTED:
      return "ABORTED";
    case MESHCAP_OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case MESHCAP_UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case MESHCAP_INTERNAL:
      return "INTERNAL";
    case MESHCAP_UNAVAILABLE:
      return "UNAVAILABLE";
    case MESHCAP_DATA_LOSS:
      return "DATA_LOSS";
    case MESHCAP_UNAUTHENTICATED:
      return "UNAUTHENTICATED";
  }
  return "";
}

MESHCAP_C_API void meshcap_free(void* p) { free(p); }

MESHCAP_C_API const char* meshcap_version(void) {
  return MESHCAP_VERSION_STRING;
}

// -----------------------------------------------------------------------------
// Policies
// -----------------------------------------------------------------------------

MESHCAP_C_API int meshcap_policy_from_json(const char* json,
                                           meshcap_policy** ret_policy,
                                           char** ret_error) {
  return Guard(ret_error, [&]() -> absl::Status {
    if (ret_policy == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_policy_from_json: argument 'ret_policy' is NULL");
    }
    *ret_policy = nullptr;
    if (json == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_policy_from_json: argument 'json' is NULL");
    }
    absl::StatusOr<meshcap::CapturePolicy> p = meshcap::PolicyFromJson(json);
    if (!p.ok()) return p.status();
    *ret_policy = Handle(new Policy(*std::move(p)));
    return absl::OkStatus();
  });
}

MESHCAP_C_API int meshcap_policy_to_json(const meshcap_policy* policy,
                                         char** ret_json, char** ret_error) {
  return Guard(ret_error, [&]() -> absl::Status {
    if (ret_json == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_policy_to_json: argument 'ret_json' is NULL");
    }
    *ret_json = nullptr;
    if (policy == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_policy_to_json: argument 'policy' is NULL");
    }
    return Give(Get(policy)->policy.ToJson(), ret_json);
  });
}

MESHCAP_C_API meshcap_policy* meshcap_policy_free(meshcap_policy* policy) {
  delete Get(policy);
  return nullptr;
}

MESHCAP_C_API int meshcap_policy_builder_new(
    meshcap_policy_builder** ret_builder, char** ret_error) {
  return Guard(ret_error, [&]() -> absl::Status {
    if (ret_builder == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_policy_builder_new: argument 'ret_builder' is NULL");
    }
    *ret_builder = nullptr;
    *ret_builder = Handle(new Builder());
    return absl::OkStatus();
  });
}

MESHCAP_C_API int meshcap_policy_builder_set(meshcap_policy_builder* builder,
                                             const char* key, const char* value,
                                             const char* origin,
                                             char** ret_error) {
  if (builder == nullptr) {
    return NullArgument("meshcap_policy_builder_set", "builder", ret_error);
  }
  if (key == nullptr) {
    return NullArgument("meshcap_policy_builder_set", "key", ret_error);
  }
  if (value == nullptr) {
    return NullArgument("meshcap_policy_builder_set", "value", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    Get(builder)->builder.Set(key, value, origin == nullptr ? "" : origin);
    return absl::OkStatus();
  });
}

MESHCAP_C_API int meshcap_policy_builder_unset(meshcap_policy_builder* builder,
                                               const char* key,
                                               char** ret_error) {
  if (builder == nullptr) {
    return NullArgument("meshcap_policy_builder_unset", "builder", ret_error);
  }
  if (key == nullptr) {
    return NullArgument("meshcap_policy_builder_unset", "key", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    Get(builder)->builder.Unset(key);
    return absl::OkStatus();
  });
}

MESHCAP_C_API int meshcap_policy_builder_set_json(
    meshcap_policy_builder* builder, const char* json, const char* source,
    char** ret_error) {
  if (builder == nullptr) {
    return NullArgument("meshcap_policy_builder_set_json", "builder",
                        ret_error);
  }
  if (json == nullptr) {
    return NullArgument("meshcap_policy_builder_set_json", "json", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    return meshcap::ApplyPolicyJson(json, Get(builder)->builder,
                                    OrEmpty(source));
  });
}

MESHCAP_C_API int meshcap_policy_builder_build(
    const meshcap_policy_builder* builder, meshcap_policy** ret_policy,
    char** ret_error) {
  return Guard(ret_error, [&]() -> absl::Status {
    if (ret_policy == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_policy_builder_build: argument 'ret_policy' is NULL");
    }
    *ret_policy = nullptr;
    if (builder == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_policy_builder_build: argument 'builder' is NULL");
    }
    absl::StatusOr<meshcap::CapturePolicy> p = Get(builder)->builder.Build();
    if (!p.ok()) return p.status();
    *ret_policy = Handle(new Policy(*std::move(p)));
    return absl::OkStatus();
  });
}

MESHCAP_C_API meshcap_policy_builder* meshcap_policy_builder_free(
    meshcap_policy_builder* builder) {
  delete Get(builder);
  return nullptr;
}

// -----------------------------------------------------------------------------
// Dry runs
// -----------------------------------------------------------------------------

MESHCAP_C_API int meshcap_render(const meshcap_policy* policy,
                                 const char* backend, char** ret_text,
                                 char** ret_error) {
  return Guard(ret_error, [&]() -> absl::Status {
    if (ret_text == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_render: argument 'ret_text' is NULL");
    }
    *ret_text = nullptr;
    if (policy == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_render: argument 'policy' is NULL");
    }
    if (backend == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_render: argument 'backend' is NULL");
    }
    absl::StatusOr<std::string> text =
        meshcap::Render(Get(policy)->policy, backend);
    if (!text.ok()) return text.status();
    return Give(*text, ret_text);
  });
}

MESHCAP_C_API int meshcap_explain(const meshcap_policy* policy,
                                  const char* packet_json, const char* backend,
                                  char** ret_json, char** ret_error) {
  return Guard(ret_error, [&]() -> absl::Status {
    if (ret_json == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_explain: argument 'ret_json' is NULL");
    }
    *ret_json = nullptr;
    if (policy == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_explain: argument 'policy' is NULL");
    }
    if (packet_json == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_explain: argument 'packet_json' is NULL");
    }
    absl::StatusOr<meshcap::Packet> packet =
        meshcap::Packet::FromJson(packet_json);
    if (!packet.ok()) return packet.status();
    absl::StatusOr<meshcap::Explanation> e = meshcap::Explain(
        Get(policy)->policy, *packet,
        backend == nullptr ? std::string_view("nftables") : backend);
    if (!e.ok()) return e.status();
    return Give(e->ToJson(), ret_json);
  });
}

// -----------------------------------------------------------------------------
// Engines
// -----------------------------------------------------------------------------

MESHCAP_C_API int meshcap_engine_new(const meshcap_engine_options* options,
                                     meshcap_engine** ret_engine,
                                     char** ret_error) {
  return Guard(ret_error, [&]() -> absl::Status {
    if (ret_engine == nullptr) {
      return absl::InvalidArgumentError(
          "meshcap_engine_new: argument 'ret_engine' is NULL");
    }
    *ret_engine = nullptr;
    meshcap_engine_options o;
    meshcap_engine_options_init(&o);
    if (options != nullptr) {
      absl::Status s =
          ReadOptions(options, kEngineOptionsV1Size, "meshcap_engine_options",
                      "meshcap_engine_options_init", &o);
      if (!s.ok()) return s;
    }
    meshcap::EngineOptions eo;
    if (o.backend != nullptr && *o.backend != '\0') eo.backend = o.backend;
    eo.netns_path = OrEmpty(o.netns_path);
    eo.netns_fd = o.netns_fd < 0 ? -1 : o.netns_fd;
    eo.xtables_lock_path = OrEmpty(o.xtables_lock_path);
    eo.state_dir = OrEmpty(o.state_dir);
    if (o.lock_timeout_ms >= 0) {
      eo.lock_timeout = std::chrono::milliseconds(o.lock_timeout_ms);
    }
    absl::StatusOr<std::unique_ptr<meshcap::Engine>> e =
        meshcap::Engine::Create(eo);
    if (!e.ok()) return e.status();
    auto handle = std::make_unique<Engine>();
    handle->engine = *std::move(e);
    handle->backend = std::string(handle->engine->backend_name());
    *ret_engine = Handle(handle.release());
    return absl::OkStatus();
  });
}

MESHCAP_C_API meshcap_engine* meshcap_engine_free(meshcap_engine* engine) {
  delete Get(engine);
  return nullptr;
}

MESHCAP_C_API const char* meshcap_engine_backend(const meshcap_engine* engine) {
  return engine == nullptr ? "" : Get(engine)->backend.c_str();
}

MESHCAP_C_API int meshcap_engine_apply(meshcap_engine* engine,
                                       const meshcap_policy* policy,
                                       const meshcap_apply_options* options,
                                       int* ret_changed, char** ret_result,
                                       char** ret_error) {
  if (ret_changed != nullptr) *ret_changed = 0;
  if (ret_result != nullptr) *ret_result = nullptr;
  if (engine == nullptr) {
    return NullArgument("meshcap_engine_apply", "engine", ret_error);
  }
  if (policy == nullptr) {
    return NullArgument("meshcap_engine_apply", "policy", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    meshcap_apply_options o;
    meshcap_apply_options_init(&o);
    if (options != nullptr) {
      absl::Status s =
          ReadOptions(options, kApplyOptionsV1Size, "meshcap_apply_options",
                      "meshcap_apply_options_init", &o);
      if (!s.ok()) return s;
    }
    if ((o.flags & ~MESHCAP_APPLY_EXPECT_GENERATION) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("meshcap_apply_options.flags: unknown bits 0x",
                       absl::Hex(o.flags & ~MESHCAP_APPLY_EXPECT_GENERATION)));
    }
    meshcap::ApplyOptions ao;
    if (o.flags & MESHCAP_APPLY_EXPECT_GENERATION) {
      ao.expected_generation = o.expected_generation;
    }
    Engine* e = Get(engine);
    std::lock_guard<std::mutex> lock(e->mu);
    absl::StatusOr<meshcap::ApplyResult> r =
        e->engine->Apply(Get(policy)->policy, ao);
    if (!r.ok()) return r.status();
    if (absl::Status s = Give(ChangesJson(e->backend, *r), ret_result);
        !s.ok()) {
      return s;
    }
    if (ret_changed != nullptr) *ret_changed = r->changed() ? 1 : 0;
    return absl::OkStatus();
  });
}

MESHCAP_C_API int meshcap_engine_verify(meshcap_engine* engine,
                                        const meshcap_policy* policy,
                                        int* ret_matches, char** ret_report,
                                        char** ret_error) {
  if (ret_matches != nullptr) *ret_matches = 0;
  if (ret_report != nullptr) *ret_report = nullptr;
  if (engine == nullptr) {
    return NullArgument("meshcap_engine_verify", "engine", ret_error);
  }
  if (policy == nullptr) {
    return NullArgument("meshcap_engine_verify", "policy", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    Engine* e = Get(engine);
    std::lock_guard<std::mutex> lock(e->mu);
    absl::StatusOr<meshcap::VerifyReport> r =
        e->engine->Verify(Get(policy)->policy);
    if (!r.ok()) return r.status();
    if (absl::Status s = Give(ReportJson(e->backend, *r), ret_report);
        !s.ok()) {
      return s;
    }
    if (ret_matches != nullptr) *ret_matches = r->matches() ? 1 : 0;
    return absl::OkStatus();
  });
}

MESHCAP_C_API int meshcap_engine_clean(meshcap_engine* engine, int* ret_changed,
                                       char** ret_result, char** ret_error) {
  if (ret_changed != nullptr) *ret_changed = 0;
  if (ret_result != nullptr) *ret_result = nullptr;
  if (engine == nullptr) {
    return NullArgument("meshcap_engine_clean", "engine", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    Engine* e = Get(engine);
    std::lock_guard<std::mutex> lock(e->mu);
    absl::StatusOr<meshcap::ApplyResult> r = e->engine->Remove();
    if (!r.ok()) return r.status();
    if (absl::Status s = Give(ChangesJson(e->backend, *r), ret_result);
        !s.ok()) {
      return s;
    }
    if (ret_changed != nullptr) *ret_changed = r->changed() ? 1 : 0;
    return absl::OkStatus();
  });
}

namespace {

const char* WatchKindName(meshcap::WatchEvent::Kind k) {
  switch (k) {
    case meshcap::WatchEvent::Kind::kApplied:
      return "applied";
    case meshcap::WatchEvent::Kind::kWaiting:
      return "waiting";
    case meshcap::WatchEvent::Kind::kHealed:
      return "healed";
    case meshcap::WatchEvent::Kind::kHealFailed:
      return "heal_failed";
  }
  return "?";
}

// One event as one line, written whole (a pipe's writes up to PIPE_BUF are
// atomic; longer lines are written in a loop).
void WriteEvent(int fd, const meshcap::WatchEvent& e) {
  nlohmann::ordered_json j;
  j["kind"] = WatchKindName(e.kind);
  j["message"] = e.message;
  j["drifted"] = e.drifted;
  j["changes"] = e.changes;
  j["elapsed_us"] = e.elapsed.count();
  j["error"] = std::string(e.status.message());
  const std::string line =
      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

MESHCAP_C_API int meshcap_engine_watch(meshcap_engine* engine,
                                       const meshcap_policy* policy,
                                       const meshcap_watch_options* options,
                                       char** ret_error) {
  if (engine == nullptr) {
    return NullArgument("meshcap_engine_watch", "engine", ret_error);
  }
  if (policy == nullptr) {
    return NullArgument("meshcap_engine_watch", "policy", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    meshcap_watch_options o;
    meshcap_watch_options_init(&o);
    if (options != nullptr) {
      absl::Status s =
          ReadOptions(options, kWatchOptionsV1Size, "meshcap_watch_options",
                      "meshcap_watch_options_init", &o);
      if (!s.ok()) return s;
    }
    if (o.interval_ms == 0 || o.resync_ms == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("meshcap_watch_options: interval_ms (", o.interval_ms,
                       ") and resync_ms (", o.resync_ms, ") must be positive"));
    }
    meshcap::WatchOptions wo;
    wo.interval = std::chrono::milliseconds(o.interval_ms);
    wo.resync = std::chrono::milliseconds(o.resync_ms);
    const int fd = o.event_fd;
    Engine* e = Get(engine);
    std::lock_guard<std::mutex> lock(e->mu);
    return e->engine->Watch(Get(policy)->policy, wo,
                            [fd](const meshcap::WatchEvent& ev) {
                              if (fd >= 0) WriteEvent(fd, ev);
                            });
  });
}

MESHCAP_C_API void meshcap_engine_stop_watch(meshcap_engine* engine) {
  if (engine != nullptr) Get(engine)->engine->StopWatch();
}

// -----------------------------------------------------------------------------
// Validation
// -----------------------------------------------------------------------------

MESHCAP_C_API int meshcap_validate_options_set_policy(
    meshcap_validate_options* options, const meshcap_policy* policy,
    char** ret_error) {
  if (options == nullptr) {
    return NullArgument("meshcap_validate_options_set_policy", "options",
                        ret_error);
  }
  if (policy == nullptr) {
    return NullArgument("meshcap_validate_options_set_policy", "policy",
                        ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    if (options->size < kValidateOptionsV1Size ||
        options->size > kMaxOptionsSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("meshcap_validate_options.size is ", options->size,
                       "; initialize it with meshcap_validate_options_init()"));
    }
    const meshcap::CapturePolicy& p = Get(policy)->policy;
    // Only MESHCAP_1.0 fields are written: they are within any valid size.
    options->outbound_port = p.proxy_port();
    options->inbound_port = p.inbound_capture_port();
    if (!p.proxy_uids().empty()) options->uid = p.proxy_uids().front();
    if (!p.proxy_gids().empty()) options->gid = p.proxy_gids().front();
    return absl::OkStatus();
  });
}

MESHCAP_C_API int meshcap_validate(const meshcap_validate_options* options,
                                   char** ret_error) {
  if (options == nullptr) {
    return NullArgument("meshcap_validate", "options", ret_error);
  }
  return Guard(ret_error, [&]() -> absl::Status {
    meshcap_validate_options o;
    meshcap_validate_options_init(&o);
    absl::Status s =
        ReadOptions(options, kValidateOptionsV1Size, "meshcap_validate_options",
                    "meshcap_validate_options_init", &o);
    if (!s.ok()) return s;
    if ((o.flags & ~MESHCAP_VALIDATE_IPV6) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("meshcap_validate_options.flags: unknown bits 0x",
                       absl::Hex(o.flags & ~MESHCAP_VALIDATE_IPV6)));
    }
    const struct {
      const char* name;
      uint16_t value;
    } ports[] = {{"outbound_port", o.outbound_port},
                 {"inbound_port", o.inbound_port},
                 {"probe_port", o.probe_port}};
    for (const auto& port : ports) {
      if (port.value == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("meshcap_validate_options.", port.name,
                         ": port '0' is out of range (1-65535)"));
      }
    }
    meshcap::ValidateOptions vo;
    vo.netns_path = OrEmpty(o.netns_path);
    vo.netns_fd = o.netns_fd < 0 ? -1 : o.netns_fd;
    vo.outbound_port = o.outbound_port;
    vo.inbound_port = o.inbound_port;
    vo.probe_port = o.probe_port;
    vo.uid = o.uid;
    vo.gid = o.gid;
    vo.ipv6 = (o.flags & MESHCAP_VALIDATE_IPV6) != 0;
    if (o.timeout_ms >= 0) vo.timeout = std::chrono::milliseconds(o.timeout_ms);
    return meshcap::ValidateCapture(vo);
  });
}
