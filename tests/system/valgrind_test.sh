#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The meshcap binary under valgrind memcheck: apply (with policy routing and
# ::6), re-apply, verify and clean on both backends, in a fresh network
# namespace. Any uninitialised byte handed to the kernel (a netlink
# message's padding, an iptables entry) or any other memory error fails.
# Usage: valgrind_test.sh MESHCAP  (exit 77: skipped)
set -uf  # no globbing: the policy has a '*'
meshcap="$(realpath "$1")"
command -v valgrind >/dev/null || { echo "no valgrind"; exit 77; }
if [ "${MESHCAP_IN_NETNS:-}" != 1 ]; then
  MESHCAP_IN_NETNS=1 exec unshare -n sh "$0" "$@" ||
    { echo "cannot make a network namespace"; exit 77; }
fi
ip link set lo up
policy="-m TPROXY -b * --ipv6=true --redirect-dns --dns-servers=198.51.100.53,2001:db8::53 -d 22"
failed=0
run() {
  if ! valgrind -q --error-exitcode=99 --track-origins=yes \
      "$meshcap" "$@" >/dev/null 2>valgrind.log; then
    echo "FAILED under valgrind: meshcap $*"
    cat valgrind.log
    failed=1
  fi
}
cd "$(mktemp -d)" || exit 1
for backend in nftables iptables-legacy; do
  run apply --backend=$backend $policy
  run apply --backend=$backend $policy -o 8080
  run verify --backend=$backend $policy -o 8080
  run clean
done
[ "$failed" = 0 ] && echo "valgrind: apply, re-apply, verify, clean clean on both backends"
exit "$failed"
