// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/engine.h"

#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/backend.h"
#include "src/netns.h"
#include "src/routing.h"
#include "src/status_macros.h"

namespace meshcap {
namespace {

const char* KindName(Difference::Kind k) {
  switch (k) {
    case Difference::Kind::kMissing:
      return "missing";
    case Difference::Kind::kExtra:
      return "extra";
    case Difference::Kind::kChanged:
      return "changed";
  }
  return "?";
}

absl::StatusOr<const BackendFactory*> SelectBackend(
    std::string name, const BackendOptions& options) {
  const auto& factories = BuiltinBackends();
  if (name == "auto") {
    const char* env = secure_getenv("MESHCAP_BACKEND");
    if (env != nullptr && *env != '\0') name = env;
  }
  if (name != "auto") {
    for (const BackendFactory* f : factories) {
      if (f->Name() == name) return f;
    }
    std::vector<std::string> names;
    for (const BackendFactory* f : factories) names.emplace_back(f->Name());
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown backend \"", name, "\"; this build has: ",
        names.empty() ? "none" : absl::StrJoin(names, ", "), ", auto"));
  }
  if (factories.empty()) {
    return absl::UnavailableError("this build of meshcap has no backend");
  }
  std::vector<std::string> why;
  for (const BackendFactory* f : factories) {
    if (f->HoldsRules(options) && f->Probe(options).ok()) return f;
  }
  for (const BackendFactory* f : factories) {
    absl::Status s = f->Probe(options);
    if (s.ok()) return f;
    // Permission problems are the caller's to fix, not a reason to fall
    // through to a backend that would fail the same way.
    if (absl::IsPermissionDenied(s)) return s;
    why.push_back(absl::StrCat(std::string(f->Name()), ": ", s.message()));
  }
  return absl::UnavailableError(
      absl::StrCat("no backend can serve this network namespace (",
                   absl::StrJoin(why, "; "), ")"));
}

}  // namespace

std::string Difference::ToString() const {
  std::string where = chain.empty() ? table : absl::StrCat(table, "/", chain);
  std::string out;
  if (position > 0) {
    absl::StrAppend(&out, KindName(kind), " rule ", position, " in ", where);
  } else {
    absl::StrAppend(&out, KindName(kind), chain.empty() ? " table " : " chain ",
                    where);
  }
  if (kind == Kind::kChanged) {
    absl::StrAppend(&out, ":\n    want: ", desired, "\n    have: ", actual);
  } else if (!desired.empty() || !actual.empty()) {
    absl::StrAppend(&out, ": ", desired.empty() ? actual : desired);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const EngineOptions& options) {
  if (!options.netns_path.empty() && options.netns_fd >= 0) {
    return absl::InvalidArgumentError(
        "give the network namespace by path or by fd, not both");
  }
  int owned_fd = -1;
  BackendOptions backend_options;
  backend_options.netns_fd = options.netns_fd;
  backend_options.xtables_lock_path = options.xtables_lock_path;
  backend_options.xtables_lock_timeout = options.xtables_lock_timeout;
  if (!options.netns_path.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(owned_fd, internal::OpenNetns(options.netns_path));
    backend_options.netns_fd = owned_fd;
  }
  auto factory = SelectBackend(options.backend, backend_options);
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      factory.ok() ? (*factory)->Create(backend_options) : factory.status();
  if (!backend.ok()) {
    if (owned_fd >= 0) close(owned_fd);
    return backend.status();
  }
  return std::unique_ptr<Engine>(
      new Engine(*std::move(backend), owned_fd, backend_options.netns_fd));
}

Engine::Engine(std::unique_ptr<Backend> backend, int owned_netns_fd,
               int netns_fd)
    : backend_(std::move(backend)),
      owned_netns_fd_(owned_netns_fd),
      netns_fd_(netns_fd) {}

Engine::~Engine() {
  backend_.reset();
  if (owned_netns_fd_ >= 0) close(owned_netns_fd_);
}

absl::Status Engine::Apply(const RuleSet& rules, const ApplyOptions& options) {
  const bool needs_routing = rules.routing.has_value() || rules.ipv6;
  internal::RoutingChanges added;
  if (needs_routing) {
    MESHCAP_RETURN_IF_ERROR(internal::RunInNetns(netns_fd_, [&] {
      MESHCAP_ASSIGN_OR_RETURN(added, internal::InstallRouting(rules));
      return absl::OkStatus();
    }));
  }
  absl::Status s = backend_->Apply(rules, options);
  if (!s.ok()) {
    absl::Status undo = internal::RunInNetns(
        netns_fd_, [&] { return internal::UndoRouting(added); });
    known_routing_.reset();
    if (!undo.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(),
                                                 "; and undoing the routing "
                                                 "this apply added failed: ",
                                                 undo.message()));
    }
    return s;
  }
  const bool same = known_routing_.has_value() &&
                    known_routing_->ipv6 == rules.ipv6 &&
                    known_routing_->routing == rules.routing;
  if (!same) {
    // Routing an earlier policy of ours left and this one does not want.
    MESHCAP_RETURN_IF_ERROR(internal::RunInNetns(
        netns_fd_, [&] { return internal::RemoveRouting(&rules); }));
  }
  known_routing_ = RoutingState{rules.routing, rules.ipv6};
  return absl::OkStatus();
}

absl::Status Engine::Remove() {
  MESHCAP_RETURN_IF_ERROR(backend_->Remove());
  MESHCAP_RETURN_IF_ERROR(internal::RunInNetns(
      netns_fd_, [] { return internal::RemoveRouting(nullptr); }));
  known_routing_ = RoutingState{};
  return absl::OkStatus();
}

absl::StatusOr<VerifyReport> Engine::Verify(const RuleSet& rules) {
  return backend_->Verify(rules);
}

std::string_view Engine::backend_name() const { return backend_->name(); }

std::vector<std::string> AvailableBackends() {
  std::vector<std::string> names;
  for (const BackendFactory* f : BuiltinBackends()) {
    names.emplace_back(f->Name());
  }
  return names;
}

}  // namespace meshcap
