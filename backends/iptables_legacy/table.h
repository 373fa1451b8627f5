// SPDX-License-Identifier: GPL-2.0-or-later
// One legacy xtables table of one family, through libiptc: reading it,
// taking ours out, putting the new ours in, committing; and raw snapshots
// (IPT_SO_GET_ENTRIES / IPT_SO_SET_REPLACE) to put a committed table back.

#ifndef MESHCAP_BACKENDS_IPTABLES_LEGACY_TABLE_H_
#define MESHCAP_BACKENDS_IPTABLES_LEGACY_TABLE_H_

#include <libiptc/xtcshared.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/iptables_legacy/lower.h"
#include "backends/iptables_legacy/ops.h"
#include "backends/iptables_legacy/raw_table.h"
#include "src/unique_fd.h"

struct xtc_handle;

namespace meshcap::ipt {

// libiptc and libip6tc, behind one face.

// The tables instantiated for `family` in the calling thread's namespace
// ("nat", "mangle", ...), read once.
std::vector<std::string> ExistingTables(IpFamily family);

// The same, from a /proc file kept open (opening one costs a path walk
// through /proc each time): for a backend that asks at every apply. Reads
// the namespace of the thread that constructed it.
class TableNames {
 public:
  TableNames();
  std::vector<std::string> Read(IpFamily family);

 private:
  internal::UniqueFd fd_[2];
};

// Whether the namespace has instantiated this table. Reading a table
// through libiptc instantiates it; we avoid that for tables we have
// nothing to put in.
bool TableExists(IpFamily family, ir::TableKind kind);

// A table read through libiptc.
class Table {
 public:
  [[nodiscard]] static absl::StatusOr<Table> Open(IpFamily family,
                                                  ir::TableKind kind);
  Table(Table&&) noexcept;
  Table& operator=(Table&&) noexcept;
  ~Table();

  IpFamily family() const { return family_; }
  ir::TableKind kind() const { return kind_; }

  std::vector<std::string> Chains() const;
  bool IsBuiltin(const std::string& chain) const;
  bool HasChain(const std::string& chain) const;

  // Ours: our chains, and rules in built-in chains that carry our tag or
  // jump to one of our chains (Istio's own restore left those).
  bool HoldsOurs() const;
  // Whether any built-in chain holds a rule of ours (ours is in force).
  bool OursAttached() const;
  // Whether ours here is exactly `want`'s (null: nothing): the same
  // chains, and in each chain our rules in order, entry by entry.
  bool OursEqual(const LoweredTable* want) const;

  // Takes everything of ours out of the working copy.
  [[nodiscard]] absl::Status RemoveOurs();
  // Puts `want`'s chains and rules in (after foreign rules).
  [[nodiscard]] absl::Status AddOurs(const LoweredTable& want);
  // Commits the working copy.
  [[nodiscard]] absl::Status Commit();

  // Calls `f(chain, entry, standard_target_name_or_null, position)` for
  // every rule of ours, in order, chain by chain.
  template <typename F>
  void ForEachOurs(F f) const;

  // Key of an entry for comparison: header, tag, matches, target; counters
  // and kernel bookkeeping left out.
  std::string EntryKey(const void* entry) const;
  static std::string DesiredKey(IpFamily family, const LoweredEntry& e);
  // The standard target's name of a kernel entry, or null.
  const char* StandardTarget(const void* entry) const;

  // For iteration by the verifier.
  const void* FirstRule(const std::string& chain) const;
  const void* NextRule(const void* entry) const;
  // Whether `entry` of built-in chain `chain` is ours: tagged by meshcap,
  // a jump into an ISTIO_* chain, or, while this table holds Istio's
  // chains, one of Istio's other built-in rules (ipt::IsIstioBuiltinRule).
  bool IsOursRule(const std::string& chain, const void* entry) const;
  // Holds one of Istio's chains.
  bool HasIstioChain() const;

 private:
  Table(IpFamily family, ir::TableKind kind, xtc_handle* h);

  IpFamily family_;
  ir::TableKind kind_;
  const Ops* ops_;
  xtc_handle* h_;
};

template <typename F>
void Table::ForEachOurs(F f) const {
  for (const std::string& chain : Chains()) {
    const bool builtin = IsBuiltin(chain);
    if (!builtin && !IsOurChain(chain)) continue;
    int pos = 0;
    for (const void* e = FirstRule(chain); e != nullptr; e = NextRule(e)) {
      ++pos;
      if (!builtin || IsOursRule(chain, e)) f(chain, e, StandardTarget(e), pos);
    }
  }
}

}  // namespace meshcap::ipt

#endif  // MESHCAP_BACKENDS_IPTABLES_LEGACY_TABLE_H_
