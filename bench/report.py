#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meshcap's performance report: runs the benchmarks, prints medians, ratios
and goals, and draws the plots docs/perf/README.md shows.

    python3 bench/report.py [--build build] [--runs 30] [--reps 5]
                            [--plots docs/perf]
                            [--only process|nft|ipt|iptnft]

Needs root (every benchmark makes its own network namespaces) and a build
with benchmarks (`meson setup build`). Each table's numbers come from one
run, so ratios compare like with like on a noisy machine:
  - process: bench/process_benchmark, whole commands in fresh namespaces,
    interleaved, net of a `true` in a fresh namespace;
  - nft, ipt, iptnft: bench/{nft,ipt,iptnft}_apply_benchmark, in-process
    Engine::Apply
    against the subprocess tools and the kernel's own floor.
Plots (PNG, matplotlib) go to --plots: latency against foreign rules,
against policy size, and whole-process latency; beside them report.md (what
this prints) and report.json (the medians), which docs/perf/README.md quotes.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

FLAGS = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
         "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
         "--ipv6=true"]


class Goals:
    def __init__(self):
        self.lines = []
        self.missed = 0

    def check(self, label, value, goal, kind, unit=None):
        if value is None:
            self.lines.append(f"{label:<58} missing")
            self.missed += 1
            return
        ok = value <= goal if kind == "<=" else value >= goal
        self.missed += not ok
        if unit is None:
            unit = "x" if isinstance(goal, float) else " us"
        self.lines.append(f"{label:<58} {value:8.2f}{unit}  (goal {kind} "
                          f"{goal}{unit}: {'met' if ok else 'NOT met'})")


class Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)

    def flush(self):
        for s in self.streams:
            s.flush()


def split_restore(text):
    """Istio's dry-run text lists the IPv4 tables, then the IPv6 ones."""
    blocks, seen, v4, v6 = text.split("COMMIT\n"), set(), [], []
    for b in blocks:
        if not b.strip():
            continue
        name = b.strip().splitlines()[0]
        target = v6 if name in seen or v6 else v4
        seen.add(name)
        target.append(b + "COMMIT\n")
    return "".join(v4), "".join(v6)


def process(build, runs):
    meshcap = os.path.abspath(f"{build}/src/cli/meshcap")
    work = tempfile.mkdtemp(prefix="meshcap-report-")
    render = lambda backend: subprocess.run(
        [meshcap, "render", f"--backend={backend}"] + FLAGS, check=True,
        capture_output=True, text=True).stdout
    v4, v6 = split_restore(render("iptables-legacy"))
    open(f"{work}/rules.v4", "w").write(v4)
    open(f"{work}/rules.v6", "w").write(v6)
    open(f"{work}/rules.nft", "w").write(render("nftables"))
    os.symlink(meshcap, f"{work}/istio-iptables")
    env = dict(os.environ)
    # Intent records live in /run/meshcap, a tmpfs on any node; keep them
    # on one here too, whatever this machine's /run is.
    env["MESHCAP_STATE_DIR"] = f"/dev/shm/meshcap-report-{os.getpid()}"
    env["XTABLES_LOCKFILE"] = f"{work}/xtables.lock"
    out = subprocess.run(
        [f"{build}/bench/process_benchmark", f"--runs={runs}",
         f"--meshcap={meshcap}", f"--work={work}"],
        check=True, capture_output=True, text=True, env=env).stdout
    cases = json.loads(out)["cases"]
    med = {k: statistics.median(v) * 1e3 for k, v in cases.items()}
    base = med.pop("true")
    net = {k: v - base for k, v in med.items()}
    return {"median_ms": med, "net_ms": net, "baseline_ms": base,
            "runs": runs}


def gbench(binary, reps):
    out = subprocess.run(
        [binary, f"--benchmark_repetitions={reps}",
         "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") != "median" or b.get("error_occurred"):
            continue
        name = b["run_name"].replace("/manual_time", "")
        result[name] = {"us": b["real_time"], "floor_us": b.get("floor_us")}
    return result


def fmt(v):
    return "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")


