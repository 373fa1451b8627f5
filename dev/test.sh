#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# From a fresh Debian 12 machine: install, build, run every test suite.
# Ends with "N passed, N failed" counted over individual test cases.
set -uo pipefail
cd "$(dirname "$0")/.."
bash dev/setup-debian.sh || { echo "0 passed, 1 failed"; exit 1; }
if ! bash dev/build.sh >/dev/null; then
  bash dev/build.sh  # again, to show the errors
  echo "0 passed, 1 failed"  # the build itself failed
  exit 1
fi

meson test -C build --print-errorlogs --num-processes 2
meson_rc=$?

# Formatting is part of the contract (Google style, clang-format).
format_rc=0
if ! git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror; then
  echo "clang-format: files above are not formatted"
  format_rc=1
fi

python3 dev/summarize.py build/meson-logs/testlog.junit.xml "$format_rc"
summary_rc=$?
[ "$meson_rc" -eq 0 ] && [ "$format_rc" -eq 0 ] && [ "$summary_rc" -eq 0 ]
