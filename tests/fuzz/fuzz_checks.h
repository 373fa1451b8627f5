// SPDX-License-Identifier: GPL-2.0-or-later
// Checks the fuzz targets share.

#ifndef MESHCAP_TESTS_FUZZ_FUZZ_CHECKS_H_
#define MESHCAP_TESTS_FUZZ_FUZZ_CHECKS_H_

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "src/text.h"

namespace meshcap::fuzz {

// An error message is one printable line once escaped for printing.
inline void AbortUnlessPrintable(const std::string& message) {
  for (char c : meshcap::internal::PrintableLine(message)) {
    if (c < 0x20 || c > 0x7e) abort();
  }
}
inline void AbortUnlessPrintable(const absl::Status& s) {
  AbortUnlessPrintable(std::string(s.message()));
}

}  // namespace meshcap::fuzz

#endif  // MESHCAP_TESTS_FUZZ_FUZZ_CHECKS_H_
