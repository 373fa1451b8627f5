#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meshcap-cni under a real containerd 1.6, driven over CRI as kubelet
drives it (cri_harness.py).

The chain is [bridge (host-local, 203.0.113.0/24), meshcap-cni, cri-dump]:
cri-dump (dump_plugin.py) records every call containerd makes and does
nothing else. Three pods (CASES), each with an expectation: "captured" (it
must hold exactly the capture that `meshcap apply` installs in a scratch
namespace with the same policy) or "untouched" (nothing of meshcap's;
SELECTION says how the plugin tells them apart). For each:
RunPodSandbox, the netns path from PodSandboxStatus, the bridge address,
the plugin's log and records, the kernel state, what containerd handed
the plugins (annotations in runtimeConfig, K8S_POD_* in CNI_ARGS); then
StopPodSandbox (DEL with the netns, which we keep alive to look into
afterwards) and RemovePodSandbox (DEL without one), after which nothing of
meshcap's is left: rules in any view, policy routing, state records.
Then, when Istio's golden file is there (--golden; by default
tests/conformance/istio-cni/basic.txt.golden), the captured pod once more
with the iptables-legacy backend, its rules compared with the golden's.

One line per check; exit 0 when all pass, 1 otherwise, 77 without root.
"""

import argparse
import collections
import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cri_harness as harness  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
NETWORK = 'meshnet'
SUBNET_PREFIX = '203.0.113.'
CAPTURED_NAMESPACE = 'shop'
EXCLUDED_NAMESPACE = 'meshcap-excluded'
LOG_FILE = '/run/meshcap-cni.log'           # in the node
DUMP_DIR = '/run/meshcap-dump'              # in the node
ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations'
TIMEOUT = 90  # seconds for the whole run

# Which pods meshcap-cni captures. "annotations": istio-cni's rule, from
# the annotations containerd hands over (the pod's sidecar.istio.io/status
# annotation), every pod in one namespace: meshcap-cni's default
# ("podSelection": "istio"). "namespace": "podSelection": "all", which
# captures every pod whose namespace is not in excludeNamespaces, so an
# "untouched" pod is placed in an excluded namespace.
SELECTION = 'annotations'

# istio-cni's redirect for an injected pod with no annotation of its own
# (Istio's "basic" case: NewRedirect's defaults).
POLICY = {
    'OutboundIPRangesInclude': '*',
    'InboundPortsInclude': '*',
    'InboundPortsExclude': '15020,15021,15090',
    'OutboundPortsExclude': '15020',
}

ISTIO_STATUS = ('{"initContainers":["istio-validation"],'
                '"containers":["istio-proxy"],"volumes":["istio-envoy"],'
                '"imagePullSecrets":null,"revision":"default"}')

PodCase = collections.namedtuple('PodCase',
                                 'name annotations labels expect')

CASES = [
    # What istio's injector leaves on a pod.
    PodCase('injected',
            {'sidecar.istio.io/status': ISTIO_STATUS,
             'kubectl.kubernetes.io/default-container': 'test',
             'prometheus.io/port': '15020'},
            {'app': 'shop', 'security.istio.io/tlsMode': 'istio',
             'service.istio.io/canonical-name': 'shop'},
            'captured'),
    # A pod the injector never saw.
    PodCase('plain', {'example.com/owner': 'team-a'}, {'app': 'plain'},
            'untouched'),
    # One without any annotation: containerd hands over null.
    PodCase('bare', {}, {}, 'untouched'),
]


def namespace_for(case):
    """The pod's namespace under SELECTION."""
    if SELECTION == 'namespace' and case.expect == 'untouched':
        return EXCLUDED_NAMESPACE
    return CAPTURED_NAMESPACE


def conflist(with_meshcap=True, with_dump=True, backend='nftables'):
    """The network: bridge, then meshcap-cni and cri-dump."""
    plugins = [{
        'type': 'bridge', 'bridge': 'mcbr0', 'isGateway': True,
        'isDefaultGateway': True, 'ipMasq': False,
        'ipam': {'type': 'host-local',
                 'ranges': [[{'subnet': SUBNET_PREFIX + '0/24'}]]}}]
    if with_meshcap and SELECTION == 'annotations':
        # istio-cni's policy for each pod: no policy of the node's own.
        plugins.append({
            'type': 'meshcap-cni', 'backend': backend,
            'logLevel': 'debug', 'logFile': LOG_FILE,
            'capabilities': {ANNOTATIONS_CAPABILITY: True}})
    elif with_meshcap:
        plugins.append({
            'type': 'meshcap-cni', 'podSelection': 'all', 'profile': 'sidecar',
            'backend': backend, 'policy': POLICY,
            'excludeNamespaces': [EXCLUDED_NAMESPACE],
            'logLevel': 'debug', 'logFile': LOG_FILE,
            'capabilities': {ANNOTATIONS_CAPABILITY: True}})
    if with_dump:
        plugins.append({'type': 'cri-dump', 'dumpDir': DUMP_DIR,
                        'capabilities': {ANNOTATIONS_CAPABILITY: True}})
    return {'cniVersion': '1.0.0', 'name': NETWORK, 'plugins': plugins}


