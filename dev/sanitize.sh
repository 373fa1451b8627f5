#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds meshcap with AddressSanitizer and UndefinedBehaviorSanitizer (gcc)
# in ./build-asan and runs the whole test suite there: every unit, golden,
# fuzz-corpus and kernel test (valgrind and the install test excepted:
# neither works on a sanitized build). Any sanitizer report fails the test
# it happens in.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --wrap-mode=nodownload --werror \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbenchmarks=disabled >/dev/null || exit 1
fi
ninja -C build-asan >/dev/null || { ninja -C build-asan; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C build-asan --print-errorlogs --num-processes 2
