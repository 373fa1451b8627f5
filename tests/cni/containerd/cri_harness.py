# SPDX-License-Identifier: GPL-2.0-or-later
"""A real containerd 1.6, driven over CRI as kubelet drives it.

`Runtime` starts Debian's containerd in a node of its own: new mount,
network and PID namespaces (unshare), where /run and /var/lib are private
tmpfs mounts. containerd's state, root, its CNI conf dir and bin_dir, the
CNI cache and host-local's leases (/var/lib/cni), the pods' network
namespaces (/run/netns) and meshcap's $MESHCAP_STATE_DIR all live there,
so the machine's own network, ruleset, /run, /var/lib/cni and /etc/cni are
never touched. Only containerd's gRPC socket (in a temporary directory)
and the cgroups runc makes (under a parent of our own, removed at stop)
are outside.

The node's first process is this file run as `cri_harness.py node WORKDIR`
(see `_node_main`); it is PID 1 of the node's PID namespace, so when it
dies the kernel kills containerd, the shims and every pod with it, and the
mounts go with the last process. It dies with us: `setpriv --pdeathsig`
kills unshare when the process that started it exits, and `unshare
--kill-child` kills the node with unshare. Nothing survives a crash of the
test but empty cgroup directories.

The CRI client speaks runtime.v1 through `cri_api.proto` (only what the
harness needs), compiled with grpc_tools.protoc into the work directory at
start. The sandbox image is built here too: a `gcc -static` pause binary
(`pause.c`) in an OCI image archive, imported with `ctr images import`.

Pod kernel state is read with the tools themselves, inside the node's
mount and PID namespaces and the pod's network namespace: `nsenter -t NODE
--mount --pid -- nsenter --net=PATH -- TOOL`.

Debian packages: containerd runc python3-grpcio python3-grpc-tools gcc
libc6-dev containernetworking-plugins nftables iptables iproute2
util-linux.
"""

import contextlib
import ctypes
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_PLUGINS = '/usr/lib/cni'
PAUSE_IMAGE = 'localhost/meshcap-pause:1'
K8S_NAMESPACE = 'k8s.io'

# Paths inside the node (its private /run and /var/lib).
NODE_DIR = '/run/meshcap-node'
CNI_BIN_DIR = NODE_DIR + '/cni-bin'
CNI_CONF_DIR = NODE_DIR + '/net.d'
CONTAINERD_CONFIG = NODE_DIR + '/containerd.toml'
CONTAINERD_STATE = '/run/containerd'
CONTAINERD_ROOT = '/var/lib/containerd'
# meshcap-cni's $MESHCAP_STATE_DIR, inherited through containerd.
MESHCAP_STATE_DIR = '/run/meshcap'
# Where keep_netns() pins pod network namespaces.
KEPT_NETNS_DIR = NODE_DIR + '/kept-netns'
# The scratch network namespaces of expected-state computations keep
# their meshcap state apart from the pods'.
SCRATCH_STATE_DIR = NODE_DIR + '/scratch-state'

# The tools the harness runs; prerequisites() names those missing.
TOOLS = ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'gcc',
         'unshare', 'nsenter', 'setpriv', 'ip', 'nft', 'iptables-legacy-save',
         'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save']

# Every view of a pod's packet filtering, as the tools print it.
RULESET_VIEWS = {
    'nft': ['nft', 'list', 'ruleset'],
    'iptables-legacy': ['iptables-legacy-save'],
    'ip6tables-legacy': ['ip6tables-legacy-save'],
    'iptables-nft': ['iptables-nft-save'],
    'ip6tables-nft': ['ip6tables-nft-save'],
}
# Its routing: meshcap's policy routing is protocol 109 and ::6 on lo.
ROUTING_VIEWS = {
    'ip rule': ['ip', 'rule'],
    'ip -6 rule': ['ip', '-6', 'rule'],
    'ip route': ['ip', 'route', 'show', 'table', 'all'],
    'ip -6 route': ['ip', '-6', 'route', 'show', 'table', 'all'],
    'lo addresses': ['ip', 'addr', 'show', 'dev', 'lo'],
}

