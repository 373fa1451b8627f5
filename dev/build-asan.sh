#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The sanitized build (clang, ASan+UBSan, libFuzzer instrumentation) in
# ./build-asan that dev/sanitize.sh tests and dev/fuzz.sh fuzzes.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-asan/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-asan --wrap-mode=nodownload \
    --werror -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzzing=true -Doptimization=1 -Dbenchmarks=disabled >/dev/null ||
    exit 1
fi
ninja -C build-asan >/dev/null || { ninja -C build-asan; exit 1; }
