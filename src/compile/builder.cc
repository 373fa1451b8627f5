// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/compile/builder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/backend.h"
#include "src/compile/compile.h"

namespace meshcap::internal {

Cidr ConstCidr(const char* text) { return *Cidr::Parse(text); }

const std::string& Emitter::DeclareSet(ir::TableKind t, ir::NamedSet set) {
  std::vector<ir::NamedSet>& sets = sets_[static_cast<size_t>(t)];
  for (const ir::NamedSet& s : sets) {
    if (s.name == set.name) return s.name;
  }
  sets.push_back(std::move(set));
  return sets.back().name;
}

ir::RuleSet Emitter::Finish(Profile profile, const Naming& naming,
                            const std::vector<ir::TableKind>& order) && {
  ir::RuleSet set;
  set.dialect = dialect_;
  set.profile = profile;
  set.ipv6 = ipv6_;
  const bool nft = dialect_ == ir::Dialect::kNftables;
  for (ir::TableKind kind : order) {
    std::vector<ir::RuleEntry>& entries = entries_[static_cast<size_t>(kind)];
    if (entries.empty()) continue;
    ir::Table table;
    table.kind = kind;
    table.name = nft ? naming.nft_table(kind) : ir::TableKindName(kind);
    auto used = [&](const std::string& chain) {
      return std::any_of(
          entries.begin(), entries.end(), [&](const ir::RuleEntry& e) {
            const auto* j = std::get_if<ir::JumpVerdict>(&e.rule.verdict);
            return e.chain == chain || (j != nullptr && j->chain == chain);
          });
    };
    for (ir::ChainSpec& spec : naming.chains(kind)) {
      if (!used(spec.name)) continue;
      if (nft) spec.name = naming.nft_chain(spec.name);
      table.chains.push_back(std::move(spec));
    }
    if (nft) {
      for (ir::RuleEntry& e : entries) {
        e.chain = naming.nft_chain(e.chain);
        if (auto* j = std::get_if<ir::JumpVerdict>(&e.rule.verdict)) {
          j->chain = naming.nft_chain(j->chain);
        }
      }
    }
    table.entries = std::move(entries);
    table.sets = std::move(sets_[static_cast<size_t>(kind)]);
    set.tables.push_back(std::move(table));
  }
  return set;
}

ir::RuleSet Compile(const CapturePolicy& policy, ir::Dialect dialect) {
  ir::RuleSet out = policy.profile() == Profile::kAmbient
                        ? CompileAmbient(policy, dialect)
                        : CompileSidecar(policy, dialect);
  out.fingerprint = CompiledFingerprint(policy, dialect);
  return out;
}

std::string CompiledFingerprint(const CapturePolicy& policy,
                                ir::Dialect dialect) {
  return absl::StrCat(static_cast<int>(dialect), ":", policy.fingerprint());
}

}  // namespace meshcap::internal

namespace meshcap::internal {

absl::StatusOr<ir::RuleSet> CompileFor(const CapturePolicy& policy,
                                       const BackendFactory& backend) {
  if (policy.compact_lists() && backend.dialect() == ir::Dialect::kIptables) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CompactLists: the ", std::string(backend.Name()),
        " backend cannot hold named sets (iptables has none of its own, and "
        "ipset's live outside iptables-restore's commit, so the capture "
        "could not change in one transaction); use the nftables backend, or "
        "turn CompactLists off"));
  }
  return Compile(policy, backend.dialect());
}

}  // namespace meshcap::internal
