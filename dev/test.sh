#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# From a fresh Debian 12 machine: install, build, run every test suite and
# meshcap-cni's fault campaign (quick), then the same suite under ASan+UBSan
# and a short run of each fuzzer.
# Ends with "N passed, N failed" counted over individual test cases.
#   MESHCAP_QUICK=1 dev/test.sh   # the ordinary build's suite and campaign only
set -uo pipefail
cd "$(dirname "$0")/.."
# Each phase says how long it took (CI has a time limit; this is where the
# time goes).
phase_start=$SECONDS
phase() {
  echo "== [$((SECONDS - phase_start)) s since the start] $*"
}
# The builds this makes carry line tables, not full debug info
# (dev/build.sh): a third less compile time, backtraces still symbolized.
export MESHCAP_DEBUG_INFO="${MESHCAP_DEBUG_INFO:-lines}"
phase "setup"
bash dev/setup-debian.sh || { echo "0 passed, 1 failed"; exit 1; }
phase "build (dev/build.sh)"
if ! bash dev/build.sh >/dev/null; then
  bash dev/build.sh  # again, to show the errors
  echo "0 passed, 1 failed"  # the build itself failed
  exit 1
fi

phase "the suite"
meson test -C build --print-errorlogs --num-processes 2
meson_rc=$?
results=(build/meson-logs/testlog.junit.xml)
# What the explain cross-check (tests/system/explain_kernel_test.cc) and its
# probe generator (tests/unit/explain_test.cc) counted, and CompactLists'
# equivalence (tests/unit/compact_test.cc, tests/system/compact_kernel_test.cc).
phase "explain against the kernel; CompactLists against Istio's form"
grep -h '^explain cross-check:\|^explain probes:' build/meson-logs/testlog.txt ||
  echo "explain cross-check: not run (see the suite above)"
grep -h '^compact lists \|^random list edits:' build/meson-logs/testlog.txt ||
  echo "compact lists equivalence: not run (see the suite above)"

# meshcap-cni's fault campaign on the ordinary build: the real plugin against
# the real kernel, killed at random moments, fed hostile configurations, on
# broken state directories, with long identifiers and racing verbs, in
# namespaces of its own. Bounded (--quick: under a minute on 2 cores); one
# case here, its own "N checks, M failed" line above.
phase "meshcap-cni's fault campaign (dev/cni-faults.sh --quick)"
bash dev/cni-faults.sh --quick
cni_faults_rc=$?
results+=("cni-faults=$cni_faults_rc")

# (The build above uses Debian's default flags with --werror, as a
# packager's build does (dev/build.sh); dev/release-build.sh is that
# build on its own, -Dbuildtype=release without tests.)

# Formatting is part of the contract (Google style, clang-format).
format_rc=0
if ! git ls-files '*.cc' '*.h' '*.c' | xargs clang-format --dry-run --Werror; then
  echo "clang-format: files above are not formatted"
  format_rc=1
fi
results+=("clang-format=$format_rc")

sanitize_rc=0
fuzz_rc=0
if [ "${MESHCAP_QUICK:-0}" != 1 ]; then
  phase "the sanitized build (dev/build-asan.sh)"
  bash dev/build-asan.sh  # dev/sanitize.sh says so again if it failed
  phase "the suite under AddressSanitizer and UndefinedBehaviorSanitizer"
  bash dev/sanitize.sh
  sanitize_rc=$?
  if [ -f build-asan/meson-logs/testlog.junit.xml ]; then
    results+=(build-asan/meson-logs/testlog.junit.xml)
  fi
  results+=("sanitized-suite=$sanitize_rc")
  phase "each fuzzer for ${MESHCAP_FUZZ_SECONDS:-20} s (dev/fuzz.sh)"
  bash dev/fuzz.sh "${MESHCAP_FUZZ_SECONDS:-20}"
  fuzz_rc=$?
  results+=("fuzzers=$fuzz_rc")
fi

phase "summary"
# The only skip: Istio has no iptables golden for this case.
python3 dev/summarize.py --expect-skip=inbound_ports_empty_tproxy "${results[@]}"
summary_rc=$?
[ "$meson_rc" -eq 0 ] && [ "$cni_faults_rc" -eq 0 ] && [ "$format_rc" -eq 0 ] &&
  [ "$sanitize_rc" -eq 0 ] && [ "$fuzz_rc" -eq 0 ] && [ "$summary_rc" -eq 0 ]
