#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A Kubernetes API server stand-in for CNI plugin tests (stdlib only).

Serves, over HTTPS on 127.0.0.1, what a CNI plugin like istio-cni reads:

    GET /api/v1/namespaces/NS/pods/NAME    a Pod from the fixtures
    GET /api/v1/namespaces/NS              a Namespace from the fixtures

as Kubernetes object JSON; anything unknown is a 404 with a Kubernetes
Status object (reason NotFound), another method a 405. Every request needs
`Authorization: Bearer TOKEN` (401 Status otherwise).

Fixtures (JSON): {"pods": [Pod...], "namespaces": [Namespace...],
"faults": {PATH: FAULT}}; other keys are ignored (fixtures/pods.json also
has "cases", the expectations, for tests).

Faults, for every path (command line, or `faults["*"]`) or for one path
(`faults[PATH]`, which wins), applied in this order:
    delay_ms D      answer (or close) D ms late
    close           close the connection without answering
    close_first N   ... for the first N requests of the scope only
    status C        answer every request with Status code C (503:
                    ServiceUnavailable, 429, 500 ...)
    fail_first N    answer the first N requests with 503, then normally
Then the token is checked, then the object is looked up. Counters are per
scope: all paths for the global fault, each path for its own.

Every request is logged, one JSON object a line, to the log file: {"event":
"request", "method", "path", "auth": "ok"|"missing"|"bad", "status": code
or "closed", "delay_ms"}; a failed TLS handshake (a client that distrusts
our CA, say) as {"event": "tls-error", "error"}. So a test can assert that
a client made no API request at all.

At start it makes, with the `openssl` CLI, a CA, a server certificate for
IP:127.0.0.1 (and DNS:localhost) signed by it, and a second CA that signed
nothing; and writes kubeconfigs the way istio-cni's installer does (one
cluster "local", one user "istio-cni" with a token, one context
"istio-cni-context", current-context), in variants:

    ca-data     certificate-authority-data (base64 PEM) and token
    ca-file     certificate-authority: PATH
    token-file  tokenFile: PATH instead of token
    insecure    insecure-skip-tls-verify: true
    wrong-ca    certificate-authority-data of the other CA (mismatch)
    bad-token   a token the server refuses
    istio       Istio's installer template byte for byte: a comment line,
                server https://[127.0.0.1]:PORT (brackets even for IPv4),
                the token in double quotes

Command line:

    standin.py --fixtures F [--port 0] [--ready-file P] [--workdir D]
               [--token T] [--log FILE] [--delay-ms D] [--close]
               [--close-first N] [--status C] [--fail-first N]

