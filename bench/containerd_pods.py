#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What meshcap-cni adds to a pod's life under a real containerd 1.6.

    python3 bench/containerd_pods.py [--pods N] [--warmup N]
                                     [--backend nftables|iptables-legacy]
                                     [--plugin PATH]

Two containerd nodes side by side (tests/cni/containerd/cri_harness.py),
one with the chain [bridge] and one with [bridge, meshcap-cni] (Istio's
default sidecar policy). Pods go through RunPodSandbox, StopPodSandbox
and RemovePodSandbox as kubelet sends them, alternating between the nodes
(ABBA order), N pods each after a warm-up. Prints the medians of each call
and of the whole life, in ms, and the difference. Needs root.
"""

import argparse
import os
import statistics
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(REPO, 'tests', 'cni', 'containerd'))
import cri_harness as harness  # noqa: E402

POLICY = {
    'OutboundIPRangesInclude': '*',
    'InboundPortsInclude': '*',
    'InboundPortsExclude': '15020,15021,15090',
    'OutboundPortsExclude': '15020',
}
PHASES = ('run', 'stop', 'remove', 'total')


def conflist(with_meshcap, backend):
    plugins = [{
        'type': 'bridge', 'bridge': 'mcbr0', 'isGateway': True,
        'isDefaultGateway': True, 'ipMasq': False,
        'ipam': {'type': 'host-local',
                 'ranges': [[{'subnet': '203.0.113.0/24'}]]}}]
    if with_meshcap:
        plugins.append({'type': 'meshcap-cni', 'profile': 'sidecar',
                        'backend': backend, 'policy': POLICY,
                        'capabilities': {
                            'io.kubernetes.cri.pod-annotations': True}})
    return {'cniVersion': '1.0.0', 'name': 'benchnet', 'plugins': plugins}


def pod_life(rt, n):
    """One pod's RunPodSandbox, StopPodSandbox, RemovePodSandbox: {phase:
    seconds}."""
    clock = time.perf_counter
    t0 = clock()
    pod_id, _ = rt.run_pod('bench-%d' % n, 'bench', 'uid-bench-%d' % n,
                           {'sidecar.istio.io/status': '{}'})
    t1 = clock()
    rt.stop_pod(pod_id)
    t2 = clock()
    rt.remove_pod(pod_id)
    t3 = clock()
    return {'run': t1 - t0, 'stop': t2 - t1, 'remove': t3 - t2,
            'total': t3 - t0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pods', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--backend', default='nftables',
                        choices=['nftables', 'iptables-legacy', 'auto'])
    parser.add_argument('--plugin', default=os.path.join(
        REPO, 'build', 'src', 'cni', 'meshcap-cni'))
    args = parser.parse_args()
    if os.geteuid() != 0:
        print('SKIP: needs root')
        return 77
    harness.use_system_python()
    missing = harness.prerequisites()
    if not os.access(args.plugin, os.X_OK):
        missing.append(args.plugin)
    if missing:
        print('missing: ' + ', '.join(missing))
        return 1

    names = ['[bridge]', '[bridge, meshcap-cni]']
    nodes = [harness.Runtime(conflist(False, args.backend), {},
                             name='meshcap-bench-a'),
             harness.Runtime(conflist(True, args.backend),
                             {'meshcap-cni': args.plugin},
                             name='meshcap-bench-b')]
    samples = [[], []]
    try:
        for rt in nodes:
            rt.start()
        # The meshcap node really captures: a pod's netns holds rules.
        pod_id, netns = nodes[1].run_pod('probe', 'bench')
        held = harness.rules_in(nodes[1].pod_state(netns))
        nodes[1].stop_pod(pod_id)
        nodes[1].remove_pod(pod_id)
        if not held:
            print('meshcap-cni installed nothing in a pod; not measuring')
            return 1
        version = nodes[0].version()
        for i in range(args.warmup + args.pods):
            order = (0, 1) if i % 4 in (0, 3) else (1, 0)  # ABBA
            for k in order:
                life = pod_life(nodes[k], i)
                if i >= args.warmup:
                    samples[k].append(life)
    finally:
        for rt in nodes:
            rt.stop()

    med = [{p: 1000 * statistics.median(s[p] for s in samples[k])
            for p in PHASES} for k in (0, 1)]
    print('containerd %s, runc, CNI %s; meshcap-cni backend %s; %d pods per '
          'chain, interleaved (ABBA); medians in ms' % (
              version.runtime_version, harness.REFERENCE_PLUGINS,
              args.backend, args.pods))
    print('%-24s %8s %8s %8s %8s   %s' % (('chain',) + PHASES +
                                          ('total p25-p75',)))
    for k in (0, 1):
        q = statistics.quantiles([1000 * s['total'] for s in samples[k]],
                                 n=4)
        print('%-24s %8.2f %8.2f %8.2f %8.2f   %.1f-%.1f' % (
            (names[k],) + tuple(med[k][p] for p in PHASES) + (q[0], q[2])))
    print('%-24s %+8.2f %+8.2f %+8.2f %+8.2f' % (
        ('meshcap-cni adds',) + tuple(med[1][p] - med[0][p]
                                      for p in PHASES)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
