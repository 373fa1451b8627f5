#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Self-test of the Kubernetes API stand-in (standin.py).

Clients are Python's urllib with the stand-in's CA (hostname checked) and
curl; checks the objects served against the fixtures, the fixtures
against the istio-cni cases they stand for, the token check, 404/405
Status objects, TLS with the right and a wrong CA, every fault mode, every
kubeconfig variant as a client would read it, the request log, and the
command line (ready file, SIGTERM). One line per check; exit 0 when all
pass, 1 otherwise. Needs no root and no network but 127.0.0.1.
"""

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import standin  # noqa: E402

FIXTURES = os.path.join(HERE, 'fixtures', 'pods.json')
POD = '/api/v1/namespaces/mesh/pods/basic'


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what, detail=''):
        self.passed += bool(ok)
        self.failed += not ok
        print('%s: %s%s' % ('PASS' if ok else 'FAIL', what,
                            ': ' + str(detail) if detail else ''))
        sys.stdout.flush()
        return ok


def get(url, token=None, cafile=None, insecure=False, timeout=5,
        method='GET'):
    """(status, parsed JSON body) of one request on a new connection;
    raises on TLS and connection errors."""
    if insecure:
        context = ssl._create_unverified_context()
    else:
        context = ssl.create_default_context(cafile=cafile)
    headers = {'Authorization': 'Bearer ' + token} if token else {}
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, context=context,
                                    timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def error_of(f):
    """The exception f raises, or None."""
    try:
        f()
    except Exception as e:  # noqa: B902 - any failure is the answer
        return e
    return None


def read_kubeconfig(path):
    """What a client takes from one of our kubeconfigs: server, CA (file
    or data), token (or token file), insecure. Enough YAML for our own
    layout; the real consumers use real parsers."""
    with open(path) as f:
        text = f.read()

    def field(name):
        m = re.search(r'^\s+%s: (.*)$' % re.escape(name), text, re.M)
        return m.group(1).strip().strip('"') if m else None
    return {'server': field('server'),
            'ca_data': field('certificate-authority-data'),
            'ca_file': field('certificate-authority'),
            'token': field('token'), 'token_file': field('tokenFile'),
            'insecure': field('insecure-skip-tls-verify') == 'true'}


def get_with_kubeconfig(path, api_path, tmp):
    """A request as a client configured by the kubeconfig at path."""
    kc = read_kubeconfig(path)
    cafile = kc['ca_file']
    if kc['ca_data']:
        import base64
        cafile = os.path.join(tmp, 'ca-from-' + os.path.basename(path))
        with open(cafile, 'wb') as f:
            f.write(base64.b64decode(kc['ca_data']))
    token = kc['token']
    # Istio's installer writes https://[HOST]:PORT even for IPv4; Go's
    # net/url takes it, but Python's urllib ("An IPv4 address cannot be in
    # brackets") and curl 7.88 ("bad range in URL") refuse it: a client
    # drops the brackets around an IPv4 address first, as here.
    server = re.sub(r'^(https://)\[(\d+\.\d+\.\d+\.\d+)\]', r'\1\2',
                    kc['server'])
    if kc['token_file']:
        with open(kc['token_file']) as f:
            token = f.read().strip()
    return get(server + api_path, token, cafile, kc['insecure'])


def check_fixtures(checks, fixtures):
    """The fixtures are the istio-cni cases they claim to be."""
    pods = {(p['metadata']['namespace'], p['metadata']['name']): p
            for p in fixtures['pods']}

    def containers(p):
        return {c['name']: c for c in p['spec'].get('containers', [])}

    def env(c):
        return {e['name']: e.get('value') for e in c.get('env', [])}
    rules = {
        'basic': lambda p: True,
        'include-exclude-ip': lambda p: p['metadata']['annotations'][
            'traffic.sidecar.istio.io/includeOutboundIPRanges'] ==
        '127.0.0.0/8',
        'include-exclude-ports': lambda p: p['metadata']['annotations'][
            'traffic.sidecar.istio.io/excludeOutboundPorts'] == '5555,6666',
        'tproxy': lambda p: p['metadata']['annotations'][
            'sidecar.istio.io/interceptionMode'] == 'TPROXY',
        'dns': lambda p: env(containers(p)['istio-proxy'])[
            'ISTIO_META_DNS_CAPTURE'] == 'true',
        'custom-uid': lambda p: containers(p)['istio-proxy'][
            'securityContext'] == {'runAsUser': 1000670000,
                                   'runAsGroup': 1000670001},
        'no-status-annotation': lambda p: 'sidecar.istio.io/status' not in
        p['metadata']['annotations'],
        'no-istio-proxy': lambda p: 'istio-proxy' not in containers(p),
        'istio-init': lambda p: [c['name'] for c in p['spec'][
            'initContainers']] == ['istio-init'],
        'inject-annotation-false': lambda p: p['metadata']['annotations'][
            'sidecar.istio.io/inject'] == 'false',
        'inject-label-false': lambda p: p['metadata']['labels'][
            'sidecar.istio.io/inject'] == 'false' and p['metadata'][
            'annotations']['sidecar.istio.io/inject'] == 'true',
        'disable-envoy': lambda p: env(containers(p)['istio-proxy'])[
            'DISABLE_ENVOY'] == 'true',
        'proxy-router': lambda p: containers(p)['istio-proxy']['args'][
            :2] == ['proxy', 'router'],
    }
    names = [c['name'] for c in fixtures['cases']]
    checks.check(sorted(names) == sorted(rules) and
                 len(pods) == len(names),
                 'fixtures: one pod per case, the 6 captured and 7 left '
                 'alone', ', '.join(names))
    bad = []
    for case in fixtures['cases']:
        p = pods.get((case['namespace'], case['name']))
        if p is None:
            bad.append(case['name'] + ' (no pod)')
            continue
        captured = case['expect'] == 'captured'
        c = containers(p)
        # Everything but the one difference that leaves it alone.
        base_ok = (
            (case['name'] == 'no-status-annotation') !=
            ('sidecar.istio.io/status' in p['metadata']['annotations']) and
            (case['name'] == 'no-istio-proxy') != ('istio-proxy' in c) and
            ('test' in c) and
            (case['name'] == 'no-istio-proxy' or (
                'istio-validate' in c and
                c['istio-proxy']['args'][0] == 'proxy')))
        if not (base_ok and rules[case['name']](p) and
                captured == ('golden' in case)):
            bad.append(case['name'])
    checks.check(not bad, 'fixtures: each pod is its case (status '
                 'annotation, test/istio-proxy/istio-validate, the '
                 'difference)', ', '.join(bad))


def main():
    checks = Checks()
    started = time.monotonic()
    with open(FIXTURES) as f:
        fixtures = json.load(f)
    check_fixtures(checks, fixtures)
    tmp = tempfile.mkdtemp(prefix='meshcap-standin-test-')
    try:
        # A per-path fault from the fixtures, beside the real ones.
        fixtures['faults'] = {'/api/v1/namespaces/mesh/pods/dns':
                              {'fail_first': 1}}
        s = standin.StandIn(fixtures)
        with s:
            run_server_checks(checks, s, fixtures, tmp)
        checks.check(s.workdir is None, 'stop() removed the work '
                     'directory')
        run_cli_checks(checks, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('standin_test: %.1f s' % (time.monotonic() - started))
    print('%d passed, %d failed' % (checks.passed, checks.failed))
    return 0 if checks.failed == 0 else 1


def run_server_checks(checks, s, fixtures, tmp):
    url, token, ca = s.url, s.token, s.ca_file
    checks.check(s.events(None) == [], 'a fresh server has logged nothing')
    dns = '/api/v1/namespaces/mesh/pods/dns'
    codes = [get(url + dns, token, ca)[0], get(url + POD, token, ca)[0],
             get(url + dns, token, ca)[0]]
    checks.check(codes == [503, 200, 200],
                 'a per-path fault from the fixtures (fail_first 1 on '
                 'pods/dns): that path only', codes)

    # Certificates.
    done = subprocess.run(['openssl', 'verify', '-CAfile', ca,
                           os.path.join(s.workdir, 'server.crt')],
                          capture_output=True, text=True)
    text = subprocess.run(['openssl', 'x509', '-noout', '-ext',
                           'subjectAltName', '-in',
                           os.path.join(s.workdir, 'server.crt')],
                          capture_output=True, text=True).stdout
    checks.check(done.returncode == 0 and 'IP Address:127.0.0.1' in text,
                 'the server certificate: signed by the CA, SAN IP:127.0.0.1',
                 ' '.join(text.split()[1:]))

    # Every object, as in the fixtures.
    wrong = [p['metadata']['name'] for p in fixtures['pods']
             if get(url + '/api/v1/namespaces/%s/pods/%s' % (
                 p['metadata']['namespace'], p['metadata']['name']),
                 token, ca) != (200, p)]
    checks.check(not wrong, 'GET every fixture pod: 200, the object',
                 ', '.join(wrong) or '%d pods' % len(fixtures['pods']))
    wrong = [n['metadata']['name'] for n in fixtures['namespaces']
             if get(url + '/api/v1/namespaces/' + n['metadata']['name'],
                    token, ca) != (200, n)]
    checks.check(not wrong, 'GET every fixture namespace: 200, the object',
                 ', '.join(wrong))
    code, body = get(url + POD + '?resourceVersion=0', token, ca)
    checks.check(code == 200 and body['kind'] == 'Pod',
                 'a query string is ignored')

    # 404, 405, 401.
    code, body = get(url + '/api/v1/namespaces/mesh/pods/nope', token, ca)
    checks.check(code == 404 and body['kind'] == 'Status' and
                 body['reason'] == 'NotFound' and
                 body['message'] == 'pods "nope" not found' and
                 body['details'] == {'name': 'nope', 'kind': 'pods'},
                 'unknown pod: 404 Status NotFound', body.get('message'))
    code, body = get(url + '/api/v1/namespaces/nope', token, ca)
    checks.check(code == 404 and body['message'] ==
                 'namespaces "nope" not found', 'unknown namespace: 404',
                 body.get('message'))
    code, body = get(url + '/apis/apps/v1/deployments', token, ca)
    checks.check(code == 404 and body['kind'] == 'Status',
                 'unknown path: 404 Status')
    code, body = get(url + POD, token, ca, method='DELETE')
    checks.check(code == 405 and body['reason'] == 'MethodNotAllowed',
                 'DELETE: 405 Status')
    s.clear_log()
    missing = get(url + POD, None, ca)
    bad = get(url + POD, 'not-the-token', ca)
    checks.check(missing[0] == bad[0] == 401 and
                 missing[1]['reason'] == 'Unauthorized',
                 'no token, a wrong token: 401 Status Unauthorized')
    log = s.events()
    checks.check([(e['method'], e['path'], e['auth'], e['status'])
                  for e in log] ==
                 [('GET', POD, 'missing', 401), ('GET', POD, 'bad', 401)],
                 'the request log: method, path, auth, status', log)

    # TLS.
    s.clear_log()
    err = error_of(lambda: get(url + POD, token, s.other_ca_file))
    # The server logs the failed handshake in its own thread.
    deadline = time.monotonic() + 2
    while not s.events('tls-error') and time.monotonic() < deadline:
        time.sleep(0.01)
    checks.check(isinstance(getattr(err, 'reason', err),
                            ssl.SSLCertVerificationError) and
                 s.events() == [] and len(s.events('tls-error')) == 1,
                 'a client trusting another CA: verification fails, no '
                 'request logged, one tls-error', repr(err))
    code, _ = get(url + POD, token, insecure=True)
    checks.check(code == 200, 'a client that skips verification: 200')
    if shutil.which('curl'):
        done = subprocess.run(
            ['curl', '-sS', '--max-time', '5', '--cacert', ca, '-H',
             'Authorization: Bearer ' + token, '-w', '\n%{http_code}',
             url + POD], capture_output=True, text=True, timeout=10)
        checks.check(done.stdout.endswith('\n200') and
                     json.loads(done.stdout.rsplit('\n', 1)[0])[
                         'metadata']['name'] == 'basic',
                     'curl --cacert with the token: 200, the pod',
                     done.stderr.strip())

    run_fault_checks(checks, s)

    # Kubeconfig variants, read as a client reads them.
    results = {}
    for variant, path in sorted(s.kubeconfigs.items()):
        try:
            results[variant] = get_with_kubeconfig(path, POD, tmp)[0]
        except Exception as e:  # noqa: B902
            results[variant] = type(getattr(e, 'reason', e)).__name__
    want = {'ca-data': 200, 'ca-file': 200, 'token-file': 200,
            'insecure': 200, 'istio': 200, 'bad-token': 401,
            'wrong-ca': 'SSLCertVerificationError'}
    checks.check(results == want, 'kubeconfig variants as clients',
                 results)
    kc = read_kubeconfig(s.kubeconfigs['istio'])
    with open(s.kubeconfigs['istio']) as f:
        first = f.readline()
    checks.check(kc['server'] == 'https://[127.0.0.1]:%d' % s.port and
                 first.startswith('# Kubeconfig file for Istio CNI') and
                 kc['token'] == token,
                 'the istio variant: Istio\'s template (bracketed host)',
                 kc['server'])
    kc = read_kubeconfig(s.kubeconfig)
    checks.check(kc['server'] == 'https://127.0.0.1:%d' % s.port and
                 kc['ca_data'] and kc['token'] == token,
                 'the default kubeconfig: server, CA data, token',
                 kc['server'])


def run_fault_checks(checks, s):
    url, token, ca = s.url, s.token, s.ca_file

    s.set_fault(status=503)
    answers = [get(url + POD, token, ca) for _ in range(3)]
    checks.check([a[0] for a in answers] == [503] * 3 and
                 answers[0][1]['reason'] == 'ServiceUnavailable',
                 'fault status 503: every request 503 ServiceUnavailable')

    s.set_fault(fail_first=2)
    codes = [get(url + POD, token, ca)[0] for _ in range(4)]
    checks.check(codes == [503, 503, 200, 200],
                 'fault fail_first 2: 503, 503, then 200', codes)

    s.set_fault(delay_ms=300)
    t0 = time.monotonic()
    code = get(url + POD, token, ca)[0]
    took = time.monotonic() - t0
    checks.check(code == 200 and took >= 0.3, 'fault delay_ms 300: 200 '
                 'after the delay', '%.0f ms' % (1000 * took))
    s.clear_log()
    err = error_of(lambda: get(url + POD, token, ca, timeout=0.1))
    checks.check(err is not None and len(s.events()) == 1,
                 'fault delay_ms 300, client timeout 100 ms: the client '
                 'times out, the request is logged', repr(err))
    time.sleep(0.3)

    s.set_fault(close=True)
    s.clear_log()
    errs = [error_of(lambda: get(url + POD, token, ca)) for _ in range(2)]
    checks.check(all(errs) and [e['status'] for e in s.events()] ==
                 ['closed'] * 2, 'fault close: no answer, the connection '
                 'closed (logged "closed")', repr(errs[0]))

    s.set_fault(close_first=1)
    first = error_of(lambda: get(url + POD, token, ca))
    code = get(url + POD, token, ca)[0]
    checks.check(first is not None and code == 200,
                 'fault close_first 1: closed, then 200', repr(first))

    dns = '/api/v1/namespaces/mesh/pods/dns'
    s.set_fault()
    s.set_fault(POD, status=500)
    codes = [get(url + POD, token, ca)[0], get(url + dns, token, ca)[0]]
    s.set_fault(POD)
    checks.check(codes == [500, 200], 'set_fault(path, status=500): that '
                 'path only', codes)


def run_cli_checks(checks, tmp):
    ready = os.path.join(tmp, 'ready.json')
    log = os.path.join(tmp, 'cli-requests.log')
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, 'standin.py'), '--fixtures',
         FIXTURES, '--port', '0', '--ready-file', ready, '--fail-first',
         '1', '--log', log], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(ready) and time.monotonic() < deadline \
                and proc.poll() is None:
            time.sleep(0.02)
        with open(ready) as f:
            info = json.load(f)
        checks.check(info['port'] > 0 and os.path.exists(info['kubeconfig'])
                     and set(info['kubeconfigs']) ==
                     set(standin.KUBECONFIG_VARIANTS),
                     'command line: the ready file names the port and the '
                     'kubeconfigs', 'port %d' % info['port'])
        codes = [get(info['url'] + POD, info['token'], info['ca'])[0]
                 for _ in range(2)]
        with open(log) as f:
            logged = [json.loads(line)['status'] for line in f]
        checks.check(codes == [503, 200] and logged == [503, 200],
                     'command line --fail-first 1: 503, then 200; --log',
                     codes)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        checks.check(code == 0 and not os.path.exists(
            os.path.dirname(info['kubeconfig'])),
            'command line: SIGTERM ends it (exit 0), its temporary '
            'directory removed', 'exit %s' % code)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == '__main__':
    sys.exit(main())