def expected_state(rt, expect, source='meshcap-apply', cli=None,
                   backend='nftables', golden=None):
    """What a pod's kernel state must be: a pod_state()-like dict whose
    views are those to compare (differences() looks at no other).

    "untouched": every view empty. "captured", by source:
    "meshcap-apply": every view of a scratch network namespace of the node
    after `meshcap apply --backend=BACKEND --policy POLICY`;
    "golden": the iptables-legacy view of a scratch namespace after
    `iptables-legacy-restore GOLDEN` (Istio's golden files are IPv4
    iptables-restore input: only for the iptables-legacy backend, and only
    that view).
    """
    if expect == 'untouched':
        return {view: '' for view in dict(harness.RULESET_VIEWS,
                                          **harness.ROUTING_VIEWS)}
    if source == 'meshcap-apply':
        policy = os.path.join(rt.workdir, 'policy.json')
        with open(policy, 'w') as f:
            json.dump(POLICY, f)
        return rt.scratch_state([cli, 'apply', '--backend=' + backend,
                                 '--policy', policy])
    if source == 'golden':
        state = rt.scratch_state(['iptables-legacy-restore', golden])
        return {'iptables-legacy': state['iptables-legacy']}
    raise ValueError('unknown expected-state source ' + source)


def differences(actual, expected):
    """How pod_state() actual departs from expected in expected's views:
    a list of readable differences."""
    out = []
    got = harness.rules_in({v: t for v, t in actual.items()
                            if v in expected})
    want = harness.rules_in(expected)
    for view in sorted(set(got) | set(want)):
        if got.get(view) != want.get(view):
            out.append('%s: got\n%s\nwant\n%s' % (
                view, got.get(view, '(nothing)'), want.get(view, '(nothing)')))
    if set(harness.ROUTING_VIEWS) <= set(expected):
        got = harness.policy_routing(actual)
        want = harness.policy_routing(expected)
        if got != want:
            out.append('policy routing: got %s, want %s' % (got, want))
    return out


class Checks:
    """Prints one line per check and counts them."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what, detail=''):
        if ok:
            self.passed += 1
            print('PASS: ' + what + (': ' + detail if detail else ''))
        else:
            self.failed += 1
            print('FAIL: ' + what + (': ' + detail if detail else ''))
        sys.stdout.flush()
        return ok


def dumps(rt):
    """cri-dump's records, oldest first: [(command, record)]."""
    d = rt.node_path(DUMP_DIR)
    out = []
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name)) as f:
            out.append((name.split('-', 1)[1][:-5], json.load(f)))
    return out


def cni_args(record):
    return dict(kv.split('=', 1) for kv in
                record['env'].get('CNI_ARGS', '').split(';') if '=' in kv)


def calls_for(rt, pod_id, command):
    return [r for c, r in dumps(rt)
            if c == command and r['env'].get('CNI_CONTAINERID') == pod_id]


def log_lines(rt, pod_id):
    return [line for line in rt.read_node_file(LOG_FILE).splitlines()
            if pod_id in line]


