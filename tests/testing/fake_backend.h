// SPDX-License-Identifier: GPL-2.0-or-later
// A backend that keeps its "kernel" in memory, for Engine tests that need no
// firewall (or a firewall that fails on demand). Install it with
// internal::ScopedBackendOverride and create an Engine with backend "fake".

#ifndef MESHCAP_TESTS_TESTING_FAKE_BACKEND_H_
#define MESHCAP_TESTS_TESTING_FAKE_BACKEND_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "src/backend.h"

namespace meshcap::testing {

struct FakeKernel {
  // The rendered text of what was last applied ("" when nothing is).
  std::string installed;
  // Every call, in order: "apply", "remove", "verify".
  std::vector<std::string> calls;
  // The status the next Apply returns instead of succeeding.
  absl::Status fail_next_apply;
  // Calls under way at once, now and at most (the Engine's lock keeps it
  // at 1).
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
};

class FakeBackendFactory : public internal::BackendFactory {
 public:
  explicit FakeBackendFactory(FakeKernel* kernel) : kernel_(kernel) {}

  std::string_view Name() const override { return "fake"; }
  int Priority() const override { return 1000; }
  ir::Dialect dialect() const override { return ir::Dialect::kNftables; }
  std::string Render(const ir::RuleSet& rules) const override;
  std::string SpellRule(const ir::RuleSet& rules, const ir::Table& table,
                        const std::string& chain,
                        const ir::Rule& rule) const override;
  absl::Status Probe() const override { return absl::OkStatus(); }
  absl::StatusOr<std::unique_ptr<internal::Backend>> Create(
      const internal::BackendOptions& options) const override;

 private:
  FakeKernel* kernel_;
};

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_FAKE_BACKEND_H_
