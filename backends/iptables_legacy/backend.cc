// SPDX-License-Identifier: GPL-2.0-or-later
// The legacy iptables backend: libiptc, in-process, under the xtables lock,
// one safe transaction over tables and families (transaction.h).

#include "src/backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/iptables/dialect.h"
#include "backends/iptables/render.h"
#include "backends/iptables_legacy/decode.h"
#include "backends/iptables_legacy/lower.h"
#include "backends/iptables_legacy/table.h"
#include "backends/iptables_legacy/transaction.h"
#include "backends/iptables_legacy/xtables_lock.h"
#include "src/errno_status.h"
#include "src/intent.h"
#include "src/seq_diff.h"
#include "src/status_macros.h"
#include "src/unique_fd.h"

namespace meshcap {
namespace ipt {
namespace {

constexpr ir::TableKind kKinds[] = {ir::TableKind::kMangle, ir::TableKind::kNat,
                                    ir::TableKind::kRaw};

absl::StatusOr<std::vector<LoweredTable>> LowerBoth(const ir::RuleSet& rules) {
  MESHCAP_ASSIGN_OR_RETURN(std::vector<LoweredTable> out,
                           Lower(rules, IpFamily::kIpv4));
  MESHCAP_ASSIGN_OR_RETURN(std::vector<LoweredTable> v6,
                           Lower(rules, IpFamily::kIpv6));
  for (LoweredTable& t : v6) out.push_back(std::move(t));
  return out;
}

// The differences between `want` (null: nothing of ours) and the table.
absl::Status VerifyTable(IpFamily family, ir::TableKind kind,
                         const LoweredTable* want, Profile profile,
                         std::vector<Difference>* out) {
  const std::string table =
      absl::StrCat(ir::TableKindName(kind), " (",
                   family == IpFamily::kIpv4 ? "IPv4" : "IPv6", ")");
  std::optional<Table> t;
  if (TableExists(family, kind)) {
    MESHCAP_ASSIGN_OR_RETURN(Table opened, Table::Open(family, kind));
    t.emplace(std::move(opened));
  }
  std::set<std::string> chains;
  if (t.has_value()) {
    for (const std::string& c : t->Chains()) chains.insert(c);
  }
  // Chains of ours: desired user chains and existing ISTIO_* chains; every
  // built-in chain that holds or should hold ours.
  std::vector<std::string> names;
  auto add_name = [&](const std::string& c) {
    if (std::find(names.begin(), names.end(), c) == names.end()) {
      names.push_back(c);
    }
  };
  if (want != nullptr) {
    for (const std::string& c : want->user_chains) add_name(c);
    for (const LoweredEntry& e : want->entries) add_name(e.chain);
  }
  for (const std::string& c : chains) {
    if (IsOurChain(c) || (t.has_value() && t->IsBuiltin(c))) add_name(c);
  }
  for (const std::string& chain : names) {
    std::vector<const LoweredEntry*> desired;
    if (want != nullptr) {
      for (const LoweredEntry& e : want->entries) {
        if (e.chain == chain) desired.push_back(&e);
      }
    }
    const bool wanted_chain =
        want != nullptr &&
        std::find(want->user_chains.begin(), want->user_chains.end(), chain) !=
            want->user_chains.end();
    const bool builtin = IsBuiltinChain(chain);
    if (chains.count(chain) == 0) {
      if (wanted_chain) {
        out->push_back({Difference::Kind::kMissing, "chain", table, chain, 0,
                        "-N " + chain, ""});
      }
      for (const LoweredEntry* e : desired) {
        out->push_back({Difference::Kind::kMissing, "rule", table, chain,
                        e->position,
                        RuleText(chain, 0, *e->source, profile, kind), ""});
      }
      continue;
    }
    if (!builtin && !wanted_chain) {
      out->push_back({Difference::Kind::kExtra, "chain", table, chain, 0, "",
                      "-N " + chain});
    }
    std::vector<std::string> have;
    std::vector<const void*> have_entry;
    std::vector<int> have_pos;
    int pos = 0;
    for (const void* e = t->FirstRule(chain); e != nullptr;
         e = t->NextRule(e)) {
      ++pos;
      if (!builtin || t->IsOursRule(chain, e)) {
        have.push_back(t->EntryKey(e));
        have_entry.push_back(e);
        have_pos.push_back(pos);
      }
    }
    std::vector<std::string> want_keys;
    for (const LoweredEntry* e : desired) {
      want_keys.push_back(Table::DesiredKey(family, *e));
    }
    auto text_of_actual = [&](size_t j) {
      return DescribeEntry(family, chain, EntryBytes(family, have_entry[j]),
                           t->StandardTarget(have_entry[j]), profile, kind);
    };
    for (const internal::DiffRun& run : internal::AlignSequences(
             want_keys.size(), have.size(),
             [&](size_t i, size_t j) { return want_keys[i] == have[j]; })) {
      const size_t paired = std::min(run.desired.size(), run.actual.size());
      for (size_t k = 0; k < run.desired.size(); ++k) {
        const LoweredEntry* e = desired[run.desired[k]];
        Difference d;
        d.table = table;
        d.chain = chain;
        d.position = e->position;
        d.desired = RuleText(chain, 0, *e->source, profile, kind);
        d.kind = k < paired ? Difference::Kind::kChanged
                            : Difference::Kind::kMissing;
        if (k < paired) d.actual = text_of_actual(run.actual[k]);
        out->push_back(std::move(d));
      }
      for (size_t k = paired; k < run.actual.size(); ++k) {
        out->push_back({Difference::Kind::kExtra, "rule", table, chain,
                        have_pos[run.actual[k]], "",
                        text_of_actual(run.actual[k])});
      }
    }
  }
  return absl::OkStatus();
}

class IptablesLegacyBackend : public internal::Backend {
 public:
  explicit IptablesLegacyBackend(const internal::BackendOptions& o)
      : options_(o), intent_(o.state_dir, o.netns_key) {}

