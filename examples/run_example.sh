#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs an example the way its README says, against a fresh namespace made
# like a pod's: lo up, eth0 (one end of a veth pair whose other end stays
# inside) with 203.0.113.2/24, a default route via 203.0.113.1. The
# namespace is held by a sleeping process and given to the example by path
# (/proc/PID/ns/net); the example must report the captured connection's
# original destination. Run it inside a namespace of its own
# (bindings/testing/in_netns.sh): nothing here touches the machine's.
#   run_example.sh COMMAND [ARG...]     (the namespace path is appended)
set -eu
unshare -n sleep 600 &
holder=$!
trap 'kill $holder 2>/dev/null || true' EXIT
ours=$(readlink /proc/self/ns/net)
i=0
until [ "$(readlink /proc/$holder/ns/net 2>/dev/null)" != "$ours" ] &&
      [ -n "$(readlink /proc/$holder/ns/net 2>/dev/null)" ]; do
  i=$((i + 1))
  [ $i -lt 500 ] || { echo "the pod namespace did not appear"; exit 1; }
  sleep 0.01
done
pod=/proc/$holder/ns/net
in_pod() { nsenter --net="$pod" "$@"; }
in_pod ip link set lo up
in_pod ip link add eth0 type veth peer name eth0-peer
in_pod ip addr add 203.0.113.2/24 dev eth0
in_pod ip link set eth0 up
in_pod ip link set eth0-peer up
in_pod ip route add default via 203.0.113.1

out=$("$@" "$pod") || { echo "$out"; exit 1; }
echo "$out"
echo "$out" | grep -q 'verify: the kernel holds exactly the policy'
echo "$out" | grep -q '^explain: captured: REDIRECT to port 15001, by ' || {
  echo "run_example: the example did not explain the capture"
  exit 1
}
echo "$out" | grep -q \
  'original destination (SO_ORIGINAL_DST): 198.51.100.10:80$' || {
  echo "run_example: the example did not show the captured connection"
  exit 1
}
# And the namespace holds meshcap's rules, as nft itself shows them.
in_pod nft list tables | grep -q 'istio-proxy-nat'
