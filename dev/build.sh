#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Configures (once) and builds meshcap in ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
# MESHCAP_DEBUG_INFO=lines (dev/test.sh): line tables only (-g1), which
# still symbolize a backtrace, for a third less compile time than -g.
debug_args=()
if [ "${MESHCAP_DEBUG_INFO:-full}" = lines ]; then
  debug_args=(-Ddebug=false -Dc_args=-g1 -Dcpp_args=-g1)
fi
if [ ! -f build/build.ninja ]; then
  meson setup build --wrap-mode=nodownload --fatal-meson-warnings --werror \
    "${debug_args[@]}"
fi
ninja -C build
