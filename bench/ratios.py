#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs the apply benchmarks and prints medians and ratios.

    python3 bench/ratios.py [nft|ipt|all] [build-dir] [repetitions]

Each backend's numbers come from one run of one binary, so the ratios compare
like with like on a noisy machine: in-process apply against the subprocess
tools Istio runs (`nft -f`; `iptables-legacy-restore` + `ip6tables-legacy-
restore`), against the raw netlink floor, and with foreign rules against
none. Needs root (each benchmark unshares its own network namespace).
"""

import json
import subprocess
import sys


def medians(binary, reps):
    out = subprocess.run(
        [binary, f"--benchmark_repetitions={reps}",
         "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median" and not b.get("error_occurred"):
            result[b["run_name"]] = b["real_time"]  # microseconds
    return result


class Report:
    def __init__(self, data):
        self.data = data
        self.ok = True

    def m(self, name, foreign):
        return self.data.get(f"BM_{name}/foreign:{foreign}")

    def table(self, columns, sizes):
        print(f"{'foreign rules':>14} " +
              " ".join(f"{label:>12}" for label, _ in columns) + "   (medians, us)")
        for f in sizes:
            cells = [self.m(name, f) for _, name in columns]
            print(f"{f:>14} " + " ".join(
                f"{c:>12.1f}" if c else f"{'-':>12}" for c in cells))
        print()

    def ratio(self, label, num, den, goal, higher_is_better):
        if not num or not den:
            print(f"{label}: missing data")
            self.ok = False
            return
        r = num / den
        met = r >= goal if higher_is_better else r <= goal
        self.ok &= met
        sign = ">=" if higher_is_better else "<="
        print(f"{label:<52} {r:7.2f}x  (goal {sign} {goal}x: "
              f"{'met' if met else 'NOT met'})")

    def at_most(self, label, value, goal_us):
        met = value is not None and value <= goal_us
        self.ok &= met
        print(f"{label:<52} {value or 0:7.1f}us (goal <= {goal_us}us: "
              f"{'met' if met else 'NOT met'})")


def nft(build, reps):
    r = Report(medians(f"{build}/bench/nft_apply_benchmark", reps))
    print("== nftables ==")
    r.table([("apply first", "ApplyFirst"), ("re-apply", "ApplyReapply"),
             ("nft -f", "NftFile"), ("raw floor", "RawFloor")], (0, 1000, 20000))
    for f in (0, 1000, 20000):
        r.ratio(f"nft -f / re-apply, {f} foreign",
                r.m("NftFile", f), r.m("ApplyReapply", f), 25, True)
    r.ratio("re-apply 20k foreign / re-apply 0 foreign",
            r.m("ApplyReapply", 20000), r.m("ApplyReapply", 0), 1.3, False)
    r.ratio("first apply 20k foreign / first apply 0 foreign",
            r.m("ApplyFirst", 20000), r.m("ApplyFirst", 0), 1.3, False)
    for f in (0, 20000):
        r.ratio(f"re-apply / raw floor, {f} foreign",
                r.m("ApplyReapply", f), r.m("RawFloor", f), 1.5, False)
        r.ratio(f"first apply / raw floor, {f} foreign",
                r.m("ApplyFirst", f), r.m("RawFloor", f), 1.5, False)
    for name in ("ApplyFirst", "ApplyReapply"):
        r.at_most(f"{name} median, 0 foreign", r.m(name, 0), 100)
    print()
    return r.ok


def ipt(build, reps):
    r = Report(medians(f"{build}/bench/ipt_apply_benchmark", reps))
    print("== iptables-legacy ==")
    r.table([("apply first", "ApplyFirst"), ("re-apply", "ApplyReapply"),
             ("*-restore", "Restore")], (0, 20000))
    r.ratio("restore / first apply, 0 foreign",
            r.m("Restore", 0), r.m("ApplyFirst", 0), 4, True)
    r.ratio("restore / first apply, 20000 foreign",
            r.m("Restore", 20000), r.m("ApplyFirst", 20000), 2, True)
    r.ratio("restore / re-apply, 20000 foreign",
            r.m("Restore", 20000), r.m("ApplyReapply", 20000), 2, True)
    print()
    return r.ok


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    build = sys.argv[2] if len(sys.argv) > 2 else "build"
    reps = sys.argv[3] if len(sys.argv) > 3 else "5"
    if which in ("nft", "all"):
        nft(build, reps)
    if which in ("ipt", "all"):
        ipt(build, reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