  std::string_view name() const override { return "iptables-legacy"; }

  absl::Status Apply(
      const ir::RuleSet& rules, const ApplyOptions& options,
      std::vector<std::string>* changes,
      const std::function<absl::Status()>& before_commit) override {
    if (options.expected_generation.has_value()) {
      return absl::InvalidArgumentError(
          "the iptables-legacy backend has no ruleset generation; apply "
          "without expected_generation");
    }
    MESHCAP_ASSIGN_OR_RETURN(std::vector<LoweredTable> want, LowerBoth(rules));
    MESHCAP_ASSIGN_OR_RETURN(XtablesLock lock, Lock());
    if (before_commit) MESHCAP_RETURN_IF_ERROR(before_commit());
    return TransactAndFinish(want, changes);
  }

  absl::Status Remove(std::vector<std::string>* changes) override {
    MESHCAP_ASSIGN_OR_RETURN(XtablesLock lock, Lock());
    return TransactAndFinish({}, changes);
  }

  absl::Status Verify(const ir::RuleSet& rules, VerifyReport* report) override {
    MESHCAP_ASSIGN_OR_RETURN(std::vector<LoweredTable> want, LowerBoth(rules));
    for (IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
      for (ir::TableKind kind : kKinds) {
        const LoweredTable* w = nullptr;
        for (const LoweredTable& t : want) {
          if (t.family == family && t.kind == kind) w = &t;
        }
        MESHCAP_RETURN_IF_ERROR(
            VerifyTable(family, kind, w, rules.profile, &report->differences));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> HoldsOurs() override {
    for (IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
      const std::vector<std::string> existing = table_names_.Read(family);
      for (ir::TableKind kind : kKinds) {
        if (std::find(existing.begin(), existing.end(),
                      ir::TableKindName(kind)) == existing.end()) {
          continue;
        }
        MESHCAP_ASSIGN_OR_RETURN(Table t, Table::Open(family, kind));
        if (t.HoldsOurs()) return true;
      }
    }
    return false;
  }

  absl::StatusOr<std::string> PendingRecovery() override {
    MESHCAP_ASSIGN_OR_RETURN(std::optional<std::string> pending,
                             intent_.Pending());
    return pending.value_or("");
  }

 private:
  TableNames table_names_;

  // Transact, and say so when that finished an interrupted one (even if
  // the kernel already held the result and nothing else changed).
  absl::Status TransactAndFinish(const std::vector<LoweredTable>& want,
                                 std::vector<std::string>* changes) {
    MESHCAP_ASSIGN_OR_RETURN(std::optional<std::string> recorded,
                             intent_.Pending());
    const bool pending = recorded.has_value();
    MESHCAP_RETURN_IF_ERROR(Transact(want, intent_, changes));
    intent_.Clear();
    if (pending && changes != nullptr) {
      changes->push_back(
          "finished an apply that was interrupted (its intent record is gone)");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<XtablesLock> Lock() {
    return XtablesLock::Acquire(options_.xtables_lock_path,
                                options_.lock_timeout);
  }

  internal::BackendOptions options_;
  internal::IntentRecord intent_;
};

class Factory : public internal::BackendFactory {
 public:
  std::string_view Name() const override { return "iptables-legacy"; }
  int Priority() const override { return 10; }
  ir::Dialect dialect() const override { return ir::Dialect::kIptables; }
  std::string Render(const ir::RuleSet& rules) const override {
    return ipt::Render(rules);
  }
  std::string SpellRule(const ir::RuleSet& rules, const ir::Table& table,
                        const std::string& chain,
                        const ir::Rule& rule) const override {
    return ipt::RuleText(chain, 0, rule, rules.profile, table.kind);
  }

  absl::Status Probe() const override {
    internal::UniqueFd fd(
        socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!fd) {
      return internal::Annotate(
          internal::ErrnoStatus(errno, "cannot open a raw socket"),
          "iptables-legacy");
    }
    return absl::OkStatus();
  }

  // Istio's detection: legacy when its nat table already holds rules.
  bool HoldsRules() const override {
    for (IpFamily family : {IpFamily::kIpv4, IpFamily::kIpv6}) {
      if (!TableExists(family, ir::TableKind::kNat)) continue;
      absl::StatusOr<Table> t = Table::Open(family, ir::TableKind::kNat);
      if (!t.ok()) continue;
      for (const std::string& c : t->Chains()) {
        if (t->FirstRule(c) != nullptr) return true;
      }
    }
    return false;
  }

  absl::StatusOr<std::unique_ptr<internal::Backend>> Create(
      const internal::BackendOptions& options) const override {
    return std::unique_ptr<internal::Backend>(
        new IptablesLegacyBackend(options));
  }
};

}  // namespace
}  // namespace ipt

namespace internal {

void RegisterIptablesLegacyBackend(std::vector<const BackendFactory*>& out) {
  static const ipt::Factory kFactory;
  out.push_back(&kFactory);
}

}  // namespace internal
}  // namespace meshcap