TIMEOUT = 30  # seconds, for any one command or CRI call


class HarnessError(Exception):
    """The harness could not do what it was asked."""


def prerequisites():
    """What this machine lacks for the harness, as readable strings."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    for plugin in ('loopback', 'bridge', 'host-local'):
        if not os.path.isfile(os.path.join(REFERENCE_PLUGINS, plugin)):
            missing.append(os.path.join(REFERENCE_PLUGINS, plugin))
    for module in ('grpc', 'grpc_tools'):
        try:
            __import__(module)
        except ImportError:
            missing.append('python3 module ' + module)
    return missing


def use_system_python():
    """Re-executes the program with /usr/bin/python3 when this Python
    lacks grpc (Debian's python3-grpcio is for the system Python; a pyenv
    or venv python3 first in PATH has not got it)."""
    try:
        import grpc  # noqa: F401
    except ImportError:
        system = '/usr/bin/python3'
        if os.path.realpath(sys.executable) != os.path.realpath(system) \
                and os.access(system, os.X_OK):
            os.execv(system, [system] + sys.argv)


def _run(argv, timeout=TIMEOUT, check=True, **kwargs):
    """Runs argv, returns the CompletedProcess (text, both streams)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as e:
        raise HarnessError('%s: no answer in %s s' % (' '.join(argv),
                                                      timeout)) from e
    if check and done.returncode != 0:
        raise HarnessError('%s: exit %d: %s' % (
            ' '.join(argv), done.returncode,
            (done.stderr or done.stdout).strip()))
    return done


# ---------------------------------------------------------------------------
# The sandbox image.

def _sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _tar_member(tar, name, data, mode):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def build_pause_image(workdir):
    """Builds the pause image archive (OCI layout in a tar); its path.

    The layer holds /pause, a static binary from pause.c; the config runs
    it. Digests are computed here; the index names the image PAUSE_IMAGE
    (io.containerd.image.name), which `ctr images import` uses as is.
    """
    binary = os.path.join(workdir, 'pause')
    _run(['gcc', '-static', '-O2', '-o', binary,
          os.path.join(HERE, 'pause.c')], timeout=60)
    with open(binary, 'rb') as f:
        pause = f.read()
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode='w', format=tarfile.PAX_FORMAT) \
            as tar:
        _tar_member(tar, 'pause', pause, 0o755)
    layer = layer.getvalue()
    arch = {'x86_64': 'amd64', 'aarch64': 'arm64'}.get(platform.machine(),
                                                       platform.machine())
    config = json.dumps({
        'architecture': arch, 'os': 'linux',
        'config': {'Entrypoint': ['/pause'], 'WorkingDir': '/'},
        'rootfs': {'type': 'layers', 'diff_ids': [_sha256(layer)]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        'schemaVersion': 2,
        'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json',
                   'digest': _sha256(config), 'size': len(config)},
        'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar',
                    'digest': _sha256(layer), 'size': len(layer)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        'schemaVersion': 2,
        'mediaType': 'application/vnd.oci.image.index.v1+json',
        'manifests': [{
            'mediaType': 'application/vnd.oci.image.manifest.v1+json',
            'digest': _sha256(manifest), 'size': len(manifest),
            'platform': {'architecture': arch, 'os': 'linux'},
            'annotations': {
                'io.containerd.image.name': PAUSE_IMAGE,
                'org.opencontainers.image.ref.name':
                    PAUSE_IMAGE.rsplit(':', 1)[1],
            },
        }],
    }, sort_keys=True).encode()
    archive = os.path.join(workdir, 'pause-image.tar')
    with tarfile.open(archive, 'w', format=tarfile.PAX_FORMAT) as tar:
        _tar_member(tar, 'oci-layout', b'{"imageLayoutVersion":"1.0.0"}',
                    0o644)
        _tar_member(tar, 'index.json', index, 0o644)
        for blob in (layer, config, manifest):
            _tar_member(tar, 'blobs/sha256/' + _sha256(blob)[7:], blob,
                        0o644)
    return archive


# ---------------------------------------------------------------------------
# The CRI client.

