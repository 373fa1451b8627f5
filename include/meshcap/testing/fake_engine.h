// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: testing/fake_engine.h
// -----------------------------------------------------------------------------
//
// A CaptureEngine that keeps its "kernel" in memory, for testing code
// written against meshcap::CaptureEngine without a network namespace,
// privileges or a kernel. Link `pkg-config --libs meshcap-testing`.
//
//   meshcap::testing::FakeEngine engine;          // as backend "nftables"
//   MyAgent agent(&engine);                       // takes a CaptureEngine&
//   agent.Reconcile(policy);
//   EXPECT_TRUE(engine.Verify(policy)->matches());
//   engine.Tamper();                              // somebody flushed a chain
//   agent.Reconcile(policy);                      // must heal it
//   engine.FailNext(meshcap::testing::FakeEngine::Op::kApply,
//                   absl::UnavailableError("no nf_tables"));
//
// It behaves as an Engine does, by the same rules and with the same status
// codes: the kernel holds the rules `meshcap::Render(policy, backend)`
// gives, an Apply of what it holds changes nothing, Verify lists each
// missing and extra rule, the ruleset generation moves on every change (and
// `ApplyOptions::expected_generation` is checked against it, or refused with
// kInvalidArgument for iptables-legacy, which has none), and a failed
// operation changes nothing. It is not thread-safe.

#ifndef MESHCAP_TESTING_FAKE_ENGINE_H_
#define MESHCAP_TESTING_FAKE_ENGINE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshcap/engine.h"
#include "meshcap/export.h"

namespace meshcap::testing {

class MESHCAP_EXPORT FakeEngine : public CaptureEngine {
 public:
  enum class Op { kApply, kRemove, kVerify };

  // As backend `backend` (a name of AvailableBackends(), not "auto"); an
  // unknown one is kInvalidArgument, as Engine::Create says.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<FakeEngine>> Create(
      std::string backend = "nftables");
  FakeEngine();  // "nftables"

  [[nodiscard]] absl::StatusOr<ApplyResult> Apply(
      const CapturePolicy& policy, const ApplyOptions& options = {}) override;
  [[nodiscard]] absl::StatusOr<ApplyResult> Remove() override;
  [[nodiscard]] absl::StatusOr<VerifyReport> Verify(
      const CapturePolicy& policy) override;
  std::string_view backend_name() const override { return backend_; }

  // The next `op` fails with `status` (a kernel error, a held lock) and
  // changes nothing.
  void FailNext(Op op, absl::Status status);
  // Somebody else changed the kernel: the rule at `index` of what is
  // installed (the last one by default) goes, and the generation moves.
  // False when nothing is installed.
  bool Tamper(int index = -1);
  // Somebody else added a rule of ours (text as Render spells it).
  void Inject(std::string rule);

  // The rules in force, one per line, as Render spells them; empty when
  // nothing is installed.
  const std::vector<std::string>& installed() const { return installed_; }
  uint32_t generation() const { return generation_; }
  // How many operations were asked for, by kind (failed ones included).
  int calls(Op op) const;

 private:
  explicit FakeEngine(std::string backend);
  absl::Status TakeFailure(Op op);

  std::string backend_;
  std::vector<std::string> installed_;
  uint32_t generation_ = 1;
  std::map<Op, absl::Status> failures_;
  std::map<Op, int> calls_;
};

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTING_FAKE_ENGINE_H_
