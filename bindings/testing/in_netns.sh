#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs a test inside a network namespace of its own, with lo up, so that the
# machine's namespace is never touched even by a test that goes wrong (the
# tests make a fresh namespace per case inside it as well). Exits 77 (meson:
# skipped) when no namespace can be made: not root, no user namespaces.
#   in_netns.sh COMMAND [ARG...]
set -eu
if ! unshare -n true 2>/dev/null; then
  echo "skipped: cannot create a network namespace (run as root)"
  exit 77
fi
exec unshare -n -- sh -c 'ip link set lo up && exec "$@"' in_netns "$@"