def compile_proto(outdir):
    """Compiles cri_api.proto into outdir; returns (pb2, pb2_grpc)."""
    _run([sys.executable, '-m', 'grpc_tools.protoc', '-I' + HERE,
          '--python_out=' + outdir, '--grpc_python_out=' + outdir,
          os.path.join(HERE, 'cri_api.proto')], timeout=60)
    sys.path.insert(0, outdir)
    try:
        import cri_api_pb2
        import cri_api_pb2_grpc
    finally:
        sys.path.remove(outdir)
    return cri_api_pb2, cri_api_pb2_grpc


def containerd_config(socket):
    """containerd's config.toml for the node (paths are the node's)."""
    return '''version = 2
root = "{root}"
state = "{state}"
temp = "/run/tmp"
# Plugins that would reach outside the node (opt: /opt/containerd) or
# that the node has no use for.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{socket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  # Root lacks CAP_SYS_RESOURCE here: without this runc fails with
  # "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{bin_dir}"
    conf_dir = "{conf_dir}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
'''.format(root=CONTAINERD_ROOT, state=CONTAINERD_STATE, socket=socket,
           image=PAUSE_IMAGE, bin_dir=CNI_BIN_DIR, conf_dir=CNI_CONF_DIR)


class Runtime:
    """containerd in a node of its own, and a CRI client to it.

    conflist: the CNI network configuration list (a dict), written as the
    only file of containerd's conf_dir. plugins: {type: executable} put in
    bin_dir beside the reference plugins of /usr/lib/cni (symlinks; a
    `.py` file gets a /usr/bin/python3 wrapper instead). env: more
    environment for containerd, so for every plugin it runs.

    Use as a context manager, or call start() and stop(); stop() always
    cleans everything up, whatever state start() left.
    """

    def __init__(self, conflist, plugins, env=None, name='meshcap-cri'):
        self.conflist = conflist
        self.plugins = dict(plugins)
        self.env = dict(env or {})
        self.name = name
        self.workdir = None
        self.socket = None
        self.node_pid = None      # PID 1 of the node, as we see it
        self._unshare = None      # the setpriv/unshare process
        self._channel = None
        self.pb = None
        self.runtime = None       # RuntimeService stub
        self.images = None        # ImageService stub
        self.cgroup_parent = None
        self._pods = 0
        self.timings = {}

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=20):
        """Starts the node and containerd; returns once CRI answers and the
        sandbox image is there."""
        t0 = time.monotonic()
        sweep_stale(self.name)
        # Both named NAME-PID-...: sweep_stale() finds those of dead runs.
        self.workdir = tempfile.mkdtemp(prefix='%s-%d-' % (self.name,
                                                           os.getpid()))
        self.socket = os.path.join(self.workdir, 'containerd.sock')
        self.cgroup_parent = '/' + os.path.basename(self.workdir)
        # The node covers /run: what it runs must not live there.
        for path in [HERE, self.workdir] + list(self.plugins.values()):
            if os.path.abspath(path).startswith('/run/'):
                raise HarnessError('%s is under /run, which the node '
                                   'covers with its own' % path)
        archive = build_pause_image(self.workdir)
        self.pb, pb_grpc = compile_proto(self.workdir)
        spec = {
            'conflist': self.conflist,
            'plugins': {k: os.path.abspath(v)
                        for k, v in self.plugins.items()},
            'env': self.env,
            'config': containerd_config(self.socket),
            'outer_namespaces': _namespaces('self'),
        }
        with open(os.path.join(self.workdir, 'node.json'), 'w') as f:
            json.dump(spec, f)
        log = open(os.path.join(self.workdir, 'node.log'), 'w')
        with log:
            # setpriv: unshare dies with us; --kill-child: the node dies
            # with unshare; the node is PID 1: all else dies with it.
            self._unshare = subprocess.Popen(
                ['setpriv', '--pdeathsig', 'KILL', '--',
                 'unshare', '--mount', '--net', '--pid', '--fork',
                 '--kill-child=SIGKILL', '--propagation', 'private', '--',
                 sys.executable, os.path.abspath(__file__), 'node',
                 self.workdir],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.workdir)
        ready = os.path.join(self.workdir, 'ready')
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if self._unshare.poll() is not None:
                raise HarnessError('the node exited (%d): %s' % (
                    self._unshare.returncode, self.node_log()))
            if time.monotonic() > deadline:
                raise HarnessError('the node was not ready in %d s: %s' % (
                    timeout, self.node_log()))
            time.sleep(0.02)
        with open(ready) as f:
            self.node_pid = int(f.read())
        self.timings['node'] = time.monotonic() - t0

        import grpc
        self._channel = grpc.insecure_channel('unix://' + self.socket)
        grpc.channel_ready_future(self._channel).result(timeout=timeout)
        self.runtime = pb_grpc.RuntimeServiceStub(self._channel)
        self.images = pb_grpc.ImageServiceStub(self._channel)
        self.timings['containerd'] = time.monotonic() - t0

        self.node_exec(['ctr', '--address', self.socket, '-n', K8S_NAMESPACE,
                        'images', 'import', archive], timeout=60)
        # The CRI plugin learns of imported images from events: wait
        # until it knows ours, or RunPodSandbox would try to pull it.
        while not self.images.ImageStatus(
                self.pb.ImageStatusRequest(
                    image=self.pb.ImageSpec(image=PAUSE_IMAGE)),
                timeout=TIMEOUT).image.id:
            if time.monotonic() > deadline:
                raise HarnessError('the CRI plugin never saw ' + PAUSE_IMAGE)
            time.sleep(0.02)
        self.timings['ready'] = time.monotonic() - t0

    def stop(self):
        """Kills the node (containerd, shims, pods), removes our cgroups
        and the work directory. Safe to call more than once."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._unshare is not None:
            if self.node_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.node_pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self._unshare.kill()
            try:
                self._unshare.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            self._unshare = None
            self.node_pid = None
        if self.cgroup_parent:
            _remove_cgroups(self.cgroup_parent)
            self.cgroup_parent = None
        if self.workdir is not None:
            if os.environ.get('MESHCAP_CRI_KEEP'):
                sys.stderr.write('kept %s\n' % self.workdir)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # -- the node ----------------------------------------------------------

    def node_log(self):
        """The node's own log and containerd's, for failure reports."""
        out = []
        for name in ('node.log', 'containerd.log'):
            with contextlib.suppress(OSError, TypeError):
                with open(os.path.join(self.workdir, name)) as f:
                    out.append('--- %s\n%s' % (name, f.read()[-6000:]))
        return '\n'.join(out)

    def node_path(self, path):
        """A path of the node's mount namespace, as we can open it."""
        return '/proc/%d/root%s' % (self.node_pid, path)

    def node_exec(self, argv, netns=None, timeout=TIMEOUT, check=True):
        """Runs argv in the node's mount and PID namespaces and in its
        network namespace, or in the network namespace file netns (a path
        of the node). Returns the CompletedProcess."""
        base = ['nsenter', '-t', str(self.node_pid), '--mount', '--pid']
        if netns is None:
            cmd = base + ['--net', '--'] + argv
        else:
            cmd = base + ['--', 'nsenter', '--net=' + netns, '--'] + argv
        return _run(cmd, timeout=timeout, check=check)

    def keep_netns(self, netns):
        """Bind-mounts the pod's network namespace to a path of ours, so
        it outlives StopPodSandbox (which removes containerd's mount) and
        what DEL left in it can be read. Returns the new path."""
        kept = os.path.join(KEPT_NETNS_DIR, os.path.basename(netns))
        self.node_exec(['sh', '-c', 'mkdir -p "$1" && touch "$2" && '
                        'mount --bind "$3" "$2"', 'sh', KEPT_NETNS_DIR,
                        kept, netns])
        return kept

    def release_netns(self, kept):
        """Undoes keep_netns()."""
        self.node_exec(['sh', '-c', 'umount "$1" && rm -f "$1"', 'sh',
                        kept])

    # -- CRI ---------------------------------------------------------------

    def version(self):
        return self.runtime.Version(self.pb.VersionRequest(version='v1'),
                                    timeout=TIMEOUT)

    def run_pod(self, name, namespace, uid=None, annotations=None,
                labels=None):
        """RunPodSandbox as kubelet sends it; returns (pod_id, netns)."""
        self._pods += 1
        uid = uid or 'meshcap-test-uid-%d-%d' % (os.getpid(), self._pods)
        pb = self.pb
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid,
                                           namespace=namespace, attempt=0),
            hostname=name,
            dns_config=pb.DNSConfig(servers=['198.51.100.53'],
                                    searches=[namespace +
                                              '.svc.cluster.local']),
            labels=labels or {},
            annotations=annotations or {},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(
                        network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD))))
        reply = self.runtime.RunPodSandbox(
            pb.RunPodSandboxRequest(config=config), timeout=TIMEOUT)
        return reply.pod_sandbox_id, self.pod_netns(reply.pod_sandbox_id)

    def pod_status(self, pod_id):
        """PodSandboxStatus (verbose); returns (status, info dict)."""
        reply = self.runtime.PodSandboxStatus(
            self.pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id,
                                            verbose=True), timeout=TIMEOUT)
        info = json.loads(reply.info.get('info', '{}'))
        return reply.status, info

    def pod_netns(self, pod_id):
        """The pod's network namespace file (a path of the node), from the
        runtime spec in PodSandboxStatus's verbose info."""
        _, info = self.pod_status(pod_id)
        for ns in info['runtimeSpec']['linux']['namespaces']:
            if ns['type'] == 'network':
                return ns['path']
        raise HarnessError('pod %s has no network namespace path' % pod_id)

    def stop_pod(self, pod_id):
        self.runtime.StopPodSandbox(
            self.pb.StopPodSandboxRequest(pod_sandbox_id=pod_id),
            timeout=TIMEOUT)

    def remove_pod(self, pod_id):
        self.runtime.RemovePodSandbox(
            self.pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id),
            timeout=TIMEOUT)

    # -- kernel state ------------------------------------------------------

    def netns_exists(self, netns):
        return self.node_exec(['test', '-e', netns], check=False
                              ).returncode == 0

    def pod_state(self, netns):
        """Every view of the pod's filtering and routing: {view: text}."""
        views = dict(RULESET_VIEWS, **ROUTING_VIEWS)
        return {name: self.node_exec(argv, netns=netns).stdout
                for name, argv in views.items()}

    def state_files(self, root=MESHCAP_STATE_DIR):
        """The files under root (a node path) that record something,
        relative: not the directories, which meshcap-cni keeps, nor the
        pods' xtables lock file (src/cni/attachment_store.h)."""
        base = self.node_path(root)
        found = []
        for d, _, files in os.walk(base):
            for n in files:
                rel = os.path.relpath(os.path.join(d, n), base)
                if rel != 'cni/xtables.lock':
                    found.append(rel)
        return sorted(found)

    def read_node_file(self, path, default=''):
        try:
            with open(self.node_path(path)) as f:
                return f.read()
        except FileNotFoundError:
            return default

    def scratch_state(self, argv_in_netns, env=None):
        """Runs argv (a shell-free command list) in a fresh network
        namespace of the node with lo up and $MESHCAP_STATE_DIR apart, then
        returns pod_state()'s views of that namespace."""
        env_args = ['env', 'MESHCAP_STATE_DIR=' + SCRATCH_STATE_DIR]
        env_args += ['%s=%s' % kv for kv in sorted((env or {}).items())]
        script = ('ip link set lo up && "$@" >&2 && for v in %s; do '
                  'echo "@@@ $v"; eval "$v"; done' % ' '.join(
                      "'%s'" % ' '.join(a)
                      for a in dict(RULESET_VIEWS, **ROUTING_VIEWS).values()))
        out = self.node_exec(['unshare', '--net', '--', 'sh', '-c', script,
                              'sh'] + env_args + argv_in_netns).stdout
        names = list(dict(RULESET_VIEWS, **ROUTING_VIEWS))
        parts = out.split('@@@ ')[1:]
        return {name: part.split('\n', 1)[1]
                for name, part in zip(names, parts)}


