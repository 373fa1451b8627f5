#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The sanitized build (clang, ASan+UBSan, libFuzzer instrumentation) in
# ./build-asan that dev/sanitize.sh tests and dev/fuzz.sh fuzzes.
set -uo pipefail
cd "$(dirname "$0")/.."
# MESHCAP_DEBUG_INFO=lines (dev/test.sh): line tables only, enough for the
# sanitizers' symbolized reports, for less compile time than -g.
debug_args=()
if [ "${MESHCAP_DEBUG_INFO:-full}" = lines ]; then
  debug_args=(-Ddebug=false -Dc_args=-gline-tables-only
              -Dcpp_args=-gline-tables-only)
fi
if [ ! -f build-asan/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-asan --wrap-mode=nodownload \
    --werror -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzzing=true -Doptimization=1 -Dbenchmarks=disabled \
    "${debug_args[@]}" >/dev/null ||
    exit 1
fi
ninja -C build-asan >/dev/null || { ninja -C build-asan; exit 1; }