def table(title, header, rows):
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" ---: " for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def report_process(p, goals):
    net = p["net_ms"]
    order = ["meshcap-nft-first", "meshcap-nft-reapply", "meshcap-legacy-first",
             "meshcap-legacy-reapply", "meshcap-iptnft-first",
             "meshcap-iptnft-reapply", "istio-iptables-name", "restore-pair",
             "nft-restore-pair", "nft-f"]
    table(f"Whole process, fresh namespace, medians of {p['runs']} runs "
          f"(net of `true` in a fresh namespace: {p['baseline_ms']:.2f} ms)",
          ["command", "net ms", "median ms"],
          [[k, f"{net[k]:.2f}", f"{p['median_ms'][k]:.2f}"] for k in order])
    table("Start-up and exit alone (no kernel work), same run",
          ["command", "net ms", "median ms"],
          [[k, f"{net[k]:.2f}", f"{p['median_ms'][k]:.2f}"]
           for k in ("meshcap-version", "meshcap-render", "nft-version")] +
          [["true (a small C program: the baseline)", "0",
            f"{p['baseline_ms']:.2f}"]])
    goals.check("start-up: meshcap render / nft --version (total)",
                p["median_ms"]["meshcap-render"] /
                p["median_ms"]["nft-version"], 1.2, "<=")
    pair, nftf = net["restore-pair"], net["nft-f"]
    goals.check("process: meshcap nft first / restore pair",
                net["meshcap-nft-first"] / pair, 0.5, "<=")
    goals.check("process: meshcap nft first / nft -f",
                net["meshcap-nft-first"] / nftf, 0.6, "<=")
    goals.check("process: meshcap legacy first / restore pair",
                net["meshcap-legacy-first"] / pair, 0.5, "<=")
    nft_pair = net["nft-restore-pair"]
    goals.check("process: meshcap iptables-nft first / nft restore pair",
                net["meshcap-iptnft-first"] / nft_pair, 0.5, "<=")
    # In a fresh pod both pick iptables-nft.
    goals.check("process: istio-iptables name / nft restore pair",
                net["istio-iptables-name"] / nft_pair, 0.5, "<=")


def m(data, name):
    v = data.get(name)
    return v["us"] if v else None


def report_nft(d, goals):
    rows = []
    for f in (0, 1000, 5000, 20000):
        first = d.get(f"BM_ApplyFirst/foreign:{f}/policy:0", {})
        rows.append([str(f), fmt(first.get("us")), fmt(first.get("floor_us")),
                     fmt(m(d, f"BM_NftFile/foreign:{f}/policy:0"))])
    table("nftables in-process, against foreign rules (medians, us)",
          ["foreign rules", "first apply", "raw floor", "nft -f"], rows)
    rows = []
    for p in (0, 100, 250, 500, 1000):
        first = d.get(f"BM_ApplyFirst/foreign:0/policy:{p}", {})
        rows.append([str(p), fmt(first.get("us")), fmt(first.get("floor_us")),
                     fmt(m(d, f"BM_NftFile/foreign:0/policy:{p}"))])
    table("nftables in-process, against policy size: extra excluded CIDRs "
          "and ports (medians, us)",
          ["extra", "first apply", "raw floor", "nft -f"], rows)
    first = d.get("BM_ApplyFirst/foreign:0/policy:0", {})
    if first.get("us") and first.get("floor_us"):
        goals.check("nft: first apply / raw floor",
                    first["us"] / first["floor_us"], 1.15, "<=")
    # A floor the measured code beats is not a floor.
    for name, v in sorted(d.items()):
        if name.startswith("BM_ApplyFirst/") and v.get("floor_us"):
            goals.check(f"nft floor honest: {name[14:]} apply / floor",
                        v["us"] / v["floor_us"], 1.0, ">=")
    goals.check("nft: no-op re-apply (us)", m(d, "BM_ApplyNoop/foreign:0"),
                60, "<=")
    one, full = m(d, "BM_ApplyOnePort/foreign:0"), first.get("us")
    goals.check("nft: one-port change / full apply",
                one / full if one and full else None, 0.6, "<=")
    slope(d, "nft", "BM_ApplyFirst", "BM_NftFile", goals)


