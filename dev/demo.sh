#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, from a fresh Debian 12 machine: install, build, and show the
# rules the default istio-init policy produces, for both backends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup-debian.sh
bash dev/build.sh >/dev/null
args=(-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020)
echo "# istio-init defaults: ${args[*]}"
echo "# --- iptables-legacy (iptables-restore input) ---"
./build/src/cli/meshcap render --backend=iptables-legacy --ipv6=false "${args[@]}"
echo "# --- nftables (nft -f input) ---"
./build/src/cli/meshcap render --backend=nftables --ipv6=false "${args[@]}"
