#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds meshcap as a distribution would package it, in ./build-release:
# -Dbuildtype=release, Debian's default compiler and linker flags
# (dpkg-buildflags: -O2 fortify, stack protector, format security, relro),
# no tests or benchmarks. Warnings are errors here (--werror), as in the
# developers' build, though not in a distribution's (werror is off by
# default).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-release/build.ninja ]; then
  CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS)" \
  CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS)" \
  CFLAGS="$(dpkg-buildflags --get CFLAGS)" \
  LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" \
    meson setup build-release --wrap-mode=nodownload --fatal-meson-warnings \
      --werror -Dbuildtype=release -Dtests=false -Dbenchmarks=disabled \
      -Dgo=disabled >/dev/null
fi
ninja -C build-release
