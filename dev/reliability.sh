#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The reliability campaign docs/guarantees.md quotes, on the current build (as
# root; every test makes its own network namespaces):
#   - TRIALS randomly timed SIGKILLs of `meshcap apply` per backend
#     (tests/system/crash_test.cc, KillTest), alternating two policies;
#   - ROUNDS rounds of 8 racing appliers per backend (race_test.cc);
#   - the deterministic crash points and the malformed-input table;
#   - with --fuzz, each fuzzer for 5 minutes (dev/fuzz.sh 300).
#   dev/reliability.sh [TRIALS=1000] [ROUNDS=30] [--fuzz]
set -uo pipefail
cd "$(dirname "$0")/.."
trials=${1:-1000}
rounds=${2:-30}
bash dev/build.sh >/dev/null || exit 1
export MESHCAP_STATE_DIR="$PWD/build/campaign-state"
failed=0
run() {
  local log="build/campaign-$1.log"
  shift
  if "$@" >"$log" 2>&1; then :; else failed=1; echo "FAILED: $* (see $log)"; fi
  grep -E '^(kill campaign|race) |^\[  (PASSED|FAILED) ' "$log"
}
MESHCAP_KILL_TRIALS=$trials run kill build/tests/crash_test \
  --gtest_filter='*KillTest*'
MESHCAP_RACE_ROUNDS=$rounds run race build/tests/race_test
run crash-points build/tests/crash_test --gtest_filter='*CrashTest*'
run bad-input build/tests/bad_input_test
if [ "${3:-}" = --fuzz ]; then
  bash dev/fuzz.sh 300 || failed=1
fi
exit "$failed"
