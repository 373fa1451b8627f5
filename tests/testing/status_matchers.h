// SPDX-License-Identifier: GPL-2.0-or-later
// gMock matchers for absl::Status; Abseil 20220623 ships none.

#ifndef MESHCAP_TESTS_TESTING_STATUS_MATCHERS_H_
#define MESHCAP_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace meshcap::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s.ToString();
  return s.ok();
}

// StatusIs(code) or StatusIs(code, HasSubstr("...")).
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s.ToString();
  return s.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(s.message()), result_listener);
}

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_TESTING_STATUS_MATCHERS_H_
