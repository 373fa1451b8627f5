// SPDX-License-Identifier: GPL-2.0-or-later
// The backends compiled into this build, registered explicitly (no static
// constructors), in probe order; and the test override.

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config.h"
#include "src/backend.h"
#include "src/text.h"

namespace meshcap::internal {
namespace {

constexpr char kPastCommitPayload[] = "type.meshcap.internal/past-commit";

std::vector<const BackendFactory*>& Registry() {
  static std::vector<const BackendFactory*>* const kFactories = [] {
    auto* v = new std::vector<const BackendFactory*>;
#ifdef MESHCAP_HAVE_NFTABLES
    RegisterNftablesBackend(*v);
#endif
#ifdef MESHCAP_HAVE_IPTABLES_LEGACY
    RegisterIptablesLegacyBackend(*v);
#endif
#ifdef MESHCAP_HAVE_IPTABLES_NFT
    RegisterIptablesNftBackend(*v);
#endif
    std::stable_sort(v->begin(), v->end(),
                     [](const BackendFactory* a, const BackendFactory* b) {
                       return a->Priority() > b->Priority();
                     });
    return v;
  }();
  return *kFactories;
}

}  // namespace

const std::vector<const BackendFactory*>& Backends() { return Registry(); }

absl::StatusOr<const BackendFactory*> FindBackend(std::string_view name) {
  std::vector<std::string> names;
  for (const BackendFactory* f : Registry()) {
    if (f->Name() == name) return f;
    names.emplace_back(f->Name());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown backend ", Quote(name), "; this build has: ",
                   names.empty() ? "none" : absl::StrJoin(names, ", ")));
}

absl::StatusOr<const BackendFactory*> FindSpellingBackend(
    std::string_view name) {
  if (name == "iptables") {
    name = FindBackend("iptables-legacy").ok() ? "iptables-legacy"
                                               : "iptables-nft";
  }
  return FindBackend(name);
}

absl::Status PastCommit(absl::Status status) {
  if (!status.ok()) status.SetPayload(kPastCommitPayload, absl::Cord("1"));
  return status;
}

bool IsPastCommit(const absl::Status& status) {
  return status.GetPayload(kPastCommitPayload).has_value();
}

ScopedBackendOverride::ScopedBackendOverride(const BackendFactory* factory)
    : factory_(factory) {
  Registry().insert(Registry().begin(), factory);
}

ScopedBackendOverride::~ScopedBackendOverride() {
  auto& r = Registry();
  r.erase(std::find(r.begin(), r.end(), factory_));
}

}  // namespace meshcap::internal
