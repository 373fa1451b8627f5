// SPDX-License-Identifier: GPL-2.0-or-later

#include "tests/testing/fake_backend.h"

#include <thread>

#include "backends/nftables/lower.h"
#include "backends/nftables/render.h"
#include "src/status_macros.h"

namespace meshcap::testing {
namespace {

// Counts a call in, for the life of the object.
class Inside {
 public:
  explicit Inside(FakeKernel* k) : k_(k) {
    const int now = ++k_->inside;
    int most = k_->most_inside.load();
    while (now > most && !k_->most_inside.compare_exchange_weak(most, now)) {
    }
    // Long enough for a racing call to show.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ~Inside() { --k_->inside; }

 private:
  FakeKernel* k_;
};

class FakeBackend : public internal::Backend {
 public:
  explicit FakeBackend(FakeKernel* kernel) : kernel_(kernel) {}

  std::string_view name() const override { return "fake"; }

  absl::Status Apply(
      const ir::RuleSet& rules, const ApplyOptions&,
      std::vector<std::string>* changes,
      const std::function<absl::Status()>& before_commit) override {
    Inside in(kernel_);
    kernel_->calls.push_back("apply");
    if (before_commit) MESHCAP_RETURN_IF_ERROR(before_commit());
    if (!kernel_->fail_next_apply.ok()) {
      absl::Status s = kernel_->fail_next_apply;
      kernel_->fail_next_apply = absl::OkStatus();
      return s;
    }
    const std::string text = nft::Render(rules);
    if (text != kernel_->installed) {
      kernel_->installed = text;
      changes->push_back("replaced the fake ruleset");
    }
    return absl::OkStatus();
  }

  absl::Status Remove(std::vector<std::string>* changes) override {
    Inside in(kernel_);
    kernel_->calls.push_back("remove");
    if (!kernel_->installed.empty()) {
      kernel_->installed.clear();
      changes->push_back("removed the fake ruleset");
    }
    return absl::OkStatus();
  }

  absl::Status Verify(const ir::RuleSet& rules, VerifyReport* report) override {
    Inside in(kernel_);
    kernel_->calls.push_back("verify");
    if (nft::Render(rules) != kernel_->installed) {
      Difference d;
      d.kind = Difference::Kind::kChanged;
      d.object = "ruleset";
      d.desired = "the policy's";
      d.actual = "another";
      report->differences.push_back(d);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> HoldsOurs() override {
    return !kernel_->installed.empty();
  }

 private:
  FakeKernel* kernel_;
};

}  // namespace

std::string FakeBackendFactory::Render(const ir::RuleSet& rules) const {
  return nft::Render(rules);
}

std::string FakeBackendFactory::SpellRule(const ir::RuleSet& rules,
                                          const ir::Table& table,
                                          const std::string& chain,
                                          const ir::Rule& rule) const {
  return nft::RuleText(
      rule, nft::SpellContext{rules.profile, table.kind, chain, rule.scope});
}

absl::StatusOr<std::unique_ptr<internal::Backend>> FakeBackendFactory::Create(
    const internal::BackendOptions&) const {
  return std::unique_ptr<internal::Backend>(new FakeBackend(kernel_));
}

}  // namespace meshcap::testing