def _namespaces(pid):
    return {ns: os.readlink('/proc/%s/ns/%s' % (pid, ns))
            for ns in ('net', 'mnt', 'pid')}


def _cgroup_roots():
    roots = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index('-') + 1]
            if fstype in ('cgroup', 'cgroup2'):
                roots.append(fields[4])
    return roots


def sweep_stale(name):
    """Removes the work directories and cgroups that runs named `name`
    left when they were killed (stop() never ran): those whose PID is
    gone."""
    def dead(entry):
        parts = entry.split('-')
        prefix = name.split('-')
        if parts[:len(prefix)] != prefix or len(parts) < len(prefix) + 2:
            return False
        try:
            os.kill(int(parts[len(prefix)]), 0)
        except ProcessLookupError:
            return True
        except (ValueError, PermissionError):
            pass
        return False
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        if dead(entry):
            shutil.rmtree(os.path.join(tmp, entry), ignore_errors=True)
    for root in _cgroup_roots():
        with contextlib.suppress(OSError):
            for entry in os.listdir(root):
                if dead(entry):
                    _remove_cgroups('/' + entry, roots=[root])


def _remove_cgroups(parent, roots=None):
    """Removes the cgroup directory `parent` in every hierarchy, deepest
    first; runc made them for our pods. Retries while the last processes
    are leaving."""
    deadline = time.monotonic() + 5
    for root in roots or _cgroup_roots():
        top = root + parent
        if not os.path.isdir(top):
            continue
        while True:
            try:
                for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                    os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)