writes the ready file (JSON: port, url, kubeconfig, kubeconfigs, ca,
token, token_file, log, pid) once it serves, prints the same line, and
serves until SIGTERM or SIGINT. As a module: `StandIn(fixtures,
...).start()` serves from a thread; `stop()`; or use it as a context
manager.
"""

import argparse
import base64
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

FAULT_KEYS = ('delay_ms', 'close', 'close_first', 'status', 'fail_first')
KUBECONFIG_VARIANTS = ('ca-data', 'ca-file', 'token-file', 'insecure',
                       'wrong-ca', 'bad-token', 'istio')
REASONS = {400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden',
           404: 'NotFound', 405: 'MethodNotAllowed', 429: 'TooManyRequests',
           500: 'InternalError', 503: 'ServiceUnavailable',
           504: 'Timeout'}


def status_object(code, message, details=None):
    """A Kubernetes Status object (metav1.Status) for an error."""
    status = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
              'status': 'Failure', 'message': message,
              'reason': REASONS.get(code, 'Unknown'), 'code': code}
    if details:
        status['details'] = details
    return status


def _openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def make_certificates(directory):
    """A CA (ca.crt, ca.key), a server certificate it signed for
    IP:127.0.0.1 and DNS:localhost (server.crt, server.key), and another
    CA (other-ca.crt) that signed nothing. P-256 keys, valid for 2 days."""
    for name in ('ca', 'other-ca'):
        _openssl('req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt',
                 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
                 '-subj', '/CN=meshcap test %s' % name,
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
                 '-keyout', name + '.key', '-out', name + '.crt',
                 cwd=directory)
    with open(os.path.join(directory, 'server.ext'), 'w') as f:
        f.write('basicConstraints=CA:FALSE\n'
                'keyUsage=critical,digitalSignature,keyEncipherment\n'
                'extendedKeyUsage=serverAuth\n'
                'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    _openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes',
             '-subj', '/CN=127.0.0.1', '-keyout', 'server.key',
             '-out', 'server.csr', cwd=directory)
    _openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt',
             '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
             '-extfile', 'server.ext', '-out', 'server.crt', cwd=directory)


def kubeconfig_text(variant, server_host, port, ca_file, other_ca_file,
                    token, token_file):
    """A kubeconfig of the given variant (see the module's doc)."""
    def b64(path):
        with open(path, 'rb') as f:
            return base64.b64encode(f.read()).decode()
    if variant not in KUBECONFIG_VARIANTS:
        raise ValueError('unknown kubeconfig variant %r' % variant)
    server = 'https://%s:%d' % (server_host, port)
    tls = 'certificate-authority-data: ' + b64(ca_file)
    user = 'token: %s' % token
    if variant == 'ca-file':
        tls = 'certificate-authority: ' + ca_file
    elif variant == 'token-file':
        user = 'tokenFile: ' + token_file
    elif variant == 'insecure':
        tls = 'insecure-skip-tls-verify: true'
    elif variant == 'wrong-ca':
        tls = 'certificate-authority-data: ' + b64(other_ca_file)
    elif variant == 'bad-token':
        user = 'token: not-' + token
    head = ''
    if variant == 'istio':
        head = '# Kubeconfig file for Istio CNI plugin.\n'
        server = 'https://[%s]:%d' % (server_host, port)
        user = 'token: "%s"' % token
    return (head + 'apiVersion: v1\n'
            'kind: Config\n'
            'clusters:\n'
            '- name: local\n'
            '  cluster:\n'
            '    server: %s\n'
            '    %s\n'
            'users:\n'
            '- name: istio-cni\n'
            '  user:\n'
            '    %s\n'
            'contexts:\n'
            '- name: istio-cni-context\n'
            '  context:\n'
            '    cluster: local\n'
            '    user: istio-cni\n'
            'current-context: istio-cni-context\n') % (server, tls, user)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'meshcap-apiserver-standin'
    timeout = 30  # seconds a client may take to shake hands and send

    def handle(self):
        # As Go's net/http, which the API server runs on: no Nagle delay
        # between an answer's headers and its body (without this, a client
        # that delays its ACKs waits 40 ms for every answer).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The handshake here, in the request's thread, not in accept().
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.server.standin._log({'event': 'tls-error',
                                      'error': str(e)})
            return
        super().handle()

    def log_message(self, format, *args):
        pass  # the request log is ours

    def _send_json(self, code, obj):
        body = (json.dumps(obj, indent=2) + '\n').encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        if code == 503:
            self.send_header('Retry-After', '1')
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.standin._serve(self)

    def _not_allowed(self):
        self.close_connection = True  # a body we do not read may follow
        self.server.standin._serve(self, allowed=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _not_allowed


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that go away mid-answer are a fault mode here


class StandIn:
    """The stand-in server. fixtures: a path or a dict. faults: the global
    fault (a dict of FAULT_KEYS). workdir: where certificates,
    kubeconfigs, the token and the log go (default: a temporary directory,
    removed by stop())."""

    def __init__(self, fixtures, token=None, faults=None, workdir=None,
                 log=None, port=0, host='127.0.0.1'):
        if isinstance(fixtures, str):
            with open(fixtures) as f:
                fixtures = json.load(f)
        self.pods = {(p['metadata']['namespace'], p['metadata']['name']): p
                     for p in fixtures.get('pods', [])}
        self.namespaces = {n['metadata']['name']: n
                           for n in fixtures.get('namespaces', [])}
        self._lock = threading.Lock()
        self._counts = {}
        self.faults = {}
        for path, fault in fixtures.get('faults', {}).items():
            self.set_fault(path, **fault)
        if faults:
            self.set_fault('*', **faults)
        self.token = token or secrets.token_hex(16)
        self.host, self.port = host, port
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.log_path = log
        self._server = None
        self._thread = None

    # -- setup -------------------------------------------------------------

    def start(self):
        """Makes the certificates and kubeconfigs and serves from a
        thread. Returns self."""
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='meshcap-apiserver-')
        os.makedirs(self.workdir, exist_ok=True)
        self.ca_file = os.path.join(self.workdir, 'ca.crt')
        self.other_ca_file = os.path.join(self.workdir, 'other-ca.crt')
        make_certificates(self.workdir)
        self.token_file = os.path.join(self.workdir, 'token')
        with open(self.token_file, 'w') as f:
            f.write(self.token)
        if self.log_path is None:
            self.log_path = os.path.join(self.workdir, 'requests.log')
        open(self.log_path, 'a').close()

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(self.workdir, 'server.crt'),
                                os.path.join(self.workdir, 'server.key'))
        self._server = _Server((self.host, self.port), _Handler)
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True,
            do_handshake_on_connect=False)
        self._server.standin = self
        self.port = self._server.server_address[1]
        self.url = 'https://%s:%d' % (self.host, self.port)
        self.kubeconfigs = {}
        for variant in KUBECONFIG_VARIANTS:
            path = os.path.join(self.workdir, 'kubeconfig-' + variant)
            with open(path, 'w') as f:
                f.write(kubeconfig_text(variant, self.host, self.port,
                                        self.ca_file, self.other_ca_file,
                                        self.token, self.token_file))
            self.kubeconfigs[variant] = path
        self.kubeconfig = self.kubeconfigs['ca-data']
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def ready_info(self):
        return {'port': self.port, 'url': self.url,
                'kubeconfig': self.kubeconfig,
                'kubeconfigs': self.kubeconfigs, 'ca': self.ca_file,
                'token': self.token, 'token_file': self.token_file,
                'log': self.log_path, 'pid': os.getpid()}

    # -- faults and the log ------------------------------------------------

    def set_fault(self, path='*', **fault):
        """Sets the fault of one path ('*': every path) and restarts its
        counters; no keyword clears it."""
        unknown = set(fault) - set(FAULT_KEYS)
        if unknown:
            raise ValueError('unknown fault keys %s' % sorted(unknown))
        with self._lock:
            if fault:
                self.faults[path] = dict(fault)
            else:
                self.faults.pop(path, None)
            self._counts.pop(path, None)

    def events(self, kind='request'):
        """The log's events of one kind ('request', 'tls-error'; None:
        all), oldest first."""
        with open(self.log_path) as f:
            events = [json.loads(line) for line in f if line.strip()]
        return [e for e in events if kind is None or e['event'] == kind]

    def clear_log(self):
        with self._lock:
            open(self.log_path, 'w').close()

    def _log(self, event):
        event = dict(event, time=time.time())
        with self._lock:
            with open(self.log_path, 'a') as f:
                f.write(json.dumps(event, sort_keys=True) + '\n')

    # -- serving -----------------------------------------------------------

    def _serve(self, handler, allowed=True):
        path = handler.path.split('?', 1)[0]
        scope = path if path in self.faults else '*'
        with self._lock:
            fault = self.faults.get(scope, {})
            n = self._counts[scope] = self._counts.get(scope, 0) + 1
        auth = handler.headers.get('Authorization')
        auth = ('missing' if not auth else
                'ok' if auth == 'Bearer ' + self.token else 'bad')

        code, body = self._answer(handler, path, auth, allowed)
        if fault.get('close') or n <= fault.get('close_first', 0):
            code = 'closed'
        elif fault.get('status'):
            code = fault['status']
            body = status_object(code, 'fault injected by the stand-in')
        elif n <= fault.get('fail_first', 0):
            code = 503
            body = status_object(503, 'fault injected by the stand-in '
                                 '(request %d)' % n)
        self._log({'event': 'request', 'method': handler.command,
                   'path': handler.path, 'auth': auth, 'status': code,
                   'delay_ms': fault.get('delay_ms', 0)})
        if fault.get('delay_ms'):
            time.sleep(fault['delay_ms'] / 1000.0)
        if code == 'closed':
            handler.close_connection = True
            try:
                handler.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        handler._send_json(code, body)

    def _answer(self, handler, path, auth, allowed):
        """(code, object) for the request, faults aside."""
        if auth != 'ok':
            return 401, status_object(401, 'Unauthorized')
        if not allowed:
            return 405, status_object(
                405, 'the stand-in serves GET only, not %s' %
                handler.command)
        parts = path.strip('/').split('/')
        if parts[:3] == ['api', 'v1', 'namespaces']:
            if len(parts) == 4:
                ns = self.namespaces.get(parts[3])
                if ns is not None:
                    return 200, ns
                return 404, status_object(
                    404, 'namespaces "%s" not found' % parts[3],
                    {'name': parts[3], 'kind': 'namespaces'})
            if len(parts) == 6 and parts[4] == 'pods':
                pod = self.pods.get((parts[3], parts[5]))
                if pod is not None:
                    return 200, pod
                return 404, status_object(
                    404, 'pods "%s" not found' % parts[5],
                    {'name': parts[5], 'kind': 'pods'})
        return 404, status_object(
            404, 'the server could not find the requested resource')