def report_ipt(d, goals):
    rows = []
    for f in (0, 1000, 5000, 20000):
        first = d.get(f"BM_ApplyFirst/foreign:{f}/policy:0", {})
        rows.append([str(f), fmt(first.get("us")), fmt(first.get("floor_us")),
                     fmt(m(d, f"BM_Restore/foreign:{f}/policy:0"))])
    table("iptables-legacy in-process, against foreign rules in nat "
          "(medians, us; floor: one read and one replace of IPv4 nat)",
          ["foreign rules", "first apply", "kernel floor", "restore pair"],
          rows)
    rows = []
    for p in (0, 100, 250, 500, 1000):
        first = d.get(f"BM_ApplyFirst/foreign:0/policy:{p}", {})
        rows.append([str(p), fmt(first.get("us")),
                     fmt(m(d, f"BM_Restore/foreign:0/policy:{p}"))])
    table("iptables-legacy in-process, against policy size (medians, us)",
          ["extra", "first apply", "restore pair"], rows)
    for name, v in sorted(d.items()):
        if name.startswith("BM_ApplyFirst/") and v.get("floor_us"):
            goals.check(f"ipt floor honest: {name[14:]} apply / floor",
                        v["us"] / v["floor_us"], 1.0, ">=")
    big = d.get("BM_ApplyFirst/foreign:20000/policy:0", {})
    if big.get("us") and big.get("floor_us"):
        goals.check("ipt 20k foreign: first apply / kernel floor",
                    big["us"] / big["floor_us"], 1.1, "<=")
    noop, pair = m(d, "BM_ApplyNoop/foreign:20000"), m(
        d, "BM_Restore/foreign:20000/policy:0")
    goals.check("ipt 20k foreign: restore pair / no-op re-apply",
                pair / noop if noop and pair else None, 2.0, ">=")
    one, full = m(d, "BM_ApplyOnePort/foreign:0"), m(
        d, "BM_ApplyFirst/foreign:0/policy:0")
    if one and full:
        print(f"\nipt: one-port change / full apply: {one / full:.2f}x "
              "(legacy tables are replaced whole)")
    slope(d, "ipt", "BM_ApplyFirst", "BM_Restore", goals)


def report_iptnft(d, goals):
    rows = []
    for f in (0, 1000, 5000, 20000):
        first = d.get(f"BM_ApplyFirst/foreign:{f}/policy:0", {})
        rows.append([str(f), fmt(first.get("us")), fmt(first.get("floor_us")),
                     fmt(m(d, f"BM_Restore/foreign:{f}/policy:0"))])
    table("iptables-nft in-process, against foreign rules in ip nat "
          "(medians, us)",
          ["foreign rules", "first apply", "raw floor", "nft restore pair"],
          rows)
    rows = []
    for p in (0, 100, 250, 500, 1000):
        first = d.get(f"BM_ApplyFirst/foreign:0/policy:{p}", {})
        rows.append([str(p), fmt(first.get("us")), fmt(first.get("floor_us")),
                     fmt(m(d, f"BM_Restore/foreign:0/policy:{p}"))])
    table("iptables-nft in-process, against policy size (medians, us)",
          ["extra", "first apply", "raw floor", "nft restore pair"], rows)
    first = d.get("BM_ApplyFirst/foreign:0/policy:0", {})
    if first.get("us") and first.get("floor_us"):
        goals.check("iptables-nft: first apply / raw floor",
                    first["us"] / first["floor_us"], 1.15, "<=")
    for name, v in sorted(d.items()):
        if name.startswith("BM_ApplyFirst/") and v.get("floor_us"):
            goals.check(f"iptables-nft floor honest: {name[14:]} apply / "
                        "floor", v["us"] / v["floor_us"], 1.0, ">=")
    goals.check("iptables-nft: no-op re-apply (us)",
                m(d, "BM_ApplyNoop/foreign:0"), 60, "<=")
    one, full = m(d, "BM_ApplyOnePort/foreign:0"), first.get("us")
    goals.check("iptables-nft: one-port change / full apply",
                one / full if one and full else None, 0.6, "<=")
    slope(d, "iptables-nft", "BM_ApplyFirst", "BM_Restore", goals)


def slope(d, label, ours, theirs, goals=None):
    """Microseconds per extra rule (3 per step: CIDR, port on two families),
    and how straight the line is (R squared of the least-squares fit)."""
    def fit(name):
        xs, ys = [], []
        for p in (0, 100, 250, 500, 1000):
            v = m(d, f"{name}/foreign:0/policy:{p}")
            if v is not None:
                xs.append(3 * p)
                ys.append(v)
        if len(xs) < 2:
            return None
        mx, my = statistics.mean(xs), statistics.mean(ys)
        k = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum(
            (x - mx) ** 2 for x in xs)
        res = sum((y - (my + k * (x - mx))) ** 2 for x, y in zip(xs, ys))
        tot = sum((y - my) ** 2 for y in ys)
        return k, 1 - res / tot if tot else 1.0
    a, b = fit(ours), fit(theirs)
    if a is not None and b is not None:
        print(f"\n{label}: slope per rule: meshcap {a[0]:.2f} us "
              f"(R^2 {a[1]:.3f}), the tool {b[0]:.2f} us (R^2 {b[1]:.3f}); "
              f"{b[0] / a[0]:.1f}x")
        goals.check(f"{label}: apply time linear in policy size (R^2)",
                    a[1], 0.98, ">=", unit="")


