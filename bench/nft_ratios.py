#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs the nftables apply benchmark once and prints medians and ratios.

    python3 bench/nft_ratios.py [build/bench/nft_apply_benchmark] [reps]

Everything comes from one run of one binary, so the ratios compare like with
like on a noisy machine: in-process apply against `nft -f` of the same rules,
against the raw netlink floor, and with 20,000 foreign rules against none.
Needs root (the benchmark unshares its own network namespace).
"""

import json
import subprocess
import sys


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/bench/nft_apply_benchmark"
    reps = sys.argv[2] if len(sys.argv) > 2 else "5"
    out = subprocess.run(
        [binary, f"--benchmark_repetitions={reps}",
         "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    medians = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median" and not b.get("error_occurred"):
            medians[b["run_name"]] = b["real_time"]  # microseconds

    def m(name, foreign):
        return medians.get(f"BM_{name}/foreign:{foreign}")

    print(f"{'foreign rules':>14} {'apply first':>12} {'re-apply':>10} "
          f"{'nft -f':>10} {'raw floor':>10}   (medians, us)")
    for f in (0, 1000, 20000):
        cells = [m(n, f) for n in ("ApplyFirst", "ApplyReapply", "NftFile", "RawFloor")]
        print(f"{f:>14} " + " ".join(
            f"{c:>12.1f}" if i == 0 else f"{c:>10.1f}" if c else f"{'-':>10}"
            for i, c in enumerate(cells)))
    print()
    ok = True

    def ratio(label, num, den, goal, higher_is_better):
        nonlocal ok
        if not num or not den:
            print(f"{label}: missing data")
            ok = False
            return
        r = num / den
        met = r >= goal if higher_is_better else r <= goal
        ok &= met
        sign = ">=" if higher_is_better else "<="
        print(f"{label:<48} {r:7.2f}x  (goal {sign} {goal}x: "
              f"{'met' if met else 'NOT met'})")

    for f in (0, 1000, 20000):
        ratio(f"nft -f / re-apply, {f} foreign", m("NftFile", f), m("ApplyReapply", f), 25, True)
    ratio("re-apply 20k foreign / re-apply 0 foreign",
          m("ApplyReapply", 20000), m("ApplyReapply", 0), 1.3, False)
    ratio("first apply 20k foreign / first apply 0 foreign",
          m("ApplyFirst", 20000), m("ApplyFirst", 0), 1.3, False)
    for f in (0, 20000):
        ratio(f"re-apply / raw floor, {f} foreign", m("ApplyReapply", f), m("RawFloor", f), 1.5, False)
        ratio(f"first apply / raw floor, {f} foreign", m("ApplyFirst", f), m("RawFloor", f), 1.5, False)
    for name in ("ApplyFirst", "ApplyReapply"):
        v = m(name, 0)
        met = v is not None and v <= 100
        print(f"{name + ' median, 0 foreign':<48} {v or 0:7.1f}us (goal <= 100us: "
              f"{'met' if met else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
