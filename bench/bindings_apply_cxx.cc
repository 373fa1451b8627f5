// SPDX-License-Identifier: GPL-2.0-or-later
//
// The C++ side of bench/bindings_ratios.py: times meshcap::Engine::Apply of
// the istio-init policy on nftables, in the namespace it runs in (the
// script gives each run a fresh one with `unshare -n`).
//   bindings_apply_cxx first|reapply ITERATIONS WARMUP
// Prints {"api": "c++", "case": ..., "samples_us": [...]} on one line.
// bindings_apply_c.c, bench/bindings_apply.py and
// bindings/go/internal/applybench do the same through the C ABI, Python
// and Go, with the same loop.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "meshcap/engine.h"
#include "meshcap/policy_json.h"

namespace {

constexpr char kPolicy[] =
    R"({"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
        "InboundPortsExclude": "15090,15021,15020"})";

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "bindings_apply_cxx: %s: %s\n", what.c_str(),
               std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || (std::strcmp(argv[1], "first") != 0 &&
                    std::strcmp(argv[1], "reapply") != 0)) {
    std::fprintf(stderr, "usage: %s first|reapply ITERATIONS WARMUP\n",
                 argv[0]);
    return 2;
  }
  const bool first = std::strcmp(argv[1], "first") == 0;
  const int iterations = std::atoi(argv[2]);
  const int warmup = std::atoi(argv[3]);
  absl::StatusOr<meshcap::CapturePolicy> policy =
      meshcap::PolicyFromJson(kPolicy);
  if (!policy.ok()) return Fail("policy", policy.status());
  meshcap::EngineOptions options;
  options.backend = "nftables";
  absl::StatusOr<std::unique_ptr<meshcap::Engine>> engine =
      meshcap::Engine::Create(options);
  if (!engine.ok()) return Fail("engine", engine.status());
  if (absl::Status s = (*engine)->Apply(*policy).status(); !s.ok()) {
    return Fail("apply", s);
  }
  std::vector<double> samples;
  for (int i = 0; i < warmup + iterations; ++i) {
    if (first) {
      if (absl::Status s = (*engine)->Remove().status(); !s.ok()) {
        return Fail("remove", s);
      }
    }
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<meshcap::ApplyResult> r = (*engine)->Apply(*policy);
    const auto end = std::chrono::steady_clock::now();
    if (!r.ok()) return Fail("apply", r.status());
    if (r->changed() != first) {
      std::fprintf(stderr, "bindings_apply_cxx: apply %s changed\n",
                   r->changed() ? "unexpectedly" : "never");
      return 1;
    }
    if (i >= warmup) {
      samples.push_back(
          std::chrono::duration<double, std::micro>(end - start).count());
    }
  }
  std::printf("{\"api\": \"c++\", \"case\": \"%s\", \"samples_us\": [",
              argv[1]);
  for (size_t i = 0; i < samples.size(); ++i) {
    std::printf("%s%.3f", i ? ", " : "", samples[i]);
  }
  std::printf("]}\n");
  return 0;
}
