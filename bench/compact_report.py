#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""CompactLists, measured in one run: what a long list costs a new
connection (bench/conn_cost_benchmark, linear and compact forms, every
backend) and what applying it costs (bench/compact_apply_benchmark).

Prints markdown (the tables docs/perf/README.md quotes, each goal of issue
23 with its measured value) and writes the plot of per-connection cost
against list length as an SVG.

  sudo bench/compact_report.py [--build build] [--svg docs/perf/compact-lists.svg]
                               [--rounds 3] [--connections 1000]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

LENGTHS = ["0", "10", "100", "300", "1000", "3000", "10000"]
BACKENDS = ["nftables", "nftables+compact", "iptables-nft", "iptables-legacy"]


def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def conn_cost(build, rounds, connections):
    out = run([os.path.join(build, "bench/conn_cost_benchmark"),
               "--lengths=" + ",".join(LENGTHS + ["10000:1000"]),
               "--backends=" + ",".join(BACKENDS),
               f"--rounds={rounds}", f"--connections={connections}"])
    cells = {}
    for line in out.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if len(parts) < 3 or parts[0] in ("backend", "---"):
            continue
        try:
            cells[(parts[0], parts[1])] = float(parts[2])
        except ValueError:
            pass
    return out, cells


def apply_cost(build):
    out = run([os.path.join(build, "bench/compact_apply_benchmark"),
               "--benchmark_format=json", "--benchmark_repetitions=5",
               "--benchmark_min_time=0.5"])
    doc = json.loads(out)
    by = {}
    for b in doc["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        by.setdefault(b["run_name"], []).append(b)
    med = {}
    for name, runs in by.items():
        unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9}[runs[0]["time_unit"]]
        med[name] = {
            "real_ms": statistics.median(r["real_time"] * unit * 1e3
                                         for r in runs),
            "cpu_ms": statistics.median(r["cpu_time"] * unit * 1e3
                                        for r in runs),
        }
        for counter in ("kernel_kib", "generations"):
            if counter in runs[0]:
                med[name][counter] = statistics.median(r[counter]
                                                       for r in runs)
    return med


def svg_plot(cells, path):
    """Per-connection cost against list length: one line per form."""
    w, h, left, right, top, bottom = 720, 420, 70, 190, 30, 50
    xs = [int(n) for n in LENGTHS]
    ys = [v for (b, n), v in cells.items() if n in LENGTHS]
    ymax = max(ys) * 1.1

    def x(n):  # 0 at the left, then log10 from 10
        pos = 0 if n == 0 else math.log10(n)
        return left + pos / 4 * (w - left - right)

    def y(v):
        return h - bottom - v / ymax * (h - top - bottom)

    colors = {"nftables": "#d62728", "nftables+compact": "#2ca02c",
              "iptables-nft": "#ff7f0e", "iptables-legacy": "#1f77b4"}
    label = {"nftables": "nftables (Istio's form)",
             "nftables+compact": "nftables, CompactLists",
             "iptables-nft": "iptables-nft (Istio's form)",
             "iptables-legacy": "iptables-legacy (Istio's form)"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" '
           f'height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">A new captured '
           f'connection\'s connect() against excluded ranges</text>']
    for n in xs:
        out.append(f'<line x1="{x(n):.1f}" y1="{h - bottom}" x2="{x(n):.1f}"'
                   f' y2="{top}" stroke="#eee"/>')
        out.append(f'<text x="{x(n):.1f}" y="{h - bottom + 16}" '
                   f'text-anchor="middle">{n:,}</text>')
    step = 10 ** math.floor(math.log10(ymax / 5))
    step = step * (5 if ymax / step > 25 else 2 if ymax / step > 10 else 1)
    v = 0.0
    while v <= ymax:
        out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{w - right}" '
                   f'y2="{y(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" '
                   f'text-anchor="end">{v:g}</text>')
        v += step
    out.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" '
               f'text-anchor="middle">excluded /32 ranges (N)</text>')
    out.append(f'<text x="16" y="{(top + h - bottom) / 2}" '
               f'transform="rotate(-90 16 {(top + h - bottom) / 2})" '
               f'text-anchor="middle">connect(), µs (median)</text>')
    for i, b in enumerate(BACKENDS):
        pts = [(x(int(n)), y(cells[(b, n)])) for n in LENGTHS
               if (b, n) in cells]
        if not pts:
            continue
        out.append('<polyline fill="none" stroke-width="2" stroke="'
                   + colors[b] + '" points="'
                   + " ".join(f"{px:.1f},{py:.1f}" for px, py in pts) + '"/>')
        for px, py in pts:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" '
                       f'fill="{colors[b]}"/>')
        ly = top + 20 + 20 * i
        out.append(f'<line x1="{w - right + 10}" y1="{ly}" '
                   f'x2="{w - right + 30}" y2="{ly}" stroke="{colors[b]}" '
                   f'stroke-width="2"/>')
        out.append(f'<text x="{w - right + 35}" y="{ly + 4}" '
                   f'font-size="11">{label[b]}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--svg", default="docs/perf/compact-lists.svg")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=1000)
    a = ap.parse_args()
    table, cells = conn_cost(a.build, a.rounds, a.connections)
    apply = apply_cost(a.build)
    svg_plot(cells, a.svg)
    print(table)
    base = cells[("nftables+compact", "0")]
    lin_base = cells[("nftables", "0")]
    both = cells[("nftables+compact", "10000:1000")]
    lin_both = cells[("nftables", "10000:1000")]
    ap0 = apply["BM_Apply/compact:0"]
    ap1 = apply["BM_Apply/compact:1"]
    one = apply["BM_OneCidr/compact:1"]
    one0 = apply["BM_OneCidr/compact:0"]
    noop = apply["BM_Noop/compact:1"]
    print("| goal | measured |")
    print("| --- | --- |")
    print(f"| new connection, 10,000 ranges + 1,000 ports, compact, vs none: "
          f"at most 1.10x | {both / base:.2f}x ({both:.1f} µs against "
          f"{base:.1f}); Istio's form {lin_both / lin_base:.2f}x |")
    print(f"| apply of that policy, compact vs linear: at most 0.25x | "
          f"{ap1['real_ms'] / ap0['real_ms']:.2f}x ({ap1['real_ms']:.1f} ms "
          f"against {ap0['real_ms']:.1f} ms; CPU {ap1['cpu_ms']:.1f} against "
          f"{ap0['cpu_ms']:.1f}) |")
    print(f"| one-range change, compact: at most 2 ms | "
          f"{one['real_ms']:.2f} ms (linear form: {one0['real_ms']:.1f} ms) |")
    print(f"| no-op re-apply sends nothing | generation moved by "
          f"{noop.get('generations', float('nan')):g} "
          f"({noop['real_ms'] * 1000:.0f} µs) |")
    if "kernel_kib" in ap0 and "kernel_kib" in ap1:
        print(f"| kernel memory of the ruleset (memcg kmem) | compact "
              f"{ap1['kernel_kib'] / 1024:.1f} MiB, linear "
              f"{ap0['kernel_kib'] / 1024:.1f} MiB "
              f"({ap1['kernel_kib'] / ap0['kernel_kib']:.2f}x) |")
    print(f"\nplot: {a.svg}")


if __name__ == "__main__":
    main()
