// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/backend.h"
#include "src/compile/compile.h"
#include "src/engine_peer.h"
#include "src/errno_status.h"
#include "src/intent.h"
#include "src/netns.h"
#include "src/netns_lock.h"
#include "src/routing.h"
#include "src/status_macros.h"

namespace meshcap {
namespace {

using internal::Backend;
using internal::BackendFactory;

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

struct Selected {
  const BackendFactory* factory = nullptr;
  std::unique_ptr<Backend> backend;
};

absl::StatusOr<Selected> Make(const BackendFactory* f,
                              const internal::BackendOptions& bo) {
  MESHCAP_ASSIGN_OR_RETURN(std::unique_ptr<Backend> b, f->Create(bo));
  return Selected{f, std::move(b)};
}

// istio-iptables' choice between its two iptables binaries
// (tools/istio-iptables/pkg/dependencies): iptables-legacy when the legacy
// nat table already holds rules, else iptables-nft (either, when the build
// has only one).
absl::StatusOr<Selected> SelectIptables(const internal::BackendOptions& bo) {
  absl::StatusOr<const BackendFactory*> legacy =
      internal::FindBackend("iptables-legacy");
  absl::StatusOr<const BackendFactory*> nft =
      internal::FindBackend("iptables-nft");
  if (!legacy.ok() && !nft.ok()) {
    return absl::InvalidArgumentError(
        "backend \"iptables\": this build has neither iptables-legacy nor "
        "iptables-nft");
  }
  if (legacy.ok() && (!nft.ok() || (*legacy)->HoldsRules())) {
    MESHCAP_RETURN_IF_ERROR((*legacy)->Probe());
    return Make(*legacy, bo);
  }
  MESHCAP_RETURN_IF_ERROR((*nft)->Probe());
  return Make(*nft, bo);
}

// In the calling thread's namespace. "auto" is, in order: $MESHCAP_BACKEND;
// the backend already holding our capture or Istio's (so that re-applying,
// verifying and cleaning stay with it, and a pod Istio captured is taken
// over where it is); a backend whose tables already hold anyone's rules
// (legacy iptables first, as Istio's detection, then iptables-nft); the
// first that works (nftables). "iptables" is istio-iptables' choice
// (SelectIptables).
absl::StatusOr<Selected> SelectBackend(std::string name,
                                       const internal::BackendOptions& bo) {
  const auto& factories = internal::Backends();
  if (name == "auto") {
    const char* env = secure_getenv("MESHCAP_BACKEND");
    if (env != nullptr && *env != '\0' && std::string_view(env) != "auto") {
      if (std::string_view(env) == "iptables") return SelectIptables(bo);
      absl::StatusOr<const BackendFactory*> f = internal::FindBackend(env);
      if (!f.ok()) {
        return internal::Annotate(f.status(),
                                  "environment variable MESHCAP_BACKEND");
      }
      return Make(*f, bo);
    }
  }
  if (name == "iptables") return SelectIptables(bo);
  if (name != "auto") {
    MESHCAP_ASSIGN_OR_RETURN(const BackendFactory* f,
                             internal::FindBackend(name));
    return Make(f, bo);
  }
  if (factories.empty()) {
    return absl::UnavailableError("this build of meshcap has no backend");
  }
  std::vector<std::string> why;
  std::vector<Selected> usable;
  for (const BackendFactory* f : factories) {
    absl::Status s = f->Probe();
    // Permission problems are the caller's to fix, not a reason to fall
    // through to a backend that would fail the same way.
    if (absl::IsPermissionDenied(s)) return s;
    absl::StatusOr<Selected> made =
        s.ok() ? Make(f, bo) : absl::StatusOr<Selected>(s);
    if (!made.ok()) {
      why.push_back(
          absl::StrCat(std::string(f->Name()), ": ", made.status().message()));
      continue;
    }
    absl::StatusOr<bool> ours = made->backend->HoldsOurs();
    if (!ours.ok() && absl::IsPermissionDenied(ours.status())) {
      return ours.status();
    }
    if (ours.ok() && *ours) return std::move(*made);
    usable.push_back(std::move(*made));
  }
  for (Selected& s : usable) {
    if (s.factory->HoldsRules()) return std::move(s);
  }
  if (!usable.empty()) return std::move(usable.front());
  return absl::UnavailableError(
      absl::StrCat("no backend can serve this network namespace (",
                   absl::StrJoin(why, "; "), ")"));
}

}  // namespace

std::string Difference::ToString() const {
  std::string out = absl::StrCat(KindName(kind), " ", object);
  if (position > 0) absl::StrAppend(&out, " ", position);
  if (!table.empty()) {
    absl::StrAppend(&out, position > 0 || !chain.empty() ? " in " : " ", table);
    if (!chain.empty()) absl::StrAppend(&out, "/", chain);
  }
  if (kind == Kind::kChanged) {
    absl::StrAppend(&out, ":\n    want: ", desired, "\n    have: ", actual);
  } else if (!desired.empty() || !actual.empty()) {
    absl::StrAppend(&out, ": ", desired.empty() ? actual : desired);
  }
  return out;
}

struct Engine::Impl {
  EngineOptions options;
  internal::UniqueFd owned_fd;
  // The target namespace, opened for this Engine's lock.
  internal::UniqueFd lock_fd;
  // The rtnetlink socket for policy routing, opened on first use.
  std::optional<internal::Routing> routing_socket;