# ---------------------------------------------------------------------------
# Policy routing and "nothing of ours" helpers.

def policy_routing(state):
    """meshcap's policy routing in a pod_state(): every rule and route of
    protocol 109 and the ::6 address, one line each, prefixed with its
    view. Rules lose their priority (the kernel's pick)."""
    found = []
    for view in ROUTING_VIEWS:
        for line in state.get(view, '').splitlines():
            fields = line.split()
            ours = any(f == 'proto' and i + 1 < len(fields) and
                       fields[i + 1] == '109' for i, f in enumerate(fields))
            ours = ours or any(f.startswith('::6/') for f in fields)
            if ours:
                if view.endswith('rule'):
                    fields = fields[1:]
                found.append('%s: %s' % (view, ' '.join(fields)))
    return found


def rules_in(state):
    """The filtering a pod_state() holds, by view: nft tables, and
    iptables rules and user chains (a table with only its built-in chains
    and no rule holds nothing). Empty when there is none at all."""
    held = {}
    nft = state.get('nft', '').strip()
    if nft:
        held['nft'] = nft
    for view in RULESET_VIEWS:
        if view == 'nft':
            continue
        lines = []
        for line in state.get(view, '').splitlines():
            if line.startswith('-A') or line.startswith('-N'):
                lines.append(line)
            elif line.startswith(':') and line.split()[1] == '-':
                lines.append(line)  # a user chain (policy "-")
        if lines:
            held[view] = '\n'.join(lines)
    return held