def run_case(rt, case, args, checks):
    namespace = namespace_for(case)
    uid = 'uid-' + case.name
    t0 = time.monotonic()
    pod_id, netns = rt.run_pod(case.name, namespace, uid, case.annotations,
                               case.labels)
    checks.check(bool(pod_id and netns), '%s: RunPodSandbox' % case.name,
                 'namespace %s, pod %s, netns %s (%.0f ms)' % (
                     namespace, pod_id[:12], netns,
                     1000 * (time.monotonic() - t0)))
    status, _ = rt.pod_status(pod_id)
    addr = rt.node_exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'],
                        netns=netns).stdout
    checks.check(status.network.ip.startswith(SUBNET_PREFIX) and
                 (' %s/24 ' % status.network.ip) in addr,
                 '%s: the bridge address' % case.name,
                 'CRI says %s; eth0: %s' % (status.network.ip,
                                            ' '.join(addr.split()[3:4])))

    # The plugin ran: its log names the sandbox, and a captured pod has
    # its record under $MESHCAP_STATE_DIR.
    lines = log_lines(rt, pod_id)
    want = 'applied (' if case.expect == 'captured' else 'left alone'
    checks.check(any(want in line for line in lines),
                 '%s: meshcap-cni ADD ran (log says "%s")' % (case.name,
                                                              want),
                 lines[-1] if lines else 'no log line names the pod')
    records = rt.state_files()
    checks.check(bool(records) == (case.expect == 'captured'),
                 '%s: state records %s' % (
                     case.name, 'present' if case.expect == 'captured'
                     else 'absent'), ', '.join(records) or '(none)')

    # The kernel state.
    state = rt.pod_state(netns)
    diff = differences(state, expected_state(rt, case.expect, cli=args.cli))
    checks.check(not diff, '%s: kernel state is %s' % (case.name,
                                                       case.expect),
                 '\n'.join(diff) or ', '.join(
                     '%s %d lines' % (v, len(t.splitlines())) for v, t in
                     harness.rules_in(state).items()) or 'no rules')

    # What containerd handed the chain.
    adds = calls_for(rt, pod_id, 'ADD')
    conf = adds[0]['config'] if adds else {}
    handed = conf.get('runtimeConfig', {}).get(ANNOTATIONS_CAPABILITY)
    # (containerd 1.6 sends null, not {}, for a pod without annotations.)
    checks.check(len(adds) == 1 and handed == (case.annotations or None),
                 '%s: runtimeConfig["%s"] is the pod\'s annotations' % (
                     case.name, ANNOTATIONS_CAPABILITY),
                 json.dumps(handed, sort_keys=True))
    got = cni_args(adds[0]) if adds else {}
    want = {'K8S_POD_NAMESPACE': namespace, 'K8S_POD_NAME': case.name,
            'K8S_POD_INFRA_CONTAINER_ID': pod_id, 'K8S_POD_UID': uid}
    checks.check(all(got.get(k) == v for k, v in want.items()),
                 '%s: CNI_ARGS carries K8S_POD_*' % case.name,
                 adds[0]['env'].get('CNI_ARGS', '') if adds else 'no ADD')
    if adds and args.save_stdin and case.expect == 'captured':
        with open(args.save_stdin, 'w') as f:
            f.write(json.dumps(json.loads(adds[0]['stdin']), indent=2) +
                    '\n')

    # StopPodSandbox: DEL with the netns; keep the netns to look inside.
    kept = rt.keep_netns(netns)
    try:
        t0 = time.monotonic()
        rt.stop_pod(pod_id)
        checks.check(True, '%s: StopPodSandbox' % case.name,
                     '%.0f ms' % (1000 * (time.monotonic() - t0)))
        dels = calls_for(rt, pod_id, 'DEL')
        checks.check(len(dels) == 1 and
                     dels[0]['env'].get('CNI_NETNS') == netns,
                     '%s: StopPodSandbox ran DEL with the netns' % case.name,
                     str([d['env'].get('CNI_NETNS') for d in dels]))
        left = differences(rt.pod_state(kept),
                           expected_state(rt, 'untouched'))
        checks.check(not left, '%s: after stop the netns holds nothing of '
                     'meshcap\'s (nft, legacy, iptables-nft, policy '
                     'routing)' % case.name, '\n'.join(left))
    finally:
        rt.release_netns(kept)
    records = rt.state_files()
    checks.check(not records, '%s: after stop no state records' % case.name,
                 ', '.join(records))

    # RemovePodSandbox: DEL without a netns.
    t0 = time.monotonic()
    rt.remove_pod(pod_id)
    checks.check(True, '%s: RemovePodSandbox' % case.name,
                 '%.0f ms' % (1000 * (time.monotonic() - t0)))
    dels = calls_for(rt, pod_id, 'DEL')
    checks.check(len(dels) == 2 and dels[1]['env'].get('CNI_NETNS') == '',
                 '%s: RemovePodSandbox ran DEL without a netns' % case.name,
                 str([d['env'].get('CNI_NETNS') for d in dels]))
    records = rt.state_files()
    checks.check(not records, '%s: after remove no state records' %
                 case.name, ', '.join(records))
    # The plugin's log: one process per DEL, and no error.
    lines = log_lines(rt, pod_id)
    del_runs = {line.split()[1] for line in lines if ' DEL ' in line}
    errors = [line for line in lines if line.split()[2] == 'error']
    checks.check(len(del_runs) == 2 and not errors,
                 '%s: meshcap-cni logged both DELs and no error' % case.name,
                 '\n'.join(errors) or '%d DEL runs' % len(del_runs))


