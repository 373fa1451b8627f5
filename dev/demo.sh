#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, from a fresh Debian 12 machine: install, build, then, inside
# a throwaway network namespace (the machine's own ruleset is never
# touched): apply the default istio-init policy with the nftables backend,
# show what the kernel holds, verify it, send a real connection and show the
# proxy receiving it with its original destination, and run Istio's
# validation probe. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup-debian.sh
bash dev/build.sh >/dev/null
args=(-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020 --ipv6=false)
meshcap=./build/src/cli/meshcap
echo "# istio-init defaults: ${args[*]}"
unshare -n bash -c '
  set -e
  meshcap=$1; shift
  ip link set lo up
  ip link add eth0 type veth peer name eth1
  ip addr add 198.51.100.2/24 dev eth0
  ip link set eth0 up; ip link set eth1 up
  echo "# meshcap apply --backend=nftables; then nft list ruleset:"
  "$meshcap" apply --backend=nftables "$@"
  nft list ruleset
  echo "# meshcap verify:"
  "$meshcap" verify --backend=nftables "$@"
  echo "# a connection from the app to 198.51.100.1:80:"
  python3 - <<PY
import socket, struct
proxy = socket.socket()
proxy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
proxy.bind(("0.0.0.0", 15001))
proxy.listen()
app = socket.create_connection(("198.51.100.1", 80), timeout=2)
conn, _ = proxy.accept()
SO_ORIGINAL_DST = 80
port, addr = struct.unpack("!2xH4s8x", conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16))
print(f"captured: the proxy on :15001 accepted it; SO_ORIGINAL_DST = {socket.inet_ntoa(addr)}:{port}")
PY
  echo "# meshcap validate (Istio'"'"'s probe):"
  "$meshcap" validate "$@"
' bash "$meshcap" "${args[@]}"