def main():
    parser = argparse.ArgumentParser(
        description='A Kubernetes API stand-in for CNI plugin tests.')
    parser.add_argument('--fixtures', required=True)
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--ready-file')
    parser.add_argument('--workdir', help='default: a temporary directory, '
                        'removed at exit')
    parser.add_argument('--token')
    parser.add_argument('--log', help='the request log (default: '
                        'WORKDIR/requests.log)')
    parser.add_argument('--delay-ms', type=int, default=0)
    parser.add_argument('--close', action='store_true')
    parser.add_argument('--close-first', type=int, default=0)
    parser.add_argument('--status', type=int, default=0)
    parser.add_argument('--fail-first', type=int, default=0)
    args = parser.parse_args()
    faults = {k: getattr(args, k) for k in FAULT_KEYS if getattr(args, k)}
    standin = StandIn(args.fixtures, token=args.token, faults=faults,
                      workdir=args.workdir, log=args.log, port=args.port)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    standin.start()
    try:
        info = json.dumps(standin.ready_info(), sort_keys=True)
        if args.ready_file:
            tmp = args.ready_file + '.tmp'
            with open(tmp, 'w') as f:
                f.write(info + '\n')
            os.rename(tmp, args.ready_file)
        print(info, flush=True)
        done.wait()
    finally:
        standin.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