def run_golden(args, checks):
    """The captured case again, with the iptables-legacy backend, against
    Istio's golden file (restored in a scratch namespace)."""
    case = next(c for c in CASES if c.expect == 'captured')
    with harness.Runtime(conflist(with_dump=False,
                                  backend='iptables-legacy'),
                         {'meshcap-cni': args.plugin}) as rt:
        pod_id, netns = rt.run_pod(case.name, namespace_for(case),
                                   'uid-golden', case.annotations,
                                   case.labels)
        diff = differences(rt.pod_state(netns), expected_state(
            rt, 'captured', source='golden', golden=args.golden))
        checks.check(not diff, '%s (iptables-legacy): the pod\'s rules are '
                     'Istio\'s %s' % (case.name,
                                      os.path.basename(args.golden)),
                     '\n'.join(diff))
        kept = rt.keep_netns(netns)
        try:
            rt.stop_pod(pod_id)
            left = differences(rt.pod_state(kept),
                               expected_state(rt, 'untouched'))
        finally:
            rt.release_netns(kept)
        rt.remove_pod(pod_id)
        checks.check(not left and not rt.state_files(),
                     '%s (iptables-legacy): after stop and remove nothing '
                     'of meshcap\'s is left' % case.name, '\n'.join(left))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--plugin', default=os.path.join(
        REPO, 'build', 'src', 'cni', 'meshcap-cni'), help='meshcap-cni')
    parser.add_argument('--cli', default=os.path.join(
        REPO, 'build', 'src', 'cli', 'meshcap'), help='meshcap (the CLI)')
    parser.add_argument('--golden', default=os.path.join(
        REPO, 'tests', 'conformance', 'istio-cni', 'basic.txt.golden'),
        help='Istio\'s golden file for the captured case (iptables-legacy '
        'backend); that check is left out when the file does not exist')
    parser.add_argument('--save-stdin', metavar='FILE',
                        help='write the stdin of the captured pod\'s ADD '
                        '(as containerd sent it, reindented) to FILE')
    args = parser.parse_args()
    if os.geteuid() != 0:
        print('SKIP: needs root (namespaces, containerd, netfilter)')
        return 77
    harness.use_system_python()
    missing = harness.prerequisites()
    missing += [p for p in (args.plugin, args.cli) if not os.access(p,
                                                                    os.X_OK)]
    if missing:
        print('FAIL: missing %s (dev/setup-debian.sh installs the packages; '
              'ninja -C build builds meshcap)' % ', '.join(missing))
        return 1

    def on_alarm(signum, frame):
        raise TimeoutError('the test took more than %d s' % TIMEOUT)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT)

    checks = Checks()
    started = time.monotonic()
    rt = harness.Runtime(conflist(), {
        'meshcap-cni': args.plugin,
        'cri-dump': os.path.join(harness.HERE, 'dump_plugin.py')},
        env={'CRI_DUMP_DIR': DUMP_DIR})  # cri-dump records VERSION too
    try:
        with rt:
            checks.check(True, 'containerd started in its own node',
                         '%.0f ms' % (1000 * rt.timings['ready']))
            v = rt.version()
            checks.check(v.runtime_name == 'containerd' and
                         v.runtime_api_version == 'v1', 'CRI Version',
                         '%s %s, CRI %s' % (v.runtime_name,
                                            v.runtime_version,
                                            v.runtime_api_version))
            for case in CASES:
                run_case(rt, case, args, checks)
            commands = sorted({c for c, _ in dumps(rt)})
            checks.check(set(commands) <= {'ADD', 'DEL'},
                         'containerd called only ADD and DEL',
                         ', '.join(commands))
            if checks.failed:
                print(rt.node_log())
                print('--- meshcap-cni log\n' + rt.read_node_file(LOG_FILE))
        if os.path.exists(args.golden):
            run_golden(args, checks)
        else:
            print('(no %s: the golden check is left out)' % args.golden)
    except Exception as e:  # a failure to run at all is a failed check
        checks.check(False, 'the run', '%s: %s' % (type(e).__name__, e))
        print(rt.node_log() if rt.workdir else '')
    finally:
        signal.alarm(0)
    print('containerd cri_test: %.1f s' % (time.monotonic() - started))
    print('%d passed, %d failed' % (checks.passed, checks.failed))
    return 0 if checks.failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
