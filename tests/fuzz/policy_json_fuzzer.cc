// SPDX-License-Identifier: GPL-2.0-or-later
//
// The JSON policy loader on arbitrary bytes. Besides not crashing: an
// accepted policy survives ToJson() -> PolicyFromJson() unchanged, and an
// error message is one printable line once escaped.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "meshcap/policy.h"
#include "meshcap/policy_json.h"
#include "tests/fuzz/fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<meshcap::CapturePolicy> p =
      meshcap::PolicyFromJson(json, "fuzz.json");
  if (!p.ok()) {
    meshcap::fuzz::AbortUnlessPrintable(p.status());
    return 0;
  }
  const std::string once = p->ToJson();
  absl::StatusOr<meshcap::CapturePolicy> again =
      meshcap::PolicyFromJson(once, "round trip");
  if (!again.ok() || again->ToJson() != once) abort();
  return 0;
}
