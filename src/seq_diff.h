// SPDX-License-Identifier: GPL-2.0-or-later
// Aligning a desired rule list with what the kernel holds, for Verify.

#ifndef MESHCAP_SRC_SEQ_DIFF_H_
#define MESHCAP_SRC_SEQ_DIFF_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
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
// every later item changed. The common prefix and suffix are matched first
// (linear: a re-apply's few changes in a long chain cost little); the table
// for the rest is bounded by `max_cells`, past which the rest pairs up by
// position (still exact about what differs, less precise about where).
template <typename Equal>
std::vector<DiffRun> AlignSequences(size_t n, size_t m, Equal equal,
                                    size_t max_cells = size_t{1} << 22) {
  size_t head = 0;
  while (head < n && head < m && equal(head, head)) ++head;
  size_t tail = 0;
  while (tail < n - head && tail < m - head &&
         equal(n - 1 - tail, m - 1 - tail)) {
    ++tail;
  }
  const size_t rn = n - head - tail, rm = m - head - tail;
  std::vector<DiffRun> runs;
  if (rn == 0 && rm == 0) return runs;
  if ((rn + 1) * (rm + 1) > max_cells) {
    DiffRun& run = runs.emplace_back();
    for (size_t i = 0; i < rn; ++i) run.desired.push_back(head + i);
    for (size_t j = 0; j < rm; ++j) run.actual.push_back(head + j);
    return runs;
  }
  // lcs[i][j]: the LCS of desired[head+i..] and actual[head+j..] within the
  // middle part.
  std::vector<std::vector<uint32_t>> lcs(rn + 1, std::vector<uint32_t>(rm + 1));
  for (size_t i = rn; i-- > 0;) {
    for (size_t j = rm; j-- > 0;) {
      lcs[i][j] = equal(head + i, head + j)
                      ? lcs[i + 1][j + 1] + 1
                      : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  size_t i = 0, j = 0;
  while (i < rn || j < rm) {
    if (i < rn && j < rm && equal(head + i, head + j)) {
      ++i;
      ++j;
      continue;
    }
    DiffRun& run = runs.emplace_back();
    while (i < rn || j < rm) {
      if (i < rn && j < rm && equal(head + i, head + j)) break;
      if (j >= rm || (i < rn && lcs[i + 1][j] >= lcs[i][j + 1])) {
        run.desired.push_back(head + i++);
      } else {
        run.actual.push_back(head + j++);
      }
    }
  }
  return runs;
}

// The alignment as an edit script over `actual`: for each run, the actual
// item matched just before it (nullopt: the run is at the head), the actual
// items to delete, and the desired items to put in their place, in order.
struct EditRun {
  std::optional<size_t> after;  // an actual index kept before the run
  std::vector<size_t> remove;   // actual indices
  std::vector<size_t> insert;   // desired indices, in order
};

template <typename Equal>
std::vector<EditRun> EditScript(size_t n, size_t m, Equal equal) {
  std::vector<EditRun> out;
  size_t i = 0, j = 0;  // the next desired and actual items
  for (DiffRun& run : AlignSequences(n, m, equal)) {
    // Items between the previous run and this one match pairwise.
    const size_t matched =
        !run.desired.empty() ? run.desired.front() - i : run.actual.front() - j;
    i += matched;
    j += matched;
    EditRun& e = out.emplace_back();
    if (j > 0) e.after = j - 1;
    e.remove = std::move(run.actual);
    e.insert = std::move(run.desired);
    i += e.insert.size();
    j += e.remove.size();
  }
  return out;
}

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_SEQ_DIFF_H_
