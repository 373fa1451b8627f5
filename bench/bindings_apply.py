#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The Python side of bench/bindings_ratios.py: the loop of
bindings_apply_cxx.cc through the meshcap package.

    bindings_apply.py first|reapply ITERATIONS WARMUP
"""

import json
import sys
import time

import meshcap

POLICY = ('{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*", '
          '"InboundPortsExclude": "15090,15021,15020"}')


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("first", "reapply"):
        sys.exit(f"usage: {sys.argv[0]} first|reapply ITERATIONS WARMUP")
    case, iterations, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    first = case == "first"
    policy = meshcap.Policy.from_json(POLICY)
    engine = meshcap.Engine(backend="nftables")
    engine.apply(policy)
    samples = []
    clock = time.perf_counter_ns
    for i in range(warmup + iterations):
        if first:
            engine.clean()
        start = clock()
        result = engine.apply(policy)
        end = clock()
        if result.changed != first:
            sys.exit("bindings_apply.py: apply "
                     f"{'unexpectedly' if result.changed else 'never'} "
                     "changed")
        if i >= warmup:
            samples.append((end - start) / 1000)
    print(json.dumps({"api": "python", "case": case,
                      "samples_us": [round(s, 3) for s in samples]}))


if __name__ == "__main__":
    main()
