#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Configures (once) and builds meshcap in ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
# MESHCAP_DEBUG_INFO=lines (dev/test.sh, the test command): Debian's
# default compiler and linker flags (dpkg-buildflags: -O2, fortify, stack
# protector, format security, relro), as a distribution builds the
# package, so that a warning they raise fails this --werror build and the
# suite runs hardened binaries; with line tables (-g1) instead of -g, which
# still symbolize a backtrace, for a third less compile time.
debug_args=()
if [ "${MESHCAP_DEBUG_INFO:-full}" = lines ]; then
  lines() { dpkg-buildflags --get "$1" | sed -E 's/(^| )-g( |$)/\1-g1\2/'; }
  CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS)"
  CFLAGS="$(lines CFLAGS)"
  CXXFLAGS="$(lines CXXFLAGS)"
  LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
  export CPPFLAGS CFLAGS CXXFLAGS LDFLAGS
  debug_args=(-Ddebug=false)
fi
if [ ! -f build/build.ninja ]; then
  meson setup build --wrap-mode=nodownload --fatal-meson-warnings --werror \
    "${debug_args[@]}"
fi
ninja -C build
