// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/compile/builder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/compile/compile.h"

namespace meshcap::internal {

Cidr ConstCidr(const char* text) { return *Cidr::Parse(text); }

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
    set.tables.push_back(std::move(table));
  }
  return set;
}

ir::RuleSet Compile(const CapturePolicy& policy, ir::Dialect dialect) {
  ir::RuleSet out = policy.profile() == Profile::kAmbient
                        ? CompileAmbient(policy, dialect)
                        : CompileSidecar(policy, dialect);
  out.fingerprint =
      absl::StrCat(static_cast<int>(dialect), ":", policy.fingerprint());
  return out;
}

}  // namespace meshcap::internal
