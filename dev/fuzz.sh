#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the libFuzzer targets with clang, ASan and UBSan in ./build-asan
# (dev/build-asan.sh, shared with dev/sanitize.sh) and
# runs each for SECONDS (default 30), starting from its seed corpus
# (tests/fuzz/corpus/<target>, copied: the repository is not written).
# Crashes are left in build-asan/crashes/<target>/. Exits non-zero if any
# target fails.
#   dev/fuzz.sh            # 30 s each (CI)
#   dev/fuzz.sh 300        # the documented long run: 5 minutes each
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
targets=(policy_json explain cli ipt_entry nft_rule xt_rule rtnl_dump cni_config cni_pod)
bash dev/build-asan.sh || exit 1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
# One target per core at a time (libFuzzer runs one process): on 2 cores
# the whole run takes half the time, each target still its SECONDS.
jobs="$(nproc 2>/dev/null || echo 2)"
fuzz_one() {
  local t="$1"
  local corpus="build-asan/corpus/$t"
  local crashes="build-asan/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  local log="build-asan/fuzz-$t.log"
  if build-asan/tests/fuzz/"${t}_fuzzer" "$corpus" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1; then
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
           grep -o '[0-9]*$')
    echo "fuzz $t: ${runs:-?} runs in ${seconds}s, no crash" >"$log.result"
  else
    { echo "fuzz $t: FAILED (see $log and $crashes)"; tail -30 "$log"; } \
      >"$log.result"
    return 1
  fi
}
failed=0
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  pids=()
  batch=("${targets[@]:i:jobs}")
  for t in "${batch[@]}"; do
    fuzz_one "$t" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  for t in "${batch[@]}"; do cat "build-asan/fuzz-$t.log.result"; done
done
exit "$failed"