def plots(results, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots (apt-get install "
              "python3-matplotlib)")
        return
    os.makedirs(outdir, exist_ok=True)
    sizes = {"foreign": (0, 1000, 5000, 20000),
             "policy": (0, 100, 250, 500, 1000)}
    series = {
        "nft": [("meshcap (nftables)", "BM_ApplyFirst"),
                ("raw floor", "floor"), ("nft -f", "BM_NftFile")],
        "ipt": [("meshcap (iptables-legacy)", "BM_ApplyFirst"),
                ("kernel floor", "floor"), ("restore pair", "BM_Restore")],
    }
    for axis, xs in sizes.items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for backend in ("nft", "ipt"):
            d = results.get(backend)
            if not d:
                continue
            for label, name in series[backend]:
                if axis == "policy" and name == "floor" and backend == "ipt":
                    continue
                ys = []
                for x in xs:
                    key = (f"BM_ApplyFirst/foreign:{x}/policy:0"
                           if axis == "foreign" else
                           f"BM_ApplyFirst/foreign:0/policy:{x}")
                    if name != "floor":
                        key = key.replace("BM_ApplyFirst", name)
                    v = d.get(key, {})
                    ys.append((v.get("floor_us") if name == "floor"
                               else v.get("us")))
                if all(y is not None for y in ys):
                    ax.plot(xs, [y / 1000 for y in ys], marker="o",
                            label=label)
        ax.set_xlabel("foreign rules" if axis == "foreign" else
                      "extra excluded CIDRs and ports (3 rules each)")
        ax.set_ylabel("ms (median)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        ax.set_title("Apply latency against " +
                     ("foreign rules" if axis == "foreign" else "policy size"))
        fig.tight_layout()
        fig.savefig(f"{outdir}/latency-vs-{axis}.png", dpi=110)
        plt.close(fig)
    p = results.get("process")
    if p:
        names = ["meshcap-nft-first", "meshcap-nft-reapply",
                 "meshcap-legacy-first", "meshcap-legacy-reapply",
                 "meshcap-iptnft-first", "meshcap-iptnft-reapply",
                 "istio-iptables-name", "restore-pair", "nft-restore-pair",
                 "nft-f"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        vals = [p["net_ms"][n] for n in names]
        colors = ["#2a7ab9"] * 7 + ["#999999"] * 3
        ax.barh(names[::-1], vals[::-1], color=colors[::-1])
        for i, v in enumerate(vals[::-1]):
            ax.text(v, i, f" {v:.2f}", va="center")
        ax.set_xlabel("ms, median, net of a fresh namespace's `true`")
        ax.set_title("Whole process, fresh network namespace")
        fig.tight_layout()
        fig.savefig(f"{outdir}/whole-process.png", dpi=110)
        plt.close(fig)
    print(f"\nplots in {outdir}/")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--plots", default="docs/perf")
    ap.add_argument("--only", choices=["process", "nft", "ipt", "iptnft"])
    ap.add_argument("--json", help="the raw medians (default: "
                    "PLOTS/report.json)")
    args = ap.parse_args()
    # What this run printed and measured goes beside its plots, so that
    # docs/perf/README.md's numbers can be traced to a run.
    os.makedirs(args.plots, exist_ok=True)
    if args.json is None:
        args.json = f"{args.plots}/report.json"
    sys.stdout = Tee(sys.stdout, open(f"{args.plots}/report.md", "w"))
    results, goals = {}, Goals()
    if args.only in (None, "process"):
        results["process"] = process(args.build, args.runs)
        report_process(results["process"], goals)
    if args.only in (None, "nft"):
        results["nft"] = gbench(f"{args.build}/bench/nft_apply_benchmark",
                                args.reps)
        report_nft(results["nft"], goals)
    if args.only in (None, "ipt"):
        results["ipt"] = gbench(f"{args.build}/bench/ipt_apply_benchmark",
                                args.reps)
        report_ipt(results["ipt"], goals)
    if args.only in (None, "iptnft"):
        results["iptnft"] = gbench(
            f"{args.build}/bench/iptnft_apply_benchmark", args.reps)
        report_iptnft(results["iptnft"], goals)
    print("\nGoals\n")
    print("\n".join(goals.lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    plots(results, args.plots)
    return 1 if goals.missed else 0


if __name__ == "__main__":
    sys.exit(main())