  absl::StatusOr<internal::Routing*> Routing() {
    if (!routing_socket.has_value()) {
      MESHCAP_ASSIGN_OR_RETURN(internal::Routing r, internal::Routing::Open());
      routing_socket.emplace(std::move(r));
    }
    return &*routing_socket;
  }
  std::unique_ptr<internal::NetnsExecutor> exec;
  internal::BackendOptions backend_options;
  const BackendFactory* factory = nullptr;
  std::unique_ptr<Backend> backend;
  // The rule set of the policy compiled last: Apply, Verify and Watch meet
  // the same policy again and again, and a long list takes milliseconds to
  // compile.
  std::shared_ptr<const ir::RuleSet> compiled;

  absl::StatusOr<std::shared_ptr<const ir::RuleSet>> Compile(
      const CapturePolicy& policy) {
    if (compiled == nullptr ||
        compiled->fingerprint !=
            internal::CompiledFingerprint(policy, factory->dialect())) {
      MESHCAP_ASSIGN_OR_RETURN(ir::RuleSet rules,
                               internal::CompileFor(policy, *factory));
      compiled = std::make_shared<const ir::RuleSet>(std::move(rules));
    }
    return compiled;
  }
  // The other backends of this build, created when first needed.
  std::vector<std::pair<const BackendFactory*, std::unique_ptr<Backend>>>
      others;
  bool others_created = false;
  // The namespace's cookie (src/intent.h NetnsCookie).
  uint64_t netns_cookie = 0;
  // Watch's stop: an eventfd made by the first Watch (StopWatch before
  // that leaves `stop_pending` for it).
  std::atomic<int> watch_stop_fd{-1};
  std::atomic<bool> watch_stop_pending{false};
  std::mutex watch_mu;

  absl::StatusOr<internal::NetnsLock> Lock(bool exclusive) {
    return internal::NetnsLock::Acquire(lock_fd.get(), exclusive,
                                        options.lock_timeout);
  }

