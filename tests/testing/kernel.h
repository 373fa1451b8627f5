// SPDX-License-Identifier: GPL-2.0-or-later
// Small helpers the kernel tests share.

#ifndef MESHCAP_TESTS_TESTING_KERNEL_H_
#define MESHCAP_TESTS_TESTING_KERNEL_H_

#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "meshcap/policy_json.h"
#include "src/compile/compile.h"
#include "tests/testing/conformance.h"
#include "tests/testing/netns.h"
#include "tests/testing/status_matchers.h"

namespace meshcap::testing {

// A policy from Istio's Config fields (JSON); a bad policy fails the test
// and gives the default policy.
inline CapturePolicy PolicyJson(const std::string& json = "{}") {
  absl::StatusOr<CapturePolicy> p = PolicyFromJson(json);
  EXPECT_THAT(p, IsOk()) << json;
  return p.ok() ? *p : *PolicyBuilder().Build();
}

// The same, compiled for one of Istio's dialects (for tests that drive a
// backend directly).
inline ir::RuleSet CompileJson(const std::string& json, ir::Dialect dialect) {
  return internal::Compile(PolicyJson(json), dialect);
}

// `nft list ruleset` in the calling thread's namespace; a failure fails the
// test.
inline std::string NftListRuleset() {
  CommandResult r = Shell("nft list ruleset");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// `nft -f` of `text` (through a temporary file); a failure fails the test.
inline void NftLoad(const std::string& text) {
  char path[] = "/tmp/meshcap-nft-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  close(fd);
  CommandResult r = Shell(std::string("nft -f ") + path);
  unlink(path);
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
}

// A test in a fresh network namespace of its own, skipped where `nft` is
// missing or no namespace can be made.
class NftNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveProgram("nft")) GTEST_SKIP() << "nft is not installed";
    netns_ = std::make_unique<ScopedNetns>();
    if (!netns_->ok()) GTEST_SKIP() << netns_->error();
  }
  void TearDown() override { netns_.reset(); }

  std::unique_ptr<ScopedNetns> netns_;
};

// gtest parameter names: "ip-range" -> "ip_range", "iptables-legacy" ->
// "iptables_legacy".
inline std::string TestName(std::string name) {
  for (char& ch : name) {
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

inline std::string CaseName(
    const ::testing::TestParamInfo<ConformanceCase>& info) {
  return TestName(info.param.name);
}

inline std::string BackendName(
    const ::testing::TestParamInfo<const char*>& info) {
  return TestName(info.param);
}

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_KERNEL_H_
