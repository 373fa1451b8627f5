#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`meshcap explain` against `meshcap render` as whole processes.

The issue's goal is that explaining one packet costs at most 2x printing
the rules (both parse the policy, compile it and print; explain walks the
rules once more). Runs each command N times, interleaved in a shuffled
order so that a noisy moment hurts both alike, and prints the medians and
their ratio, for the istio-init policy and a heavier one (TPROXY, IPv6,
DNS, exclusions), each explained for an outbound and an inbound packet.
Needs no root.

    bench/explain_ratio.py [--meshcap build/src/cli/meshcap] [--runs 300]
"""

import argparse
import random
import statistics
import subprocess
import time

ISTIO_INIT = ["--istio-service-cidr=*", "--istio-inbound-ports=*",
              "--istio-local-exclude-ports=15090,15021,15020"]
HEAVY = ISTIO_INIT + [
    "--istio-inbound-interception-mode=TPROXY", "--ipv6=true",
    "--redirect-dns=true", "--dns-servers=198.51.100.53,2001:db8::53",
    "--istio-service-exclude-cidr=203.0.113.0/24,2001:db8:1::/48",
    "--istio-local-outbound-ports-exclude=22,443",
    "--istio-exclude-interfaces=eth9", "--kube-virt-interfaces=veth1,veth2"]
OUT = ["--dst=198.51.100.10:80", "--uid=1000"]
IN = ["--src=203.0.113.9:40000", "--dst=198.51.100.2:8080", "--iif=eth0"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshcap", default="build/src/cli/meshcap")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--backend", default="nftables")
    args = ap.parse_args()
    cases = {}
    for name, policy in (("istio_init", ISTIO_INIT), ("tproxy_v6_dns", HEAVY)):
        b = ["--backend=" + args.backend]
        cases[name + "/render"] = [args.meshcap, "render"] + b + policy
        cases[name + "/explain_out"] = [args.meshcap, "explain"] + b + \
            policy + OUT
        cases[name + "/explain_in"] = [args.meshcap, "explain"] + b + \
            policy + IN
    times = {k: [] for k in cases}
    order = list(cases) * args.runs
    random.shuffle(order)
    for name in order:
        t0 = time.perf_counter()
        subprocess.run(cases[name], check=True, stdout=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"# meshcap explain against render, whole process, {args.runs} "
          f"runs each, interleaved ({args.backend}); medians")
    print(f"{'case':32} {'median':>10} {'vs render':>10}")
    for name in cases:
        policy = name.split("/")[0]
        ratio = med[name] / med[policy + "/render"]
        print(f"{name:32} {med[name] * 1e3:8.2f}ms {ratio:9.2f}x")


if __name__ == "__main__":
    main()
