// SPDX-License-Identifier: GPL-2.0-or-later
// Which IR kinds a set of golden cases leaves out: every alternative of
// ir::Match and ir::Verdict must appear in some case of each dialect's kind
// goldens (tests/golden/testdata/*_kinds.txt), so that a kind added to the
// IR without a golden fails a test. (A kind without an Encode or a Decode in
// a backend does not compile: dispatch is std::visit and DecodeAny without
// defaults.)

#ifndef MESHCAP_TESTS_GOLDEN_KIND_COVERAGE_H_
#define MESHCAP_TESTS_GOLDEN_KIND_COVERAGE_H_

#include <cxxabi.h>

#include <cstdlib>
#include <string>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "src/ir/rule_set.h"

namespace meshcap::testing {

template <typename T>
std::string KindName() {
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(T).name(), nullptr, nullptr, &status);
  std::string out = status == 0 ? name : typeid(T).name();
  std::free(name);
  return out;
}

template <typename Variant, size_t... I>
std::vector<std::string> MissingIn(const std::vector<bool>& seen,
                                   std::index_sequence<I...>) {
  std::vector<std::string> out;
  ((seen[I]
        ? void()
        : out.push_back(KindName<std::variant_alternative_t<I, Variant>>())),
   ...);
  return out;
}

// The alternatives of ir::Match and ir::Verdict that no rule of `rules`
// uses, by name ("meshcap::ir::CtStateMatch").
inline std::vector<std::string> KindsMissing(
    const std::vector<const ir::Rule*>& rules) {
  std::vector<bool> matches(std::variant_size_v<ir::Match>, false);
  std::vector<bool> verdicts(std::variant_size_v<ir::Verdict>, false);
  for (const ir::Rule* r : rules) {
    for (const ir::Match& m : r->matches) matches[m.index()] = true;
    verdicts[r->verdict.index()] = true;
  }
  std::vector<std::string> out = MissingIn<ir::Match>(
      matches, std::make_index_sequence<std::variant_size_v<ir::Match>>{});
  for (std::string& v : MissingIn<ir::Verdict>(
           verdicts,
           std::make_index_sequence<std::variant_size_v<ir::Verdict>>{})) {
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace meshcap::testing

#endif  // MESHCAP_TESTS_GOLDEN_KIND_COVERAGE_H_
