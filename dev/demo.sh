#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, from a fresh Debian 12 machine: install, build, then apply the
# default istio-init policy with the nftables backend inside a throwaway
# network namespace, show what the kernel holds, and verify it. The
# machine's own ruleset is never touched. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup-debian.sh
bash dev/build.sh >/dev/null
args=(-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020 --ipv6=false)
meshcap=./build/src/cli/meshcap
echo "# istio-init defaults: ${args[*]}"
echo "# meshcap apply --backend=nftables, in a fresh network namespace; then nft list ruleset:"
unshare -n bash -c '
  set -e
  "$0" apply --backend=nftables "${@}"
  nft list ruleset
  echo "# meshcap verify:"
  "$0" verify --backend=nftables "${@}"
' "$meshcap" "${args[@]}"
