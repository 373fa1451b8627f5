#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# meshcap-cni's fault campaign (issue 18: the plugin never wedges a pod), on
# the current build, as root: the real plugin against the real kernel, in a
# private mount and network namespace made here (pod namespaces are made
# inside it; nothing of the machine's namespaces, /run, /etc/cni or
# /var/lib/cni is touched). See dev/cni_faults.py for the parts and the
# invariants checked after every trial.
#   dev/cni-faults.sh [--quick] [--seed N] [--parts kill,hostile,state,long,race]
#                     [--verbose]
# --quick is CI's bounded mode (10 kills per verb and backend, 10 race
# rounds; about 35 s on 2 cores); the default is the campaign docs/cni.md
# quotes (200 kills per verb and backend, 100 race rounds; about 2.5 min).
# It runs a private copy of the plugin (MESHCAP_CNI, default the build's),
# prints one line per part, a FAIL line per failed check (at most 25 per
# part), and ends "cni-faults: N checks, M failed"; exit status 1 when a
# check failed, 2 when it cannot run. --seed repeats a run's random choices.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
if [ "$(id -u)" != 0 ]; then
  echo "cni-faults: needs root" >&2
  exit 2
fi
plugin=${MESHCAP_CNI:-$PWD/build/src/cni/meshcap-cni}
if [ ! -x "$plugin" ]; then
  echo "cni-faults: no $plugin; build first (bash dev/build.sh)" >&2
  exit 2
fi
for tool in unshare nsenter nft iptables-legacy-save ip6tables-legacy-save; do
  if ! command -v "$tool" >/dev/null; then
    echo "cni-faults: $tool is missing (bash dev/setup-debian.sh)" >&2
    exit 2
  fi
done
work=$(mktemp -d /tmp/meshcap-cni-faults.XXXXXX) || exit 2
# A tmpfs is mounted on $work inside the private mount namespace: it, the
# pod namespaces bound to its files and every state directory go with that
# namespace when the campaign ends, however it ends.
trap 'rmdir "$work" 2>/dev/null' EXIT
unshare --mount --net --propagation private -- \
  /usr/bin/python3 dev/cni_faults.py --plugin "$plugin" --work "$work" "$@"
