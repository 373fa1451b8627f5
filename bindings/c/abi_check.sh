#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Compares the ABI of the built libmeshcap_c with the baseline checked in
# under bindings/c/abi/ (Debian's abigail-tools). Fails on any change that
# can break a program built against the baseline: a removed or changed
# function, a changed struct layout, a changed type. Functions added in a
# new version node are fine and are only listed.
#   abi_check.sh LIBRARY BASELINE HEADERS_DIR           check
#   abi_check.sh --update LIBRARY BASELINE HEADERS_DIR  write the baseline
# The baseline is written when a version node is released (see
# libmeshcap_c.sym); it needs a build with debug information (-g, as the
# default debugoptimized build type has).
set -u
update=0
if [ "${1:-}" = --update ]; then update=1; shift; fi
lib=$1 baseline=$2 headers=$3

for tool in abidw abidiff readelf; do
  if ! command -v "$tool" >/dev/null; then
    echo "skipped: $tool not found (apt-get install abigail-tools binutils)"
    exit 77
  fi
done
if ! readelf -S "$lib" | grep -q '\.debug_info'; then
  echo "skipped: $lib has no debug information (build with -g)"
  exit 77
fi

# The ABI as the public header declares it: the opaque handles stay opaque,
# and DT_NEEDED (Abseil's versioned sonames) is not part of the C ABI.
# Both sides are compared in this form (abidiff reading the library itself
# with --headers-dir filters too much: a swap of two fields goes unseen).
dump() {
  abidw --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed \
    --headers-dir "$headers" --drop-private-types \
    --exported-interfaces-only --type-id-style hash \
    --out-file "$1" "$lib"
}

if [ "$update" = 1 ]; then
  dump "$baseline.tmp" || exit 1
  # abidiff recognizes the file by its first element: the licence goes
  # right after it.
  { head -n 1 "$baseline.tmp"
    echo '  <!-- SPDX-License-Identifier: GPL-2.0-or-later -->'
    echo '  <!-- Written by bindings/c/abi_check.sh (update mode); do not edit. -->'
    tail -n +2 "$baseline.tmp"; } >"$baseline" && rm -f "$baseline.tmp" ||
    exit 1
  echo "wrote $baseline"
  exit 0
fi

current=$(mktemp)
trap 'rm -f "$current"' EXIT
dump "$current" || { echo "abi_check: abidw failed"; exit 1; }
abidiff --harmless "$baseline" "$current"
rc=$?
# abidiff's status is a bit mask: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible ABI change.
if [ $((rc & 3)) -ne 0 ]; then
  echo "abi_check: abidiff failed (status $rc)"
  exit 1
fi
if [ $((rc & 8)) -ne 0 ]; then
  echo "abi_check: INCOMPATIBLE change against $baseline (see above)"
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  # Changes, but maybe only additions: look again without them.
  if ! abidiff --harmless --no-added-syms "$baseline" "$current" >/dev/null
  then
    echo "abi_check: the ABI changed against $baseline (see above)"
    exit 1
  fi
  echo "abi_check: only additions against $baseline: compatible"
  exit 0
fi
echo "abi_check: identical to $baseline"
