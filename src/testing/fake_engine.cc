// SPDX-License-Identifier: GPL-2.0-or-later

#include "meshcap/testing/fake_engine.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meshcap/render.h"

namespace meshcap::testing {
namespace {

// The rules of a rendered capture, one per entry: what an Engine's kernel
// would hold.
absl::StatusOr<std::vector<std::string>> Rules(const CapturePolicy& policy,
                                               const std::string& backend) {
  absl::StatusOr<std::string> text = Render(policy, backend);
  if (!text.ok()) return text.status();
  std::vector<std::string> out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeEngine>> FakeEngine::Create(
    std::string backend) {
  const std::vector<std::string> names = AvailableBackends();
  if (std::find(names.begin(), names.end(), backend) == names.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown backend '", backend,
                     "'; this build has: ", absl::StrJoin(names, ", ")));
  }
  return std::unique_ptr<FakeEngine>(new FakeEngine(std::move(backend)));
}

FakeEngine::FakeEngine() : FakeEngine("nftables") {}

FakeEngine::FakeEngine(std::string backend) : backend_(std::move(backend)) {}

absl::Status FakeEngine::TakeFailure(Op op) {
  ++calls_[op];
  auto it = failures_.find(op);
  if (it == failures_.end()) return absl::OkStatus();
  absl::Status s = it->second;
  failures_.erase(it);
  return s;
}

void FakeEngine::FailNext(Op op, absl::Status status) {
  failures_[op] = std::move(status);
}

int FakeEngine::calls(Op op) const {
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

absl::StatusOr<ApplyResult> FakeEngine::Apply(const CapturePolicy& policy,
                                              const ApplyOptions& options) {
  if (absl::Status s = TakeFailure(Op::kApply); !s.ok()) return s;
  if (options.expected_generation.has_value()) {
    if (backend_ == "iptables-legacy") {
      return absl::InvalidArgumentError(
          "the iptables-legacy backend has no ruleset generation; apply "
          "without expected_generation");
    }
    if (*options.expected_generation != generation_) {
      return absl::AbortedError(
          absl::StrCat(backend_,
                       " apply: the ruleset changed since it was read "
                       "(generation ",
                       *options.expected_generation, ", now ", generation_,
                       "); nothing was changed"));
    }
  }
  absl::StatusOr<std::vector<std::string>> rules = Rules(policy, backend_);
  if (!rules.ok()) return rules.status();
  ApplyResult result;
  if (*rules != installed_) {
    installed_ = *std::move(rules);
    ++generation_;
    result.changes.push_back(
        absl::StrCat("applied the policy (", installed_.size(), " rules)"));
  }
  return result;
}

absl::StatusOr<ApplyResult> FakeEngine::Remove() {
  if (absl::Status s = TakeFailure(Op::kRemove); !s.ok()) return s;
  ApplyResult result;
  if (!installed_.empty()) {
    result.changes.push_back(
        absl::StrCat("removed the capture (", installed_.size(), " rules)"));
    installed_.clear();
    ++generation_;
  }
  return result;
}

absl::StatusOr<VerifyReport> FakeEngine::Verify(const CapturePolicy& policy) {
  if (absl::Status s = TakeFailure(Op::kVerify); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> want = Rules(policy, backend_);
  if (!want.ok()) return want.status();
  VerifyReport report;
  report.generation = backend_ == "iptables-legacy" ? 0 : generation_;
  // Each rule wanted and not held, and held and not wanted (by count, so
  // that a rule Render spells twice is wanted twice).
  std::map<std::string, int> held;
  for (const std::string& r : installed_) ++held[r];
  int position = 0;
  for (const std::string& r : *want) {
    ++position;
    if (held[r] > 0) {
      --held[r];
      continue;
    }
    Difference d;
    d.kind = Difference::Kind::kMissing;
    d.position = position;
    d.desired = r;
    report.differences.push_back(std::move(d));
  }
  for (const auto& [r, n] : held) {
    for (int i = 0; i < n; ++i) {
      Difference d;
      d.kind = Difference::Kind::kExtra;
      d.actual = r;
      report.differences.push_back(std::move(d));
    }
  }
  return report;
}

bool FakeEngine::Tamper(int index) {
  if (installed_.empty()) return false;
  const int n = static_cast<int>(installed_.size());
  const int at = index < 0 || index >= n ? n - 1 : index;
  installed_.erase(installed_.begin() + at);
  ++generation_;
  return true;
}

void FakeEngine::Inject(std::string rule) {
  installed_.push_back(std::move(rule));
  ++generation_;
}

}  // namespace meshcap::testing