  // The other backends that hold something of ours here.
  absl::StatusOr<std::vector<std::pair<const BackendFactory*, Backend*>>>
  OthersHoldingOurs() {
    if (!others_created) {
      for (const BackendFactory* f : internal::Backends()) {
        if (f == factory) continue;
        absl::StatusOr<std::unique_ptr<Backend>> b = f->Create(backend_options);
        // A backend this kernel cannot serve holds nothing of ours.
        if (b.ok()) others.emplace_back(f, *std::move(b));
      }
      others_created = true;
    }
    std::vector<std::pair<const BackendFactory*, Backend*>> out;
    for (auto& [f, b] : others) {
      absl::StatusOr<bool> holds = b->HoldsOurs();
      if (!holds.ok()) {
        if (absl::IsPermissionDenied(holds.status())) return holds.status();
        continue;
      }
      if (*holds) out.emplace_back(f, b.get());
    }
    return out;
  }
};

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const EngineOptions& options) {
  if (!options.netns_path.empty() && options.netns_fd >= 0) {
    return absl::InvalidArgumentError(
        "give the network namespace by path or by fd, not both");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  int fd = options.netns_fd;
  if (!options.netns_path.empty()) {
    MESHCAP_ASSIGN_OR_RETURN(impl->owned_fd,
                             internal::OpenNetns(options.netns_path));
    fd = impl->owned_fd.get();
  }
  MESHCAP_ASSIGN_OR_RETURN(impl->exec, internal::NetnsExecutor::Start(fd));
  internal::BackendOptions& bo = impl->backend_options;
  bo.xtables_lock_path = options.xtables_lock_path;
  bo.lock_timeout = options.lock_timeout;
  bo.state_dir = options.state_dir.empty() ? internal::DefaultStateDir()
                                           : options.state_dir;
  Impl* p = impl.get();
  MESHCAP_RETURN_IF_ERROR(p->exec->Run([&]() -> absl::Status {
    MESHCAP_ASSIGN_OR_RETURN(bo.netns_key, internal::NetnsKey(-1));
    p->netns_cookie = internal::NetnsCookie();
    MESHCAP_ASSIGN_OR_RETURN(p->lock_fd, internal::NetnsLock::OpenNamespace());
    MESHCAP_ASSIGN_OR_RETURN(Selected chosen,
                             SelectBackend(options.backend, bo));
    p->factory = chosen.factory;
    p->backend = std::move(chosen.backend);
    return absl::OkStatus();
  }));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

CaptureEngine::~CaptureEngine() = default;

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  if (impl_ == nullptr) return;
  if (const int fd = impl_->watch_stop_fd.load(); fd >= 0) close(fd);
  // Backends close their sockets in the namespace they were opened in.
  Impl* p = impl_.get();
  (void)p->exec->Run([p] {
    p->backend.reset();
    p->others.clear();
    p->routing_socket.reset();
    return absl::OkStatus();
  });
}

absl::StatusOr<ApplyResult> Engine::Apply(const CapturePolicy& policy,
                                          const ApplyOptions& options) {
  MESHCAP_ASSIGN_OR_RETURN(std::shared_ptr<const ir::RuleSet> compiled,
                           impl_->Compile(policy));
  const ir::RuleSet& rules = *compiled;
  ApplyResult result;
  Impl* p = impl_.get();
  MESHCAP_RETURN_IF_ERROR(p->exec->Run([&]() -> absl::Status {
    MESHCAP_ASSIGN_OR_RETURN(internal::NetnsLock lock, p->Lock(true));
    std::vector<std::string>& changes = result.changes;
    // Ours in another backend goes right before this backend commits,
    // once it holds its locks and has planned: the tables in force never
    // hold two policies at once, and a lock held elsewhere or a policy
    // this backend refuses leaves the old capture as it was.
    MESHCAP_ASSIGN_OR_RETURN(auto holding, p->OthersHoldingOurs());
    std::vector<std::string> migrated;
    auto migrate = [&]() -> absl::Status {
      for (auto& [f, b] : holding) {
        std::vector<std::string> removed;
        MESHCAP_RETURN_IF_ERROR(b->Remove(&removed));
        migrated.emplace_back(f->Name());
        for (const std::string& c : removed) {
          changes.push_back(absl::StrCat(std::string(f->Name()), ": ", c));
        }
      }
      return absl::OkStatus();
    };
    // What the new policy needs, before the firewall that needs it...
    MESHCAP_ASSIGN_OR_RETURN(internal::Routing * rs, p->Routing());
    internal::Routing& routing = *rs;
    MESHCAP_ASSIGN_OR_RETURN(internal::RoutingPlan plan, routing.Plan(&rules));
    MESHCAP_RETURN_IF_ERROR(routing.Add(plan.add, &changes));
    absl::Status s = p->backend->Apply(
        rules, options, &changes,
        holding.empty() ? std::function<absl::Status()>() : migrate);
    if (!s.ok() && internal::IsPastCommit(s)) {
      // The new firewall is (partly) in force: it keeps its routing, and
      // the old one's goes as after a successful commit.
      (void)routing.Remove(plan.remove, &changes);
      return s;
    }
    if (!s.ok()) {
      absl::Status undo = routing.Remove(plan.add, nullptr);
      std::string also;
      if (!migrated.empty()) {
        also = absl::StrCat("; ours had been removed from ",
                            absl::StrJoin(migrated, ", "),
                            " before that, so nothing captures now: apply "
                            "again");
      }
      if (!undo.ok()) {
        absl::StrAppend(&also,
                        "; and taking back the routing this apply added "
                        "failed: ",
                        undo.message());
      }
      if (also.empty()) return s;
      return absl::Status(s.code(), absl::StrCat(s.message(), also));
    }
    // ...and what only the old one needed, after it.
    return routing.Remove(plan.remove, &changes);
  }));
  return result;
}

absl::StatusOr<ApplyResult> Engine::Remove() {
  ApplyResult result;
  Impl* p = impl_.get();
  MESHCAP_RETURN_IF_ERROR(p->exec->Run([&]() -> absl::Status {
    MESHCAP_ASSIGN_OR_RETURN(internal::NetnsLock lock, p->Lock(true));
    std::vector<std::string>& changes = result.changes;
    MESHCAP_RETURN_IF_ERROR(p->backend->Remove(&changes));
    MESHCAP_ASSIGN_OR_RETURN(auto holding, p->OthersHoldingOurs());
    for (auto& [f, b] : holding) {
      std::vector<std::string> removed;
      MESHCAP_RETURN_IF_ERROR(b->Remove(&removed));
      for (const std::string& c : removed) {
        changes.push_back(absl::StrCat(std::string(f->Name()), ": ", c));
      }
    }
    MESHCAP_ASSIGN_OR_RETURN(internal::Routing * rs, p->Routing());
    internal::Routing& routing = *rs;
    MESHCAP_ASSIGN_OR_RETURN(internal::RoutingPlan plan, routing.Plan(nullptr));
    MESHCAP_RETURN_IF_ERROR(routing.Remove(plan.remove, &changes));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<VerifyReport> Engine::Verify(const CapturePolicy& policy) {
  MESHCAP_ASSIGN_OR_RETURN(std::shared_ptr<const ir::RuleSet> compiled,
                           impl_->Compile(policy));
  const ir::RuleSet& rules = *compiled;
  VerifyReport report;
  Impl* p = impl_.get();
  MESHCAP_RETURN_IF_ERROR(p->exec->Run([&]() -> absl::Status {
    MESHCAP_ASSIGN_OR_RETURN(internal::NetnsLock lock, p->Lock(false));
    MESHCAP_ASSIGN_OR_RETURN(std::string pending,
                             p->backend->PendingRecovery());
    if (!pending.empty()) {
      Difference d;
      d.kind = Difference::Kind::kExtra;
      d.object = "transaction";
      d.actual = pending;
      report.differences.push_back(std::move(d));
    }
    MESHCAP_RETURN_IF_ERROR(p->backend->Verify(rules, &report));
    MESHCAP_ASSIGN_OR_RETURN(auto holding, p->OthersHoldingOurs());
    for (auto& [f, b] : holding) {
      Difference d;
      d.kind = Difference::Kind::kExtra;
      d.object = "backend";
      d.table = std::string(f->Name());
      d.actual = absl::StrCat("rules of ours in ", std::string(f->Name()),
                              " (the next apply or clean removes them)");
      report.differences.push_back(std::move(d));
    }
    MESHCAP_ASSIGN_OR_RETURN(internal::Routing * rs, p->Routing());
    internal::Routing& routing = *rs;
    MESHCAP_ASSIGN_OR_RETURN(internal::RoutingPlan plan, routing.Plan(&rules));
    for (Difference& d : internal::RoutingDifferences(plan)) {
      report.differences.push_back(std::move(d));
    }
    return absl::OkStatus();
  }));
  return report;
}

std::string_view Engine::backend_name() const { return impl_->factory->Name(); }

absl::Status Engine::Watch(
    const CapturePolicy& policy, const WatchOptions& options,
    const std::function<void(const WatchEvent&)>& on_event) {
  Impl* p = impl_.get();
  std::unique_lock<std::mutex> one(p->watch_mu, std::try_to_lock);
  if (!one.owns_lock()) {
    return absl::FailedPreconditionError(
        "this Engine is already watching; one Watch at a time");
  }
  int fd = p->watch_stop_fd.load();
  if (fd < 0) {
    fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return internal::ErrnoStatus(errno, "eventfd");
    p->watch_stop_fd.store(fd);
  }
  if (p->watch_stop_pending.exchange(false)) {
    const uint64_t one_event = 1;
    (void)!write(fd, &one_event, sizeof(one_event));
  }
  return internal::RunWatch(*this, policy, options, on_event, fd,
                            p->backend_options.state_dir);
}

void Engine::StopWatch() {
  const int fd = impl_->watch_stop_fd.load();
  if (fd < 0) {
    impl_->watch_stop_pending.store(true);
    return;
  }
  const uint64_t one = 1;
  (void)!write(fd, &one, sizeof(one));
}

namespace internal {

absl::Status EnginePeer::RunInNamespace(
    Engine& engine, const std::function<absl::Status()>& fn) {
  return engine.impl_->exec->Run(fn);
}

uint64_t EnginePeer::NetnsCookie(const Engine& engine) {
  return engine.impl_->netns_cookie;
}

const std::string& EnginePeer::NetnsKey(const Engine& engine) {
  return engine.impl_->backend_options.netns_key;
}

}  // namespace internal

std::vector<std::string> AvailableBackends() {
  std::vector<std::string> names;
  for (const BackendFactory* f : internal::Backends()) {
    names.emplace_back(f->Name());
  }
  return names;
}

}  // namespace meshcap