# ---------------------------------------------------------------------------
# The node's first process.

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def _mount(source, target, fstype, flags, data=None):
    # mount(2) itself, not mount(8): libmount could keep its table in the
    # machine's /run before ours covers it.
    libc = ctypes.CDLL(None, use_errno=True)
    enc = (lambda s: s.encode() if s is not None else None)
    if libc.mount(enc(source), enc(target), enc(fstype),
                  ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, 'mount %s on %s: %s' % (fstype, target,
                                                   os.strerror(err)))


def _private_var_lib():
    """Makes /var/lib/cni (libcni's cache, host-local's leases) and
    /var/lib/containerd private, though neither may exist on the machine
    and neither may be made there: a tmpfs on /var/lib, into which every
    entry of the machine's /var/lib is bound back (a work tree or plugin
    under /var/lib stays visible); cni and containerd stay the tmpfs's."""
    host = NODE_DIR + '/host-var-lib'
    os.makedirs(host)
    _mount('/var/lib', host, None, MS_BIND | MS_REC)
    _mount('tmpfs', '/var/lib', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755')
    for name in os.listdir(host):
        src, dst = os.path.join(host, name), os.path.join('/var/lib', name)
        if name in ('cni', 'containerd'):
            continue
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
            continue
        if os.path.isdir(src):
            os.mkdir(dst)
        else:
            open(dst, 'w').close()
        _mount(src, dst, None, MS_BIND | MS_REC)


def _node_main(workdir):
    """PID 1 of the node: sets it up, runs containerd, reaps orphans."""
    with open(os.path.join(workdir, 'node.json')) as f:
        spec = json.load(f)
    # Our PID as the test sees it, while /proc is still the machine's.
    with open('/proc/self/status') as f:
        nspid = [line.split()[1:] for line in f
                 if line.startswith('NSpid:')][0]
    outer_pid = int(nspid[0])
    # Never set up the machine's own namespaces as a node.
    ours = _namespaces('self')
    for ns in ('net', 'mnt', 'pid'):
        if ours[ns] == spec['outer_namespaces'][ns]:
            sys.exit('node: not in a %s namespace of our own' % ns)
    if os.getpid() != 1:
        sys.exit('node: not PID 1 of a new PID namespace')

    _mount(None, '/', None, MS_REC | MS_PRIVATE)
    _mount('tmpfs', '/run', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755')
    _private_var_lib()
    _mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for d in (CNI_BIN_DIR, CNI_CONF_DIR, CONTAINERD_STATE, CONTAINERD_ROOT,
              MESHCAP_STATE_DIR, '/run/tmp', '/run/netns', '/var/lib/cni'):
        os.makedirs(d, exist_ok=True)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)

    # bin_dir: the reference plugins and ours, as symlinks.
    for name in sorted(os.listdir(REFERENCE_PLUGINS)):
        os.symlink(os.path.join(REFERENCE_PLUGINS, name),
                   os.path.join(CNI_BIN_DIR, name))
    for name, path in spec['plugins'].items():
        target = os.path.join(CNI_BIN_DIR, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        if path.endswith('.py'):
            with open(target, 'w') as f:
                f.write('#!/bin/sh\nexec /usr/bin/python3 %s "$@"\n' % path)
            os.chmod(target, 0o755)
        else:
            os.symlink(path, target)
    with open(os.path.join(CNI_CONF_DIR, '10-meshcap-test.conflist'),
              'w') as f:
        json.dump(spec['conflist'], f, indent=2)
    with open(CONTAINERD_CONFIG, 'w') as f:
        f.write(spec['config'])

    env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:'
                   '/sbin:/bin',
           'TMPDIR': '/run/tmp', 'MESHCAP_STATE_DIR': MESHCAP_STATE_DIR}
    env.update(spec['env'])
    log = open(os.path.join(workdir, 'containerd.log'), 'w')
    containerd = subprocess.Popen(
        ['containerd', '--config', CONTAINERD_CONFIG, '--log-level', 'info'],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)

    # SIGTERM: stop containerd, then exit, which ends the node.
    def on_term(signum, frame):
        containerd.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            containerd.wait(timeout=5)
        os._exit(0)
    signal.signal(signal.SIGTERM, on_term)

    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(workdir, 'containerd.sock')):
        if containerd.poll() is not None or time.monotonic() > deadline:
            sys.exit('node: containerd did not start (exit %s)' %
                     containerd.returncode)
        time.sleep(0.01)
    tmp = os.path.join(workdir, 'ready.tmp')
    with open(tmp, 'w') as f:
        f.write(str(outer_pid))
    os.rename(tmp, os.path.join(workdir, 'ready'))

    # Reap everything re-parented to us (the shims' parents exit);
    # containerd's end ends the node.
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            time.sleep(0.1)
            continue
        if pid == containerd.pid:
            sys.stderr.write('node: containerd exited (status %d)\n' %
                             status)
            sys.exit(1)


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'node':
        _node_main(sys.argv[2])
    else:
        sys.exit('usage: cri_harness.py node WORKDIR (started by Runtime)')
