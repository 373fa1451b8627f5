#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds meshcap with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# in ./build-asan and runs the whole test suite there: every unit, golden,
# fuzz-corpus, C binding and kernel test (valgrind, the install test and
# the Python and Go bindings excepted: none of them can run a sanitized
# build). Any sanitizer report fails the test it happens in.
#
# The same build carries libFuzzer's coverage instrumentation and the
# libFuzzer targets (-Dfuzzing=true), so dev/fuzz.sh runs from it: one
# sanitized build instead of two. clang at -O1 also builds in a third of
# the time gcc's sanitizers take here.
set -uo pipefail
cd "$(dirname "$0")/.."
bash dev/build-asan.sh || exit 1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The explain cross-check sends 4,000 packets; sanitized, a third of its
# cases (the ordinary build's suite runs them all).
export MESHCAP_EXPLAIN_STRIDE=3
meson test -C build-asan --print-errorlogs --num-processes 2
