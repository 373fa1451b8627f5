#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The cost of the bindings: nftables apply through C++, C, Python and Go.

    python3 bench/bindings_ratios.py [BUILD_DIR] [--rounds N]
                                     [--iterations N] [--warmup N]

Runs the same loop in each language (bench/bindings_apply_cxx.cc,
bench/bindings_apply_c.c, bench/bindings_apply.py,
bindings/go/internal/applybench) for two cases:

  first    a full apply of the istio-init policy into a namespace without
           meshcap's tables (the clean before it is not timed);
  reapply  a no-op apply of the same policy over itself (the kernel is
           read and compared, nothing is sent).

Every run is a fresh process in a fresh network namespace (`unshare -n`;
needs root). The languages take turns within each round, so that a noisy
machine weighs on all of them alike; medians are over all samples of all
rounds. Prints the medians, each binding's ratio to C++ and its per-call
overhead, and exits 1 if Python or Go costs more than 10% over C++.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

GOAL = 1.10
APIS = ("c++", "c", "python", "go")
CASES = ("first", "reapply")


def commands(build, source):
    py = os.path.join(build, "bindings", "python")
    lib = os.path.join(build, "bindings", "c")
    return {
        "c++": ([os.path.join(build, "bindings", "bindings_apply_cxx")], {}),
        "c": ([os.path.join(build, "bindings", "bindings_apply_c")], {}),
        "python": ([sys.executable,
                    os.path.join(source, "bench", "bindings_apply.py")],
                   {"PYTHONPATH": py, "PYTHONDONTWRITEBYTECODE": "1"}),
        "go": ([os.path.join(build, "bindings", "go", "applybench")],
               {"LD_LIBRARY_PATH": lib}),
    }


def build_go(build, source):
    out = os.path.join(build, "bindings", "go", "applybench")
    subprocess.run(
        ["sh", os.path.join(source, "bindings", "go", "go_test.sh"), build,
         os.path.join(source, "bindings", "go"), "build", "-o", out,
         "./internal/applybench"], check=True)


def run(argv, env, case, iterations, warmup, state_dir):
    wrapper = ["unshare", "-n", "sh", "-c",
               'ip link set lo up && exec "$@"', "netns"]
    full_env = dict(os.environ, MESHCAP_STATE_DIR=state_dir, **env)
    out = subprocess.run(wrapper + argv + [case, str(iterations),
                                           str(warmup)],
                         env=full_env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["samples_us"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.dirname(here)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?",
                        default=os.path.join(source, "build"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    build = os.path.abspath(args.build)

    if subprocess.run(["unshare", "-n", "true"],
                      capture_output=True).returncode != 0:
        print("bindings_ratios: cannot create a network namespace: "
              "run as root")
        return 77
    build_go(build, source)
    progs = commands(build, source)
    samples = {(a, c): [] for a in APIS for c in CASES}
    with tempfile.TemporaryDirectory() as state_dir:
        for r in range(args.rounds):
            order = APIS[r % len(APIS):] + APIS[:r % len(APIS)]
            for case in CASES:
                for api in order:
                    argv, env = progs[api]
                    samples[(api, case)] += run(argv, env, case,
                                                args.iterations, args.warmup,
                                                state_dir)

    med = {k: statistics.median(v) for k, v in samples.items()}
    n = args.rounds * args.iterations
    print(f"nftables apply of the istio-init policy, medians of {n} calls "
          f"each ({args.rounds} rounds x {args.iterations}, "
          f"{args.warmup} warm-up calls per run), microseconds\n")
    print(f"{'case':<10}" + "".join(f"{a:>10}" for a in APIS))
    for case in CASES:
        print(f"{case:<10}" + "".join(f"{med[(a, case)]:>10.1f}"
                                      for a in APIS))
    print()
    ok = True
    for case in CASES:
        base = med[("c++", case)]
        for api in APIS[1:]:
            ratio = med[(api, case)] / base
            overhead = med[(api, case)] - base
            goal = api in ("python", "go")
            met = ratio <= GOAL
            ok &= met or not goal
            verdict = (f"(goal <= {GOAL:.2f}x: {'met' if met else 'NOT met'})"
                       if goal else "")
            print(f"{case:<8} {api:>6} / c++ {ratio:6.3f}x  "
                  f"{overhead:+7.1f} us per call  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
