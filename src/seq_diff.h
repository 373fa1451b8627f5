// SPDX-License-Identifier: GPL-2.0-or-later
// Aligning a desired rule list with what the kernel holds, for Verify.

#ifndef MESHCAP_SRC_SEQ_DIFF_H_
#define MESHCAP_SRC_SEQ_DIFF_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshcap::internal {

// One run of unmatched items between two matches: `desired` indices that
// have no counterpart and `actual` indices nobody asked for. Callers pair
// the first min(size) of them as "changed".
struct DiffRun {
  std::vector<size_t> desired;
  std::vector<size_t> actual;
};

// Longest-common-subsequence alignment of n desired and m actual items
// under `equal(i, j)`, so that one missing item is reported as that, not as
// every later item changed.
template <typename Equal>
std::vector<DiffRun> AlignSequences(size_t n, size_t m, Equal equal) {
  std::vector<std::vector<uint32_t>> lcs(n + 1, std::vector<uint32_t>(m + 1));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] = equal(i, j) ? lcs[i + 1][j + 1] + 1
                              : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::vector<DiffRun> runs;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && equal(i, j)) {
      ++i;
      ++j;
      continue;
    }
    DiffRun& run = runs.emplace_back();
    while (i < n || j < m) {
      if (i < n && j < m && equal(i, j)) break;
      if (j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1])) {
        run.desired.push_back(i++);
      } else {
        run.actual.push_back(j++);
      }
    }
  }
  return runs;
}

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_SEQ_DIFF_H_
