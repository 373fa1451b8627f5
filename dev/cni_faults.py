#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meshcap-cni's fault campaign (issue 18: the plugin never wedges a pod).

Run by dev/cni-faults.sh, which starts it as root in a private mount and
network namespace (the "node"); it mounts a tmpfs on its work directory and
on /run, makes every pod namespace itself (unshare(CLONE_NEWNET) bound to a
file of that tmpfs) and runs the real meshcap-cni binary against the real
kernel, as a runtime does. Parts:

  kill      SIGKILL of ADD, DEL, CHECK and GC at a random moment from
            exec to past the verb's usual end (at least 0-3 ms), then the
            runtime's follow-up (a retried ADD, a DEL, a GC);
  hostile   configurations a pod or a broken runtime may hand over (deep
            nesting, NUL, trailing bytes, 60 MB prevResult, repeated keys,
            wrong types) and a bad environment;
  state     faults of the state directory: planted symbolic links, wrong
            modes and owners, a full and a read-only file system;
  long      container IDs and network names longer than a file name (and
            than a record may hold: ADD refuses those, code 4);
  race      ADD racing DEL, GC racing ADD (and, deterministically, an
            ADD held in Apply that finishes while GC works), 50 pods at
            once, attachments sharing a namespace.

After every trial: the plugin died of no signal it was not sent and printed
its result or an error JSON; after the runtime's follow-up the pod's
namespace holds its capture and its record, or neither; DEL succeeds within
3 tries once a fault is gone; nothing outside the state directory was
created, written or removed (canaries and the targets of planted links, and
/run, compared before and after); nothing of the pod is left in the state
directory. Ends with "cni-faults: N checks, M failed"; exit status 1 when
anything failed.
"""

import argparse
import collections
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

BACKENDS = ("nftables", "iptables-legacy")
OTHER = {"nftables": "iptables-legacy", "iptables-legacy": "nftables"}
POLICY_A = {"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
            "InboundPortsExclude": "15090,15021,15020"}
POLICY_B = dict(POLICY_A, InboundPortsExclude="15090,15021,15020,8080")
PREV = {"cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "mac": "02:00:cb:00:71:0a"}],
        "ips": [{"address": "203.0.113.10/24", "gateway": "203.0.113.1",
                 "interface": 0}]}
POD_ARGS = "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"
TIMEOUT = 90        # per plugin run: more than its 30 s lock wait
KNOWN_CODES = {1, 2, 3, 4, 5, 6, 7, 11, 50, 100, 101, 102, 103, 104, 105}
DEL_TRIES = 3
# The most a record may weigh (src/cni/attachment_store.h kMaxRecordBytes):
# ADD refuses, with code 4, an attachment whose record would be bigger.
RECORD_CAP = 64 << 10
# A record's bytes beside its container ID and namespace path: at least
# this many, at most RECORD_REST[1].
RECORD_REST = (128, 320)

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                       ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
MNT_DETACH = 2


def mount(src, target, fstype, flags=0, data=None):
    if libc.mount(src.encode() if src else None, target.encode(),
                  fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {target}: {os.strerror(e)}")


def umount(target):
    if libc.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount {target}: {os.strerror(e)}")


def fnv1a(s):
    h = 14695981039346656037
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def file_name_for(name, limit):
    """src/state_dir.h FileNameFor."""
    if len(name.encode()) <= limit:
        return name
    tail = "~%016x" % fnv1a(name)
    return name.encode()[:limit - len(tail)].decode() + tail


def dumps(v):
    return json.dumps(v, separators=(",", ":"))


def with_raw(base, key, raw):
    """The configuration `base` with `key` set to the JSON text `raw`."""
    text = dumps({k: v for k, v in base.items() if k != key})
    return (text[:-1] + "," + dumps(key) + ":" + raw + "}").encode()


class Run:
    def __init__(self, rc, sig, out, err, elapsed, hung):
        self.rc, self.sig, self.out, self.err = rc, sig, out, err
        self.elapsed, self.hung = elapsed, hung


class Handle:
    """One plugin process: stdin, stdout and stderr are files of the work
    tmpfs (no pipe to fill, nothing to write after exec). With `gate`,
    stdin is a pipe that release() fills: the process is loaded and waits
    for its configuration, so that racing processes start together."""

    def __init__(self, camp, env, data, gate=False):
        camp.io_seq += 1
        base = f"{camp.io}/{camp.io_seq}"
        self.paths = (base + ".in", base + ".out", base + ".err")
        self.data = data
        if gate:
            fi = subprocess.PIPE
        else:
            with open(self.paths[0], "wb") as f:
                f.write(data)
            fi = open(self.paths[0], "rb")
        fo = open(self.paths[1], "wb")
        fe = open(self.paths[2], "wb")
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen([camp.plugin], stdin=fi, stdout=fo,
                                  stderr=fe, env=env, close_fds=True)
        # Popen returns once the child has exec'd.
        self.t_exec = time.perf_counter()
        if not gate:
            fi.close()
        fo.close()
        fe.close()
        camp.live.add(self.p)
        self.camp = camp

    def release(self):
        """Hands a gated process its configuration (racing processes'
        configurations are far below a pipe's 64 KiB)."""
        self.t_exec = time.perf_counter()
        self.p.stdin.write(self.data)
        self.p.stdin.close()

    def kill_after(self, delay):
        # Asleep for most of the delay, so that the plugin has both CPUs
        # (a spinning parent slows a child on 2 CPUs), then spinning for
        # sub-millisecond precision.
        target = self.t_exec + delay
        rest = target - time.perf_counter() - 0.0002
        if rest > 0:
            time.sleep(rest)
        while time.perf_counter() < target:
            pass
        try:
            os.kill(self.p.pid, signal.SIGKILL)  # not yet reaped: ours
        except ProcessLookupError:
            pass

    def running(self):
        """Whether the process has not exited (not a zombie): it holds
        whatever locks it took."""
        try:
            with open(f"/proc/{self.p.pid}/stat") as f:
                st = f.read()
        except OSError:
            return False
        return st[st.rindex(")") + 2] not in "ZX"

    def finish(self, timeout=TIMEOUT):
        hung = False
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            hung = True
            self.p.kill()
            self.p.wait()
        elapsed = time.perf_counter() - self.t0
        self.camp.live.discard(self.p)
        with open(self.paths[1], "rb") as f:
            out = f.read()
        with open(self.paths[2], "rb") as f:
            err = f.read()
        for p in self.paths:
            if os.path.exists(p):
                os.unlink(p)
        rc = self.p.returncode
        sig = -rc if rc < 0 else None
        return Run(rc if rc >= 0 else None, sig, out, err, elapsed, hung)


class Pod:
    """A network namespace bound to a file of the work tmpfs, as
    `ip netns add` makes one, but in the campaign's own mount namespace."""

    def __init__(self, camp, cid, ifname="eth0"):
        camp.ns_seq += 1
        self.path = f"{camp.nsdir}/n{camp.ns_seq}"
        self.cid, self.ifname = cid, ifname
        open(self.path, "w").close()
        pid = os.fork()
        if pid == 0:
            try:
                if libc.unshare(CLONE_NEWNET) != 0:
                    os._exit(1)
                mount("/proc/self/ns/net", self.path, None, MS_BIND)
                os._exit(0)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f"cannot make a network namespace ({status})")
        self.alive = True

    def remove(self):
        if self.alive:
            umount(self.path)
            os.unlink(self.path)
            self.alive = False


class Campaign:
    def __init__(self, args):
        self.plugin = args.plugin
        self.work = args.work
        self.quick = args.quick
        self.verbose = args.verbose
        self.rng = random.Random(args.seed)
        self.seed = args.seed
        self.io = f"{self.work}/io"
        self.nsdir = f"{self.work}/ns"
        self.outside = f"{self.work}/outside"
        self.io_seq = self.ns_seq = self.sd_seq = self.id_seq = 0
        self.live = set()
        self.checks = 0
        self.failed = 0
        self.part_failed = collections.Counter()
        self.part_checks = collections.Counter()
        self.crashes = collections.Counter()
        self.printed = collections.Counter()
        self.summary = []

    # ---- bookkeeping -------------------------------------------------

    def check(self, ok, part, what):
        self.checks += 1
        self.part_checks[part] += 1
        if not ok:
            self.failed += 1
            self.part_failed[part] += 1
            self.printed[part] += 1
            if self.printed[part] <= 25:
                print(f"FAIL [{part}] {what}", flush=True)
            elif self.printed[part] == 26:
                print(f"FAIL [{part}] (more failures not shown)", flush=True)
        return ok

    def say(self, line):
        self.work_root_same(line.split(":")[0])
        self.summary.append(line)
        print(line, flush=True)

    def new_id(self, prefix):
        self.id_seq += 1
        return f"{prefix}{self.id_seq:05d}"

    def new_state(self, tag):
        self.sd_seq += 1
        path = f"{self.work}/state-{self.sd_seq}-{tag}"
        os.mkdir(path, 0o700)
        return path

    # ---- the plugin ----------------------------------------------------

    def cfg(self, backend, name="pods", policy=None, prev=True, **extra):
        d = {"cniVersion": "1.1.0", "name": name, "type": "meshcap-cni",
             "podSelection": "all", "backend": backend,
             "policy": POLICY_A if policy is None else policy}
        if prev:
            d["prevResult"] = PREV
        d.update(extra)
        return d

    def gc_cfg(self, backend, valid, name="pods"):
        return self.cfg(backend, name=name, prev=False, **{
            "cni.dev/valid-attachments": [
                {"containerID": c, "ifname": i} for c, i in valid]})

    def env(self, cmd, state, pod=None, cid=None, ifname=None, over=None):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": cmd,
               "MESHCAP_STATE_DIR": state}
        if cmd in ("ADD", "DEL", "CHECK"):
            env["CNI_CONTAINERID"] = cid or pod.cid
            env["CNI_NETNS"] = pod.path if pod else ""
            env["CNI_IFNAME"] = ifname or (pod.ifname if pod else "eth0")
            env["CNI_ARGS"] = POD_ARGS
        for k, v in (over or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def start(self, cmd, cfg, state, pod=None, cid=None, ifname=None,
              over=None, gate=False):
        data = cfg if isinstance(cfg, bytes) else dumps(cfg).encode()
        return Handle(self, self.env(cmd, state, pod, cid, ifname, over), data,
                      gate)

    def run(self, *a, **k):
        return self.start(*a, **k).finish()

    def judge(self, part, r, cmd, label, killed_ok=False, out_expect=None):
        """Checks that the process printed its result or an error JSON and
        died of no signal but ours. Returns (kind, code): kind is one of ok,
        error, killed, crash, hang, bad."""
        if r.hung:
            self.check(False, part, f"{label}: {cmd} hung for {TIMEOUT} s")
            return "hang", None
        if r.sig is not None:
            if killed_ok and r.sig == signal.SIGKILL:
                return "killed", None
            self.crashes[part] += 1
            self.check(False, part,
                       f"{label}: {cmd} died by signal {r.sig}; stderr: "
                       f"{r.err[-400:]!r}")
            return "crash", None
        if r.rc == 0:
            if cmd in ("ADD", "VERSION"):
                if out_expect is not None:
                    ok = r.out == out_expect
                else:
                    try:
                        j = json.loads(r.out)
                        ok = isinstance(j, dict) and "cniVersion" in j
                    except ValueError:
                        ok = False
            else:
                ok = r.out.strip() == b""
            self.check(ok, part, f"{label}: {cmd} exit 0 with output "
                       f"{r.out[:200]!r}")
            return "ok", 0
        if r.rc == 1:
            try:
                j = json.loads(r.out)
                ok = (isinstance(j, dict) and isinstance(j.get("code"), int)
                      and j["code"] in KNOWN_CODES
                      and isinstance(j.get("msg"), str)
                      and r.out.endswith(b"\n") and r.out.count(b"\n") == 1)
            except ValueError:
                j, ok = {}, False
            self.check(ok, part, f"{label}: {cmd} exit 1 without an error "
                       f"JSON: {r.out[:300]!r}")
            if self.verbose:
                print(f"  [{label}] {cmd} -> {r.out[:240]!r}")
            return "error", (j.get("code") if isinstance(j, dict) else None)
        self.check(False, part, f"{label}: {cmd} exit status {r.rc}; "
                   f"{r.out[:200]!r} {r.err[-200:]!r}")
        return "bad", None

    # ---- what a pod holds ----------------------------------------------

    def kernel(self, path, full=False):
        """{backend: capture present} in the namespace at `path`, and with
        `full` the whole ruleset text, comment lines dropped."""
        script = ("nft list ruleset; echo @@; iptables-legacy-save; echo @@; "
                  "ip6tables-legacy-save" if full else
                  "nft list tables; echo @@; iptables-legacy-save -t nat")
        r = subprocess.run(["nsenter", "--net=" + path, "sh", "-c", script],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        text = r.stdout.decode(errors="replace")
        parts = text.split("@@\n")
        if r.returncode != 0 or len(parts) < 2:
            raise RuntimeError(f"cannot read {path}: {r.stderr[-300:]!r}")
        found = {"nftables": "table inet istio-proxy-nat" in parts[0],
                 "iptables-legacy": "ISTIO_" in parts[1]}
        if full:
            found["text"] = "\n".join(
                line for line in text.splitlines()
                if not line.startswith("#"))
        return found

    def record_path(self, state, cid, ifname="eth0", net="pods"):
        d = f"{state}/cni/{file_name_for(net, 64)}"
        if os.path.islink(d) and os.path.isdir(d + ".saved"):
            d += ".saved"  # hidden by a planted link (part "state")
        return f"{d}/{file_name_for(cid, 128)}@{ifname}.json"

    def has_record(self, state, cid, ifname="eth0", net="pods"):
        return os.path.lexists(self.record_path(state, cid, ifname, net))

    def observe(self, part, state, pod, backend, label, cid=None,
                ifname=None, net="pods"):
        """(record, capture) of the attachment; ours is never in the other
        backend."""
        k = self.kernel(pod.path)
        self.check(not k[OTHER[backend]], part,
                   f"{label}: a capture in {OTHER[backend]} too")
        return (self.has_record(state, cid or pod.cid, ifname or pod.ifname,
                                net), k[backend])

    def delete(self, part, state, pod, backend, label, cfg=None, cid=None,
               ifname=None, expect_clean=True):
        """The runtime's DEL, retried up to DEL_TRIES times; then neither
        record nor capture. Returns the tries it took (0: never)."""
        cfg = cfg or self.cfg(backend)
        code = None
        for t in range(1, DEL_TRIES + 1):
            r = self.run("DEL", cfg, state, pod, cid, ifname)
            kind, code = self.judge(part, r, "DEL", label)
            if kind == "ok":
                if expect_clean and pod.alive:
                    rec, cap = self.observe(part, state, pod, backend, label,
                                            cid, ifname)
                    self.check(not rec and not cap, part,
                               f"{label}: after DEL record={rec} "
                               f"capture={cap}")
                return t
        self.check(False, part, f"{label}: DEL failed {DEL_TRIES} times "
                   f"(last code {code}): the pod is wedged")
        return 0

    def add_ok(self, part, state, pod, backend, label, cfg=None, cid=None,
               ifname=None, net="pods"):
        r = self.run("ADD", cfg or self.cfg(backend), state, pod, cid, ifname)
        kind, code = self.judge(part, r, "ADD", label)
        ok = self.check(kind == "ok", part, f"{label}: ADD failed ({code}): "
                        f"{r.out[:300]!r}")
        if ok:
            j = json.loads(r.out)
            self.check(j == (cfg or self.cfg(backend)).get("prevResult", j),
                       part, f"{label}: ADD did not hand prevResult on")
            rec, cap = self.observe(part, state, pod, backend, label, cid,
                                    ifname, net)
            ok = self.check(rec and cap, part, f"{label}: after ADD record="
                            f"{rec} capture={cap}")
        return ok

    def cookie(self, state, cid, ifname="eth0", net="pods"):
        with open(self.record_path(state, cid, ifname, net)) as f:
            return json.load(f)["netnsCookie"]

    # ---- what must not change ------------------------------------------

    def tree(self, root, hashes=True):
        """Everything under `root` (no link followed): path -> facts."""
        out = {}
        if not os.path.lexists(root):
            return out
        for dirpath, dirs, files in os.walk(root):
            for name in dirs + files:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                facts = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                         st.st_mtime_ns, st.st_ctime_ns)
                if os.path.islink(p):
                    facts += (os.readlink(p),)
                elif hashes and os.path.isfile(p):
                    with open(p, "rb") as f:
                        facts += (hashlib.sha256(f.read()).hexdigest(),)
                out[p] = facts
        return out

    def outside_snapshot(self):
        return {**self.tree(self.outside), **self.tree("/run")}

    def outside_same(self, part, before, label):
        after = self.outside_snapshot()
        if after == before:
            return self.check(True, part, "")
        diff = sorted(set(before.items()) ^ set(after.items()))
        return self.check(False, part, f"{label}: outside the state "
                          f"directory changed: {diff[:4]}")

    def leftovers(self, state, nets=("pods",), live=()):
        """Files under `state` that are neither its skeleton nor a live
        attachment's; `live` holds (net, cid, ifname, cookie)."""
        allowed = {"cni", "cni/xtables.lock", "cni/.ns"}
        allowed |= {f"cni/{file_name_for(n, 64)}" for n in nets}
        for net, cid, ifname, cookie in live:
            netf = file_name_for(net, 64)
            stem = f"{file_name_for(cid, 128)}@{ifname}"
            allowed |= {f"cni/{netf}/{stem}.json", f"cni/.ns/cookie-{cookie}",
                        f"cni/.ns/cookie-{cookie}.lock",
                        f"cni/.ns/cookie-{cookie}/{netf}+{stem}"}
        rels = (os.path.relpath(p, state) for p in self.tree(state, False))
        return sorted(r for r in rels if r not in allowed)

    def clean(self, part, state, label, nets=("pods",), live=()):
        left = self.leftovers(state, nets, live)
        ok = self.check(not left, part,
                        f"{label}: left in the state directory: {left[:6]}")
        # Reported once: the next trial starts clean.
        for rel in sorted(left, key=len, reverse=True):
            p = os.path.join(state, rel)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)
        return ok

    def work_root_same(self, part):
        """Nothing but the campaign's own beside the state directories."""
        mine = ("io", "ns", "outside", "meshcap-cni")
        odd = [n for n in os.listdir(self.work)
               if n not in mine and not n.startswith("state-")]
        return self.check(not odd, part, f"{part}: made beside the state "
                          f"directories: {odd[:6]}")

    def tmp_left(self, part, state, label, planted=()):
        tmps = [p for p in self.tree(state, False)
                if p.endswith(".tmp") and p not in planted]
        return self.check(not tmps, part, f"{label}: *.tmp left: {tmps[:4]}")

    # ---- part 1: SIGKILL during each verb --------------------------------

    def part_kill(self, verb, backend, n):
        part = f"kill {verb} {backend}"
        t0 = time.perf_counter()
        state = self.new_state(f"kill-{verb}-{backend}")
        st = collections.Counter()
        out0 = self.outside_snapshot()
        # Kills land anywhere in the verb: from exec to a little after its
        # usual end (at least 0-3 ms).
        span = max(0.003, 1.25 * self.calibrate(verb, backend))
        for i in range(n):
            failed0 = self.failed
            delay = self.rng.uniform(0, span)
            label = f"{part} #{i} at {delay * 1e3:.2f} ms"
            trial = getattr(self, "kill_" + verb.lower())
            trial(part, state, backend, i, delay, label, st)
            # Converged: the pod's state after the follow-up.
            st["converged"] += self.failed == failed0
            # A file left in the state directory is a failure of its own,
            # unless the runtime's next GC takes it: temporary records go
            # once stale (a minute), so they are aged first.
            old = time.time() - 120
            for p in self.tree(state, False):
                if p.endswith(".tmp"):
                    os.utime(p, (old, old), follow_symlinks=False)
                    st["tmp"] += 1
            r = self.run("GC", self.gc_cfg(backend, []), state)
            kind, code = self.judge(part, r, "GC", label + " (later GC)")
            self.check(kind == "ok", part, f"{label}: the later GC gave "
                       f"{code}: {r.out[:300]!r}")
            st["leaks"] += not self.clean(part, state, label)
        self.outside_same(part, out0, part)
        what = {"ADD": f"before the record {st['before']}, record without "
                       f"capture {st['record']}, record and capture "
                       f"{st['both']}",
                "DEL": f"record and capture kept {st['both']}, capture "
                       f"removed {st['record']}, both gone {st['gone']}",
                "CHECK": f"capture and record intact {st['both']}",
                "GC": f"stale records left 2: {st['left2']}, 1: "
                      f"{st['left1']}, 0: {st['left0']}"}[verb]
        self.say(f"cni-faults kill {verb} {backend}: {n} kills at 0-"
                 f"{span * 1e3:.1f} ms, "
                 f"{self.crashes[part]} crashes, {st['converged']}/{n} "
                 f"converged, {st['leaks']} left a file in the state "
                 f"directory past the next GC ({st['tmp']} temporary records"
                 f" left for GC; {st['landed']} landed, {st['finished']} "
                 f"after the verb finished; {what}; DEL tries "
                 f"{st['deltries']}) "
                 f"[{time.perf_counter() - t0:.1f} s]")

    def killed_run(self, part, verb, cfg, state, pod, delay, label, st):
        h = self.start(verb, cfg, state, pod)
        h.kill_after(delay)
        r = h.finish()
        kind, code = self.judge(part, r, verb, label, killed_ok=True)
        if kind == "killed":
            st["landed"] += 1
        elif kind == "ok":
            st["finished"] += 1
        else:
            self.check(False, part, f"{label}: {verb} failed ({kind} {code})"
                       f": {r.out[:300]!r}")
        return kind

    def kill_add(self, part, state, backend, i, delay, label, st):
        pod = Pod(self, self.new_id("ka"))
        self.killed_run(part, "ADD", self.cfg(backend), state, pod, delay,
                        label, st)
        rec, cap = self.observe(part, state, pod, backend, label)
        st["before" if not rec else "both" if cap else "record"] += 1
        self.check(rec or not cap, part,
                   f"{label}: a capture without its record after the kill")
        if i % 2 == 0:
            # The runtime retries the ADD, and later deletes the pod.
            self.add_ok(part, state, pod, backend, label + " (retried ADD)")
        st["deltries"] += self.delete(part, state, pod, backend, label)
        pod.remove()

    def kill_del(self, part, state, backend, i, delay, label, st):
        pod = Pod(self, self.new_id("kd"))
        self.add_ok(part, state, pod, backend, label)
        self.killed_run(part, "DEL", self.cfg(backend), state, pod, delay,
                        label, st)
        rec, cap = self.observe(part, state, pod, backend, label)
        st["both" if rec and cap else "record" if rec else "gone"] += 1
        self.check(rec or not cap, part,
                   f"{label}: a capture without its record after the kill")
        st["deltries"] += self.delete(part, state, pod, backend, label)
        pod.remove()

    def kill_check(self, part, state, backend, i, delay, label, st):
        pod = Pod(self, self.new_id("kc"))
        self.add_ok(part, state, pod, backend, label)
        self.killed_run(part, "CHECK", self.cfg(backend), state, pod, delay,
                        label, st)
        rec, cap = self.observe(part, state, pod, backend, label)
        if self.check(rec and cap, part, f"{label}: a killed CHECK changed "
                      f"the pod: record={rec} capture={cap}"):
            st["both"] += 1
        r = self.run("CHECK", self.cfg(backend), state, pod)
        kind, code = self.judge(part, r, "CHECK", label)
        self.check(kind == "ok", part, f"{label}: CHECK after the kill: "
                   f"{code} {r.out[:300]!r}")
        st["deltries"] += self.delete(part, state, pod, backend, label)
        pod.remove()

    def kill_gc(self, part, state, backend, i, delay, label, st):
        valid = Pod(self, self.new_id("kgv"))
        self.add_ok(part, state, valid, backend, label)
        stale = []
        for _ in range(2):
            p = Pod(self, self.new_id("kgs"))
            self.add_ok(part, state, p, backend, label)
            p.remove()  # the runtime lost the pod without a DEL
            stale.append(p)
        cfg = self.gc_cfg(backend, [(valid.cid, "eth0")])
        self.killed_run(part, "GC", cfg, state, None, delay, label, st)
        left = sum(self.has_record(state, p.cid) for p in stale)
        st[f"left{left}"] += 1
        rec, cap = self.observe(part, state, valid, backend, label)
        self.check(rec and cap, part, f"{label}: the valid pod after the "
                   f"killed GC: record={rec} capture={cap}")
        for t in range(1, DEL_TRIES + 1):
            r = self.run("GC", cfg, state)
            kind, code = self.judge(part, r, "GC", label)
            if kind == "ok":
                break
        self.check(kind == "ok", part, f"{label}: GC failed {DEL_TRIES} times"
                   f" after the kill ({code})")
        left = [p.cid for p in stale if self.has_record(state, p.cid)]
        self.check(not left, part, f"{label}: GC left stale records {left}")
        rec, cap = self.observe(part, state, valid, backend, label)
        self.check(rec and cap, part, f"{label}: the valid pod after GC: "
                   f"record={rec} capture={cap}")
        st["deltries"] += self.delete(part, state, valid, backend, label)
        valid.remove()

    # ---- part 2: hostile configuration and environment -------------------

    def hostile_cases(self, backend):
        """(label, text, scope, expect): scope "pod" is what a pod may fill
        (args, runtimeConfig, prevResult): DEL must succeed whatever it
        holds; "node" is the document or the node's own keys. expect is the
        set of ADD/CHECK outcomes allowed: error codes, or 0."""
        base = self.cfg(backend)
        deep_a = "[" * 50000 + "]" * 50000
        deep_o = '{"a":' * 50000 + "1" + "}" * 50000
        caps = dict(base, capabilities={"meshcap": True})
        good = dumps(base)
        E = {1, 2, 4, 5, 6, 7}   # any configuration error
        cases = [
            ("args.cni.meshcap 50000 [", with_raw(
                base, "args", '{"cni":{"meshcap":' + deep_a + "}}"),
             "pod", {6}),
            ("args 50000 {", with_raw(base, "args", deep_o), "pod", {6}),
            ("runtimeConfig.meshcap 50000 [", with_raw(
                caps, "runtimeConfig", '{"meshcap":' + deep_a + "}"),
             "pod", {6}),
            ("runtimeConfig 50000 [", with_raw(caps, "runtimeConfig", deep_a),
             "pod", {6}),
            ("prevResult 50000 [", with_raw(base, "prevResult", deep_a),
             "pod", {6}),
            ("prevResult 50000 {", with_raw(base, "prevResult", deep_o),
             "pod", {6}),
            ("prevResult.ips 50000 [", with_raw(
                base, "prevResult", '{"cniVersion":"1.1.0","ips":' + deep_a +
                "}"), "pod", {6}),
            ("policy 50000 [", with_raw(base, "policy", deep_a), "node", {6}),
            ("policy.InboundPortsInclude 50000 {", with_raw(
                base, "policy", '{"InboundPortsInclude":' + deep_o + "}"),
             "node", {6}),
            ("50000 [ unclosed in args", with_raw(
                base, "args", '{"cni":{"meshcap":' + "[" * 50000),
             "node", {6}),
            ("50000 [ after the object", good.encode() + b"[" * 50000,
             "node", {6}),
            ("NUL in a string", good.replace('"pods"', '"po\x00ds"').encode(),
             "node", {6}),
            ("NUL between tokens", good.replace(
                ',"backend"', ',\x00"backend"').encode(), "node", {6}),
            ("NUL after the object", good.encode() + b"\x00", "node", {6}),
            ("NUL in args", with_raw(base, "args", '{"cni":\x00{}}'),
             "node", {6}),
            ("trailing x", good.encode() + b"x", "node", {6}),
            ("trailing {}", good.encode() + b"{}", "node", {6}),
            ("trailing ]", good.encode() + b"]", "node", {6}),
            ("trailing blanks", good.encode() + b" \n\t\r\n", "node", {0}),
            ("empty stdin", b"", "node", {6}),
            ("not UTF-8 in a key", good.replace(
                '"podSelection"', '"pod\xffSelection"').encode("latin-1"),
             "node", {2, 6}),
            ("BOM", b"\xef\xbb\xbf" + good.encode(), "node", {0, 6}),
            ("top level []", b"[]", "node", {6}),
            ("top level null", b"null", "node", {6}),
            ("top level string", b'"x"', "node", {6}),
            ("repeated name", good.replace(
                '"name":"pods"', '"name":"pods","name":"other"').encode(),
             "node", {7}),
            ("repeated policy key", with_raw(
                base, "policy", '{"InboundPortsInclude":"*",'
                '"InboundPortsInclude":"80"}'), "node", {7}),
            ("repeated key in prevResult", with_raw(
                base, "prevResult", '{"cniVersion":"1.1.0","ips":[],'
                '"ips":[]}'), "pod", {7}),
            ("repeated key in args", with_raw(
                base, "args", '{"cni":{"meshcap":{"skip":false,'
                '"skip":true}}}'), "pod", {7}),
            ("repeated key in runtimeConfig", with_raw(
                caps, "runtimeConfig", '{"meshcap":{},"meshcap":{}}'),
             "pod", {7}),
        ]
        node_types = [
            ("cniVersion", 1), ("cniVersion", "9.9.9"), ("cniVersion", None),
            ("cniVersion", "0.3.1"), ("name", 5), ("name", ""),
            ("name", "a/b"), ("name", ".."), ("type", 5), ("podSelection", 5),
            ("podSelection", "bogus"), ("backend", 7), ("backend", "bogus"),
            ("policy", []), ("policy", "x"),
            # Policy values may be numbers where natural (policy_json.h).
            ("policy", {"InboundPortsInclude": 5}, {0}),
            ("policy", {"Bogus": "1"}),
            ("policy", {"ProxyPort": "99999"}),
            ("excludeNamespaces", "x"), ("excludeNamespaces", [1]),
            ("logLevel", 3), ("logLevel", "loud"), ("logFile", {}),
            ("logFile", "relative/log"), ("capabilities", []),
            ("capabilities", {"meshcap": "yes"}, {0}), ("profile", 5),
            ("profile", "bogus"), ("bogus", 1), ("kubeconfig", 5),
            ("exclude_namespaces", {}), ("ambient_enabled", "yes"),
        ]
        for key, value, *ok in node_types:
            d = dict(base)
            if value is None:
                d.pop(key)
            else:
                d[key] = value
            # A bad policy value is found when the policy is built, which
            # DEL never does.
            shown = dumps(value) if value is not None else "(missing)"
            cases.append((f"{key}={shown}", dumps(d).encode(), "node",
                          ok[0] if ok else E | {100}))
        pod_types = [
            # args.cni is for other plugins too: only args.cni.meshcap is
            # meshcap-cni's to judge.
            ("args", 5), ("args", []), ("args", "x"),
            ("args", {"cni": 5}, {0}),
            ("args", {"cni": {"meshcap": "x"}}),
            ("args", {"cni": {"meshcap": []}}),
            ("args", {"cni": {"meshcap": {"skip": "yes"}}}),
            ("args", {"cni": {"meshcap": {"skip": None}}}),
            ("args", {"cni": {"meshcap": {"profile": 1}}}),
            ("args", {"cni": {"meshcap": {"profile": "bogus"}}}),
            ("args", {"cni": {"meshcap": {"policy": []}}}),
            ("args", {"cni": {"meshcap": {"policy": {
                "InboundPortsInclude": 5}}}}, {0}),
            ("args", {"cni": {"meshcap": {"policy": {"Bogus": "1"}}}}),
            ("args", {"cni": {"meshcap": {"policy": {"ProxyPort": "-1"}}}}),
            ("args", {"cni": {"meshcap": {"bogus": 1}}}),
            ("runtimeConfig", 5), ("runtimeConfig", {"meshcap": 5}),
            ("runtimeConfig", {"meshcap": {"skip": 1}}),
            ("runtimeConfig", {"meshcap": {"policy": "x"}}),
            ("runtimeConfig", {"meshcap": {"policy": {
                "OutboundIPRangesInclude": "x/99"}}}),
            ("prevResult", 5), ("prevResult", []), ("prevResult", "x"),
            ("prevResult", None), ("prevResult", True),
        ]
        for key, value, *ok in pod_types:
            d = dict(caps if key == "runtimeConfig" else base)
            d[key] = value
            cases.append((f"{key}={dumps(value)}", dumps(d).encode(), "pod",
                          ok[0] if ok else E | {100}))
        return cases

    def part_hostile(self, backend):
        part = f"hostile {backend}"
        t0 = time.perf_counter()
        state = self.new_state(f"hostile-{backend}")
        out0 = self.outside_snapshot()
        st = collections.Counter()
        cap_pod = Pod(self, self.new_id("hc"))     # holds a capture
        fresh = Pod(self, self.new_id("hf"))       # never captured
        self.add_ok(part, state, cap_pod, backend, part)
        cases = self.hostile_cases(backend)

        def live():
            return [("pods", cap_pod.cid, "eth0",
                     self.cookie(state, cap_pod.cid))]

        def snapshot():
            with open(self.record_path(state, cap_pod.cid), "rb") as f:
                rec = json.load(f)
            rec.pop("pid"), rec.pop("time")
            return self.kernel(cap_pod.path, full=True)["text"], rec

        for label, text, scope, expect in cases:
            failed0 = self.failed
            label = f"{part}: {label}"
            before = snapshot()
            r = self.run("ADD", text, state, cap_pod)
            kind, add_code = self.judge(part, r, "ADD", label)
            self.check(add_code in expect, part, f"{label}: ADD gave "
                       f"{add_code}, expected one of {sorted(expect)}: "
                       f"{r.out[:300]!r}")
            if add_code == 0:
                # Accepted: the pod holds what it asked for, CHECK agrees.
                rec, cap = self.observe(part, state, cap_pod, backend, label)
                self.check(rec and cap, part, f"{label}: accepted ADD left "
                           f"record={rec} capture={cap}")
            else:
                self.check(snapshot() == before, part,
                           f"{label}: a refused ADD changed the pod")
            after_add = snapshot()
            r = self.run("CHECK", text, state, cap_pod)
            kind, code = self.judge(part, r, "CHECK", label)
            self.check(code == 0 if add_code == 0 else code in expect - {0},
                       part, f"{label}: CHECK gave {code} where ADD gave "
                       f"{add_code}: {r.out[:300]!r}")
            self.check(snapshot() == after_add, part,
                       f"{label}: CHECK changed the pod")
            r = self.run("ADD", text, state, fresh)
            kind, code = self.judge(part, r, "ADD", label + " (fresh pod)")
            rec, cap = self.observe(part, state, fresh, backend, label)
            self.check(code in expect, part, f"{label}: ADD of a fresh pod "
                       f"gave {code}")
            self.check(rec == cap and rec == (code == 0), part,
                       f"{label}: ADD ({code}) of a fresh pod left "
                       f"record={rec} capture={cap}")
            if code == 0:
                self.delete(part, state, fresh, backend, label)
            self.clean(part, state, label, live=live())
            r = self.run("DEL", text, state, cap_pod)
            kind, code = self.judge(part, r, "DEL", label)
            if scope == "pod" or add_code == 0:
                self.check(code == 0, part, f"{label}: DEL must succeed "
                           f"whatever the pod put there; gave {code}: "
                           f"{r.out[:300]!r}")
            if code == 0:
                rec, cap = self.observe(part, state, cap_pod, backend, label)
                self.check(not rec and not cap, part, f"{label}: after DEL "
                           f"record={rec} capture={cap}")
            else:
                self.check(snapshot() == after_add, part,
                           f"{label}: a failed DEL changed the pod")
                if scope == "pod":
                    st["pod_del_refused"] += 1
            if code == 0 or add_code == 0:
                # Back to the node's policy for the next case.
                self.add_ok(part, state, cap_pod, backend, label + " (re-ADD)")
            st["cases"] += 1
            st["add_err" if add_code else "add_ok"] += 1
            st["del_ok" if code == 0 else "del_err"] += 1
            if self.failed != failed0:
                st["bad"] += 1
        self.outside_same(part, out0, part)
        # 60 MB of prevResult: handed on byte for byte, and quickly.
        times = self.big_prev_result(part, state, cap_pod, fresh, backend)
        env_n = self.hostile_env(part, state, cap_pod, fresh, backend)
        self.delete(part, state, cap_pod, backend, part)
        self.clean(part, state, part)
        self.outside_same(part, out0, part)
        cap_pod.remove()
        fresh.remove()
        self.say(f"cni-faults hostile {backend}: {st['cases']} configurations"
                 f" (ADD refused {st['add_err']}, accepted {st['add_ok']}; "
                 f"DEL succeeded {st['del_ok']}, refused {st['del_err']}), "
                 f"{env_n} environments, {self.crashes[part]} crashes, "
                 f"{self.part_failed[part]} failed checks; 60 MB prevResult: "
                 f"ADD {times['ADD']:.3f} s ({times['cpu']:.3f} s CPU, "
                 f"{times['ratio']:.1f}x 6 MB's), "
                 f"CHECK {times['CHECK']:.3f} s, "
                 f"DEL {times['DEL']:.3f} s; 64 MiB + 1 refused by "
                 f"{times['big']} [{time.perf_counter() - t0:.1f} s]")

    @staticmethod
    def prev_result_of(size):
        """A prevResult of exactly size bytes: many addresses, then padding."""
        entry = ('{"address":"203.0.113.77/24","gateway":"203.0.113.1",'
                 '"interface":0}')
        head = ('{"cniVersion":"1.1.0","interfaces":[{"name":"eth0",'
                '"sandbox":"/var/run/netns/x"}],"dns":{},"ips":[')
        count = (size - len(head) - 2) // (len(entry) + 1)
        prev = head + ",".join([entry] * count) + '],"pad":"'
        return prev + "p" * (size - len(prev) - 2) + '"}'

    def timed_add(self, text, state, netns):
        """Runs ADD; returns the result and the CPU seconds it took."""
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = self.run("ADD", text, state, netns)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r, ((ru1.ru_utime - ru0.ru_utime) +
                   (ru1.ru_stime - ru0.ru_stime))

    def big_prev_result(self, part, state, cap_pod, fresh, backend):
        base = self.cfg(backend)
        times = {}
        label = f"{part}: 60 MB prevResult"
        # A tenth of it first, for the scale: the plugin's work must grow
        # with the input, not faster. CPU time, which a busy machine does not
        # stretch as it does the wall time; a ratio, which a slow one does
        # not move.
        small = self.prev_result_of(6_000_000)
        self.check(len(small) == 6_000_000, part, "6 MB miscounted")
        text = with_raw(base, "prevResult", small)
        r, times["cpu6"] = self.timed_add(text, state, fresh)
        kind, code = self.judge(part, r, "ADD", label + " (6 MB)",
                                out_expect=small.encode() + b"\n")
        self.check(kind == "ok", part, f"{label}: 6 MB ADD gave {code}")
        r = self.run("DEL", text, state, fresh)
        kind, code = self.judge(part, r, "DEL", label + " (6 MB)")
        self.check(kind == "ok", part, f"{label}: 6 MB DEL gave {code}")
        prev = self.prev_result_of(60_000_000)
        self.check(len(prev) == 60_000_000, part, "60 MB miscounted")
        text = with_raw(base, "prevResult", prev)
        r, times["cpu"] = self.timed_add(text, state, fresh)
        times["ADD"] = r.elapsed
        kind, code = self.judge(part, r, "ADD", label,
                                out_expect=prev.encode() + b"\n")
        self.check(kind == "ok", part, f"{label}: ADD gave {code}")
        # Linear is 10x (less, with the fixed cost of an ADD); quadratic
        # would be 100x.
        ratio = times["cpu"] / max(times["cpu6"], 0.001)
        times["ratio"] = ratio
        self.check(ratio < 25, part, f"{label}: ADD took {ratio:.1f}x the "
                   f"CPU of 6 MB ({times['cpu']:.3f} s against "
                   f"{times['cpu6']:.3f} s)")
        rec, cap = self.observe(part, state, fresh, backend, label)
        self.check(rec and cap, part, f"{label}: record={rec} capture={cap}")
        r = self.run("CHECK", text, state, fresh)
        times["CHECK"] = r.elapsed
        kind, code = self.judge(part, r, "CHECK", label)
        self.check(kind == "ok", part, f"{label}: CHECK gave {code}")
        r = self.run("DEL", text, state, fresh)
        times["DEL"] = r.elapsed
        kind, code = self.judge(part, r, "DEL", label)
        self.check(kind == "ok", part, f"{label}: DEL gave {code}")
        rec, cap = self.observe(part, state, fresh, backend, label)
        self.check(not rec and not cap, part,
                   f"{label}: after DEL record={rec} capture={cap}")
        # Over the 64 MiB the plugin reads: refused, nothing changed.
        shell = with_raw(base, "prevResult", '{"cniVersion":"1.1.0","x":""}')
        over = with_raw(base, "prevResult",
                        '{"cniVersion":"1.1.0","x":"' +
                        "x" * ((64 << 20) + 1 - len(shell)) + '"}')
        self.check(len(over) == (64 << 20) + 1, part, "64 MiB + 1 miscounted")
        codes = []
        for verb in ("ADD", "DEL"):
            r = self.run(verb, over, state, cap_pod)
            kind, code = self.judge(part, r, verb, label + " (64 MiB + 1)")
            codes.append(f"{verb} {code}")
            self.check(kind == "error", part, f"{label}: {verb} of a 64 MiB"
                       f" configuration gave {code}")
        rec, cap = self.observe(part, state, cap_pod, backend, label)
        self.check(rec and cap, part, f"{label}: refused oversize changed "
                   f"the pod: record={rec} capture={cap}")
        times["big"] = ", ".join(codes)
        return times

    def hostile_env(self, part, state, cap_pod, fresh, backend):
        """A bad environment: error 4 (104 for the state directory), the
        pod unchanged."""
        canary = f"{self.outside}/canary.txt"
        cases = [
            ({"CNI_COMMAND": "BOGUS"}, {4}), ({"CNI_COMMAND": "add"}, {4}),
            ({"CNI_CONTAINERID": None}, {4}), ({"CNI_CONTAINERID": ""}, {4}),
            ({"CNI_CONTAINERID": "../../../etc"}, {4}),
            ({"CNI_CONTAINERID": "a/b"}, {4}),
            ({"CNI_CONTAINERID": "-x"}, {4}),
            ({"CNI_CONTAINERID": "x y"}, {4}),
            ({"CNI_CONTAINERID": "x\ny"}, {4}), ({"CNI_IFNAME": None}, {4}),
            ({"CNI_IFNAME": "x" * 16}, {4}), ({"CNI_IFNAME": ".."}, {4}),
            ({"CNI_IFNAME": "a/b"}, {4}), ({"CNI_IFNAME": "a:b"}, {4}),
            ({"CNI_NETNS": None}, {4}),
            ({"CNI_NETNS": "/proc/self/ns/net"}, {4}),
            ({"CNI_NETNS": f"/proc/{os.getpid()}/ns/net"}, {4}),
            ({"CNI_NETNS": "/proc/self/ns/mnt"}, {4}),
            ({"CNI_NETNS": f"{self.work}/no-such-netns"}, {4}),
            ({"CNI_NETNS": canary}, {4}), ({"CNI_NETNS": self.outside}, {4}),
            ({"CNI_NETNS": "relative/netns"}, {4}),
            ({"CNI_ARGS": "novalue"}, {4}), ({"CNI_ARGS": "=x"}, {4}),
            ({"MESHCAP_STATE_DIR": "relative/state"}, {104}),
            ({"MESHCAP_STATE_DIR": f"{self.work}/no/such/state"}, {104}),
            ({"MESHCAP_STATE_DIR": canary}, {104}),
        ]
        out0 = self.outside_snapshot()
        for over, expect in cases:
            label = f"{part}: env {over}"
            for pod in (cap_pod, fresh):
                before = self.observe(part, state, pod, backend, label)
                r = self.run("ADD", self.cfg(backend), state, pod, over=over)
                kind, code = self.judge(part, r, "ADD", label)
                self.check(code in expect, part, f"{label}: ADD gave {code}, "
                           f"expected {sorted(expect)}: {r.out[:300]!r}")
                self.check(self.observe(part, state, pod, backend, label) ==
                           before, part, f"{label}: ADD changed the pod")
        self.outside_same(part, out0, part + " env")
        self.check(not os.path.lexists(f"{self.work}/no"), part,
                   "a state directory was made under a missing parent")
        return len(cases)

    # ---- part 3: faults of the state directory ------------------------------

    def canaries(self):
        """Things outside the state directory for planted links to lead
        to; the campaign compares them (and /run) before and after."""
        if os.path.exists(f"{self.outside}/canary.txt"):
            return
        os.makedirs(f"{self.outside}/canary-dir", exist_ok=True)
        with open(f"{self.outside}/canary.txt", "wb") as f:
            f.write(b"canary " + os.urandom(16).hex().encode() + b"\n")
        with open(f"{self.outside}/canary-dir/inner.txt", "wb") as f:
            f.write(b"inner canary\n")

    def canary_record(self, cid):
        path = f"{self.outside}/record-{cid}.json"
        with open(path, "w") as f:
            f.write(dumps({"meshcapCni": 2, "containerID": cid,
                           "ifname": "eth0", "netns": "/proc/1/ns/net",
                           "netnsKey": "netns-0-1", "netnsCookie": 1,
                           "backend": "nftables", "policy": "0"}) + "\n")
        return path

    def part_state(self, backend):
        part = f"state {backend}"
        t0 = time.perf_counter()
        st = collections.Counter()
        cases = [
            ("link at <id>@eth0.json.tmp to a file", False, "tmp", True),
            ("link at <id>@eth0.json.tmp, dangling", False, "tmp", False),
            ("link at <id>@eth0.json.tmp after ADD", True, "tmp", True),
            ("link at <id>@eth0.json to a record", False, "rec", True),
            ("link at <id>@eth0.json, dangling", False, "rec", False),
            ("record replaced by a link", True, "rec", True),
            ("record replaced by a dangling link", True, "rec", False),
            ("link at cni/xtables.lock", False, "xt", True),
            ("link at cni/xtables.lock, dangling", False, "xt", False),
            ("link at cni/xtables.lock after ADD", True, "xt", True),
            ("cni/pods a link to a directory", False, "pods", True),
            ("cni/pods a link after ADD", True, "pods", True),
            ("cni/.ns a link after ADD", True, "nsdir", True),
            ("link at cni/.ns/<ns>.lock", True, "lock", True),
            ("link at cni/.ns/<ns>.lock, dangling", True, "lock", False),
            ("cni/.ns/<ns> a link to a directory", True, "refs", True),
            ("state directory 0777", True, "mode:.", 0o777),
            ("state directory 0770", False, "mode:.", 0o770),
            ("cni 0777", True, "mode:cni", 0o777),
            ("cni/pods 0777", True, "mode:cni/pods", 0o777),
            ("cni/.ns 0757", True, "mode:cni/.ns", 0o757),
            ("state directory owned by nobody", True, "owner:.", None),
            ("cni/pods owned by nobody", True, "owner:cni/pods", None),
            ("MESHCAP_STATE_DIR a link to a directory", False, "statelink",
             True),
            ("MESHCAP_STATE_DIR a regular file", False, "statefile", True),
        ]
        for label, pre, kind, arg in cases:
            failed0 = self.failed
            self.state_case(part, backend, f"{part}: {label}", pre, kind, arg,
                            st)
            st["cases"] += 1
            st["bad"] += self.failed != failed0
        for label, pre, opts, fill in (
                ("full (12k tmpfs, filled)", False, "size=12k", True),
                ("full (12k tmpfs, filled) after ADD", True, "size=12k", True),
                ("no inode left", False, "nr_inodes=2", False),
                ("3 inodes", False, "nr_inodes=3", False),
                ("4 inodes", False, "nr_inodes=4", False),
                ("5 inodes", False, "nr_inodes=5", False),
                ("6 inodes", False, "nr_inodes=6", False),
                ("7 inodes", False, "nr_inodes=7", False),
                ("8 inodes", False, "nr_inodes=8", False),
                ("9 inodes", False, "nr_inodes=9", False)):
            failed0 = self.failed
            self.full_case(part, backend, f"{part}: {label}", pre, opts, fill,
                           st)
            st["cases"] += 1
            st["bad"] += self.failed != failed0
        for pre in (False, True):
            failed0 = self.failed
            self.readonly_case(part, backend, f"{part}: read-only" +
                               (" after ADD" if pre else ""), pre, st)
            st["cases"] += 1
            st["bad"] += self.failed != failed0
        codes = ", ".join(f"{k} {v}" for k, v in sorted(st.items())
                          if k.startswith("code"))
        self.say(f"cni-faults state {backend}: {st['cases']} faults, "
                 f"{self.crashes[part]} crashes, {st['cases'] - st['bad']}/"
                 f"{st['cases']} converged (outcomes under a fault: {codes}; "
                 f"DEL tries after {st['deltries']}) "
                 f"[{time.perf_counter() - t0:.1f} s]")

    def under_fault(self, part, backend, label, state, pod, verbs, expect,
                    st, planted=(), over=None):
        """Runs `verbs` while a fault is in place: each must give a code of
        `expect`[verb]; an error changes nothing of the pod; nothing
        outside changes; no *.tmp is left."""
        out0 = self.outside_snapshot()
        for verb in verbs:
            before = self.observe(part, state, pod, backend, label)
            cfg = (self.gc_cfg(backend, [(pod.cid, "eth0")]) if verb == "GC"
                   else self.cfg(backend))
            r = self.run(verb, cfg, state, pod if verb != "GC" else None,
                         over=over)
            kind, code = self.judge(part, r, verb, label)
            st[f"code {verb} {code}"] += 1
            if self.verbose:
                print(f"  {label}: {verb} -> {code}")
            self.check(code in expect[verb], part, f"{label}: {verb} gave "
                       f"{code}, expected {sorted(expect[verb])}: "
                       f"{r.out[:300]!r}")
            after = self.observe(part, state, pod, backend, label)
            if verb in ("CHECK", "GC"):
                self.check(after == before, part, f"{label}: {verb} ({code}) "
                           f"changed the pod: {before} -> {after}")
            elif code != 0:
                # A failed ADD may leave its record (written first, so that
                # the runtime's DEL finds what it left) but no new capture;
                # a failed DEL may have removed the capture but not yet the
                # record. Never a capture without its record.
                self.check(after[0] or not after[1], part, f"{label}: {verb}"
                           f" ({code}) left a capture without its record")
                self.check(after[1] == before[1] if verb == "ADD"
                           else after[0] == before[0], part,
                           f"{label}: failed {verb} ({code}): {before} -> "
                           f"{after}")
                st["error changed the pod"] += after != before
            elif verb == "ADD":
                self.check(after == (True, True), part, f"{label}: ADD left "
                           f"{after}")
            elif verb == "DEL":
                self.check(after == (False, False), part, f"{label}: DEL "
                           f"left {after}")
            self.outside_same(part, out0, f"{label}: {verb}")
            self.tmp_left(part, state, label, planted)

    def state_case(self, part, backend, label, pre, kind, arg, st):
        self.canaries()
        state = self.new_state("fault")
        pod = Pod(self, self.new_id("sf"))
        cfg = self.cfg(backend)
        # The store's skeleton, as the plugin makes it.
        for d in ("cni", "cni/pods", "cni/.ns"):
            os.mkdir(f"{state}/{d}", 0o700)
        os.close(os.open(f"{state}/cni/xtables.lock",
                         os.O_CREAT | os.O_WRONLY, 0o600))
        if pre:
            self.add_ok(part, state, pod, backend, label)
        rec_path = self.record_path(state, pod.cid)
        if kind == "rec" and arg is True:
            self.canary_record(pod.cid)
        out_case = self.outside_snapshot()
        target = (f"{self.outside}/canary.txt" if arg is True
                  else f"{self.outside}/absent-{pod.cid}")
        over = None
        planted = []
        E = {104}
        if kind == "tmp":
            planted = [rec_path + ".tmp"]
            os.symlink(target, planted[0])
            verbs, expect = ["ADD", "DEL"], {"ADD": {0, 104}, "DEL": {0}}
            if pre:
                verbs = ["DEL"]
        elif kind == "rec":
            if arg is True:
                target = f"{self.outside}/record-{pod.cid}.json"
            if pre:
                os.unlink(rec_path)
            os.symlink(target, rec_path)
            planted = [rec_path]
            verbs = ["DEL"] if pre else ["ADD", "DEL"]
            expect = {"ADD": {0, 104}, "DEL": {0}}
        elif kind == "xt":
            p = f"{state}/cni/xtables.lock"
            os.unlink(p)
            os.symlink(target, p)
            planted = [p]
            verbs = ["ADD", "CHECK", "DEL", "GC"]
            expect = {"ADD": E, "CHECK": E, "DEL": E, "GC": {0}}
        elif kind in ("pods", "nsdir"):
            sub = "pods" if kind == "pods" else ".ns"
            p = f"{state}/cni/{sub}"
            os.rename(p, p + ".saved")
            os.symlink(f"{self.outside}/canary-dir", p)
            planted = [p]
            verbs = ["ADD", "CHECK", "DEL", "GC"]
            expect = {"ADD": E, "CHECK": E, "DEL": E, "GC": E}
        elif kind == "lock":
            p = f"{state}/cni/.ns/cookie-{self.cookie(state, pod.cid)}.lock"
            os.unlink(p)
            os.symlink(target, p)
            planted = [p]
            verbs = ["ADD", "CHECK", "DEL"]
            expect = {"ADD": E, "CHECK": {0}, "DEL": E}
        elif kind == "refs":
            p = f"{state}/cni/.ns/cookie-{self.cookie(state, pod.cid)}"
            os.rename(p, p + ".saved")
            os.symlink(f"{self.outside}/canary-dir", p)
            planted = [p]
            verbs = ["ADD", "CHECK", "DEL"]
            expect = {"ADD": {0, 104}, "CHECK": {0}, "DEL": {0}}
        elif kind.startswith("mode:") or kind.startswith("owner:"):
            p = os.path.normpath(f"{state}/{kind.split(':', 1)[1]}")
            if kind.startswith("mode:"):
                os.chmod(p, arg)
            else:
                os.chown(p, 65534, 65534)
            verbs = ["ADD", "CHECK", "DEL", "GC"]
            expect = {"ADD": E, "CHECK": E, "DEL": E, "GC": E}
        elif kind == "statelink":
            link = f"{self.work}/state-link-{pod.cid}"
            os.symlink(f"{self.outside}/canary-dir", link)
            over = {"MESHCAP_STATE_DIR": link}
            verbs = ["ADD", "CHECK", "DEL", "GC"]
            expect = {"ADD": E, "CHECK": E, "DEL": E, "GC": E}
        elif kind == "statefile":
            over = {"MESHCAP_STATE_DIR": f"{self.outside}/canary.txt"}
            verbs = ["ADD", "CHECK", "DEL", "GC"]
            expect = {"ADD": E, "CHECK": E, "DEL": E, "GC": E}
        if not pre:
            # Nothing recorded: a DEL has nothing to do whatever the fault.
            expect["DEL"] = expect["DEL"] | {0}
            expect["CHECK"] = expect.get("CHECK", set()) | E
        self.under_fault(part, backend, label, state, pod, verbs, expect, st,
                         planted, over)
        self.check(not os.path.lexists(f"{self.outside}/absent-{pod.cid}"),
                   part, f"{label}: a dangling link's target was created")
        # The fault goes; the runtime's DEL converges.
        if kind in ("xt", "lock") or (
                kind in ("tmp", "rec") and os.path.islink(planted[0])):
            os.unlink(planted[0])
        elif kind in ("pods", "nsdir"):
            os.unlink(planted[0])
            os.rename(planted[0] + ".saved", planted[0])
        elif kind == "refs":
            # What the link hid went with it.
            os.unlink(planted[0])
            shutil.rmtree(planted[0] + ".saved")
        elif kind.startswith("mode:") or kind.startswith("owner:"):
            p = os.path.normpath(f"{state}/{kind.split(':', 1)[1]}")
            os.chmod(p, 0o700)
            os.chown(p, 0, 0)
        elif kind == "statelink":
            os.unlink(f"{self.work}/state-link-{pod.cid}")
        st["deltries"] += self.delete(part, state, pod, backend, label)
        self.tmp_left(part, state, label)
        self.clean(part, state, label)
        self.outside_same(part, out_case, label)
        pod.remove()

    def full_case(self, part, backend, label, pre, opts, fill, st):
        self.canaries()
        state = self.new_state("full")
        mount("tmpfs", state, "tmpfs", 0, "mode=0700," + opts)
        pod = Pod(self, self.new_id("sn"))
        try:
            if pre:
                self.add_ok(part, state, pod, backend, label)
            filler = f"{state}/filler"
            if fill:
                try:
                    with open(filler, "wb") as f:
                        while True:
                            f.write(b"\0" * 4096)
                            f.flush()
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
            E = {104}
            verbs = ["ADD", "CHECK", "DEL"] if pre else ["ADD", "CHECK",
                                                         "DEL", "GC"]
            expect = {"ADD": E | {0}, "CHECK": E | {0, 103}, "DEL": {0},
                      "GC": E | {0}}
            if fill:
                # A record cannot be written: ADD must fail, cleanly.
                expect["ADD"] = E
            self.under_fault(part, backend, label, state, pod, verbs, expect,
                             st)
            if os.path.exists(filler):
                os.unlink(filler)
            if not fill:
                mount(None, state, None, MS_REMOUNT, "nr_inodes=1000")
            if pre:
                # The fault is gone: the pod can be added and deleted.
                self.add_ok(part, state, pod, backend, label + " (after)")
            st["deltries"] += self.delete(part, state, pod, backend, label)
            self.tmp_left(part, state, label)
            self.clean(part, state, label)
        finally:
            umount(state)
            pod.remove()

    def readonly_case(self, part, backend, label, pre, st):
        self.canaries()
        state = self.new_state("ro")
        mount("tmpfs", state, "tmpfs", 0, "mode=0700,size=1m")
        pod = Pod(self, self.new_id("sr"))
        other = Pod(self, self.new_id("sr"))
        try:
            if pre:
                self.add_ok(part, state, pod, backend, label)
            else:
                self.run("GC", self.gc_cfg(backend, []), state)
            mount(None, state, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            E = {104}
            self.under_fault(part, backend, label, state, pod,
                             ["ADD", "CHECK", "DEL", "GC"],
                             # DEL may take the capture away and fail on
                             # the record, or succeed: either converges.
                             {"ADD": E, "CHECK": E | {0}, "DEL": {0, 104},
                              "GC": {0, 104}},
                             st)
            self.under_fault(part, backend, label + " (another pod)", state,
                             other, ["ADD", "DEL"],
                             {"ADD": E, "DEL": {0, 104}}, st)
            mount(None, state, None, MS_REMOUNT | MS_BIND)
            for p in (pod, other):
                st["deltries"] += self.delete(part, state, p, backend, label)
            self.tmp_left(part, state, label)
            self.clean(part, state, label)
        finally:
            umount(state)
            pod.remove()
            other.remove()

    # ---- part 4: long IDs and names ------------------------------------

    def long_id(self, n, prefix=""):
        alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
        s = prefix + "".join(self.rng.choice(alnum) for _ in range(n))
        return s[:n]

    def part_long(self, backend):
        part = f"long {backend}"
        t0 = time.perf_counter()
        st = collections.Counter()
        out0 = self.outside_snapshot()
        long_net = "net-" + self.long_id(246)
        shared = self.long_id(200)
        sizes = (236, 300, 1000, 4096, 65536, 100000)
        for net in ("pods", long_net):
            for n in sizes:
                # Each in a state directory of its own, beside another pod
                # that keeps the network's directory.
                self.long_trial(part, backend, net, self.long_id(n), st)
            # Two IDs that share their first 200 bytes, in one namespace
            # each: distinct records; deleting one keeps the other.
            state = self.new_state("long")
            a = Pod(self, shared + self.long_id(100))
            b = Pod(self, shared + self.long_id(100))
            cfg = self.cfg(backend, name=net)
            label = f"{part}: network of {len(net)} bytes, IDs sharing 200"
            failed0 = self.failed
            for p in (a, b):
                self.add_ok(part, state, p, backend, label, cfg=cfg, net=net)
            self.delete(part, state, a, backend, label, cfg=cfg)
            rec, cap = self.observe(part, state, b, backend, label, net=net)
            self.check(rec and cap, part, f"{label}: deleting one took the "
                       f"other's record={rec} capture={cap}")
            self.delete(part, state, b, backend, label, cfg=cfg)
            self.clean(part, state, label, nets=(net,))
            for p in (a, b):
                p.remove()
            st["ids"] += 1
            st["bad"] += self.failed != failed0
        self.outside_same(part, out0, part)
        self.say(f"cni-faults long {backend}: {st['ids']} trials in 2 "
                 f"networks (names of 4 and 250 bytes; container IDs of "
                 f"{', '.join(map(str, sizes))} bytes, and two sharing 200), "
                 f"{self.crashes[part]} crashes, {st['ids'] - st['bad']}/"
                 f"{st['ids']} converged (ADD, CHECK, DEL; ADD, GC listing "
                 f"it, DEL; ADD, GC of the lost pod; {st['refused']} whose "
                 f"record would be over {RECORD_CAP} bytes: ADD refused, "
                 f"DEL, GC) [{time.perf_counter() - t0:.1f} s]")

    def long_trial(self, part, backend, net, cid, st):
        label = (f"{part}: network of {len(net)} bytes, container ID of "
                 f"{len(cid)} bytes")
        failed0 = self.failed
        state = self.new_state("long")
        cfg = self.cfg(backend, name=net)
        keeper = Pod(self, self.new_id("keeper"))
        self.add_ok(part, state, keeper, backend, label, cfg=cfg, net=net)
        keep = [(net, keeper.cid, "eth0",
                 self.cookie(state, keeper.cid, net=net))]
        pod = Pod(self, cid)
        size = len(cid) + len(pod.path)
        if size + RECORD_REST[0] > RECORD_CAP:
            # Its record could not be read back: refused before anything
            # changes, and nothing is left to find.
            self.long_refused(part, backend, label, state, cfg, net, pod,
                              keep, st)
        elif size + RECORD_REST[1] <= RECORD_CAP:
            self.long_lived(part, backend, label, state, cfg, net, pod,
                            keeper, keep, st)
        rec, cap = self.observe(part, state, keeper, backend, label, net=net)
        self.check(rec and cap, part, f"{label}: the other pod lost "
                   f"record={rec} capture={cap}")
        self.delete(part, state, keeper, backend, label, cfg=cfg)
        self.clean(part, state, label, nets=(net,))
        keeper.remove()
        pod.remove()
        st["ids"] += 1
        st["bad"] += self.failed != failed0

    def long_refused(self, part, backend, label, state, cfg, net, pod, keep,
                     st):
        r = self.run("ADD", cfg, state, pod)
        kind, code = self.judge(part, r, "ADD", label)
        self.check(code == 4 and b"CNI_CONTAINERID" in r.out and
                   str(RECORD_CAP).encode() in r.out, part,
                   f"{label}: ADD of an attachment whose record would be "
                   f"over {RECORD_CAP} bytes gave {code}: {r.out[:300]!r}")
        rec, cap = self.observe(part, state, pod, backend, label, net=net)
        self.check(not rec and not cap, part, f"{label}: the refused ADD "
                   f"left record={rec} capture={cap}")
        self.clean(part, state, label + " (refused ADD)", nets=(net,),
                   live=keep)
        st["refused"] += 1
        st["deltries"] += self.delete(part, state, pod, backend, label,
                                      cfg=cfg)
        r = self.run("GC", self.gc_cfg(backend, [(keep[0][1], "eth0"),
                                                 (pod.cid, "eth0")], name=net),
                     state)
        kind, code = self.judge(part, r, "GC", label)
        self.check(kind == "ok", part, f"{label}: GC gave {code}")
        self.clean(part, state, label + " (DEL, GC)", nets=(net,), live=keep)

    def long_lived(self, part, backend, label, state, cfg, net, pod, keeper,
                   keep, st):
        cid = pod.cid
        # ADD, CHECK, DEL.
        if self.add_ok(part, state, pod, backend, label, cfg=cfg, net=net):
            with open(self.record_path(state, cid, net=net)) as f:
                self.check(json.load(f)["containerID"] == cid, part,
                           f"{label}: the record names another ID")
        r = self.run("CHECK", cfg, state, pod)
        kind, code = self.judge(part, r, "CHECK", label)
        self.check(kind == "ok", part, f"{label}: CHECK gave {code}: "
                   f"{r.out[:300]!r}")
        st["deltries"] += self.delete(part, state, pod, backend, label,
                                      cfg=cfg)
        self.clean(part, state, label + " (DEL)", nets=(net,), live=keep)
        # ADD, a GC that lists it (and the other pod) keeps it, DEL.
        self.add_ok(part, state, pod, backend, label, cfg=cfg, net=net)
        r = self.run("GC", self.gc_cfg(backend, [(keeper.cid, "eth0"),
                                                 (cid, "eth0")], name=net),
                     state)
        kind, code = self.judge(part, r, "GC", label)
        self.check(kind == "ok", part, f"{label}: GC gave {code}")
        rec, cap = self.observe(part, state, pod, backend, label, net=net)
        self.check(rec and cap, part, f"{label}: a GC that lists the pod "
                   f"left record={rec} capture={cap}")
        st["deltries"] += self.delete(part, state, pod, backend, label,
                                      cfg=cfg)
        self.clean(part, state, label + " (GC, DEL)", nets=(net,),
                   live=keep)
        # ADD, then the runtime loses the pod: GC forgets it.
        self.add_ok(part, state, pod, backend, label, cfg=cfg, net=net)
        pod.remove()
        r = self.run("GC", self.gc_cfg(backend, [(keeper.cid, "eth0")],
                                       name=net), state)
        kind, code = self.judge(part, r, "GC", label)
        self.check(kind == "ok", part, f"{label}: GC gave {code}")
        self.clean(part, state, label + " (GC of the lost pod)",
                   nets=(net,), live=keep)

    # ---- part 5: races -------------------------------------------------

    def part_race_add_del(self, backend, rounds):
        part = f"race add-del {backend}"
        t0 = time.perf_counter()
        state = self.new_state("race-ad")
        span = self.calibrate("ADD", backend, gate=True)
        st = collections.Counter()
        out0 = self.outside_snapshot()
        for i in range(rounds):
            failed0 = self.failed
            pod = Pod(self, self.new_id("rad"))
            pre = i % 2 == 1
            gap = self.rng.uniform(0, span)
            first = self.rng.choice(("ADD", "DEL"))
            label = (f"{part} #{i}: {first} first by {gap * 1e3:.2f} ms"
                     f"{' (re-ADD)' if pre else ''}")
            if pre:
                self.add_ok(part, state, pod, backend, label)
            second = "DEL" if first == "ADD" else "ADD"
            h1 = self.start(first, self.cfg(backend), state, pod, gate=True)
            h2 = self.start(second, self.cfg(backend), state, pod, gate=True)
            time.sleep(0.002)  # both loaded, waiting for their input
            h1.release()
            end = time.perf_counter() + gap
            while time.perf_counter() < end:
                pass
            h2.release()
            for h, verb in ((h1, first), (h2, second)):
                r = h.finish()
                kind, code = self.judge(part, r, verb, label)
                self.check(kind == "ok", part, f"{label}: {verb} gave {code}:"
                           f" {r.out[:300]!r}")
            rec, cap = self.observe(part, state, pod, backend, label)
            self.check(rec == cap, part,
                       f"{label}: record={rec} capture={cap}")
            st["captured" if rec and cap else "clean" if rec == cap
               else "split"] += 1
            st["deltries"] += self.delete(part, state, pod, backend, label)
            self.clean(part, state, label)
            pod.remove()
            st["ok"] += self.failed == failed0
        self.outside_same(part, out0, part)
        self.say(f"cni-faults race add-del {backend}: {rounds} rounds (the "
                 f"second 0-{span * 1e3:.1f} ms after the first), "
                 f"{self.crashes[part]} crashes, {st['ok']}/{rounds} "
                 f"converged (ended with capture and record {st['captured']},"
                 f" with neither {st['clean']}, split {st['split']}) "
                 f"[{time.perf_counter() - t0:.1f} s]")

    def part_race_gc_add(self, backend, rounds):
        part = f"race gc-add {backend}"
        t0 = time.perf_counter()
        state = self.new_state("race-ga")
        st = collections.Counter()
        out0 = self.outside_snapshot()
        valid = Pod(self, self.new_id("rgv"))
        self.add_ok(part, state, valid, backend, part)
        gc = self.gc_cfg(backend, [(valid.cid, "eth0")])
        span = 1.25 * self.calibrate("ADD", backend, gate=True)
        for i in range(rounds):
            failed0 = self.failed
            pod = Pod(self, self.new_id("rga"))
            # Biased towards GC starting early in the ADD.
            gap = span * self.rng.random() ** 2
            label = f"{part} #{i}: GC {gap * 1e3:.2f} ms after ADD"
            h_add = self.start("ADD", self.cfg(backend), state, pod,
                               gate=True)
            h_gc = self.start("GC", gc, state, gate=True)
            time.sleep(0.002)  # both loaded, waiting for their input
            h_add.release()
            end = h_add.t_exec + gap
            while time.perf_counter() < end:
                pass
            at_start = h_add.running()
            h_gc.release()
            r_gc = h_gc.finish()
            at_end = h_add.running()
            r_add = h_add.finish()
            for r, verb in ((r_add, "ADD"), (r_gc, "GC")):
                kind, code = self.judge(part, r, verb, label)
                self.check(kind == "ok", part, f"{label}: {verb} gave {code}:"
                           f" {r.out[:300]!r}")
            rec, cap = self.observe(part, state, pod, backend, label)
            if not at_start:
                # The ADD was over before the runtime started GC: the
                # record may go (GC forgets records, not captures).
                st["before"] += 1
                st["before_collected"] += not rec
            elif at_end:
                # The ADD outlived GC: GC found its lock held, or its
                # record written after GC started. It must be kept.
                st["outlived"] += 1
                st["outlived_kept"] += rec
                self.check(rec, part, f"{label}: GC took the record of a "
                           f"pod whose ADD outlived it (capture={cap})")
            else:
                # The ADD ended while GC ran.
                st["overlap"] += 1
                st["overlap_lost"] += not rec
            st["orphan"] += cap and not rec
            self.check(rec == cap or not rec, part,
                       f"{label}: a record without capture")
            self.delete(part, state, pod, backend, label, expect_clean=rec)
            pod.remove()
            self.clean(part, state, label, live=[
                ("pods", valid.cid, "eth0", self.cookie(state, valid.cid))])
            st["ok"] += self.failed == failed0
        rec, cap = self.observe(part, state, valid, backend, part)
        self.check(rec and cap, part, f"{part}: the listed pod lost "
                   f"record={rec} capture={cap}")
        self.delete(part, state, valid, backend, part)
        valid.remove()
        self.clean(part, state, part)
        window = self.gc_window(part, backend)
        self.outside_same(part, out0, part)
        self.say(f"cni-faults race gc-add {backend}: {rounds} rounds (GC "
                 f"0-{span * 1e3:.1f} ms after ADD), {self.crashes[part]} "
                 f"crashes, {st['ok']}/{rounds} converged; ADD over before "
                 f"GC started {st['before']} (record collected "
                 f"{st['before_collected']}), ADD ended while GC ran "
                 f"{st['overlap']} (record collected {st['overlap_lost']}), "
                 f"ADD outlived GC {st['outlived']} (record kept "
                 f"{st['outlived_kept']}); rounds leaving a capture without "
                 f"a record "
                 f"{st['orphan']}; ADD held in Apply, finishing {window} "
                 f"[{time.perf_counter() - t0:.1f} s]")

    def gc_window(self, part, backend, stale=2000):
        """Deterministic: an ADD whose record is written and that is held
        in Apply (the Engine's lock on the namespace, held here) is in
        flight when GC starts; GC has `stale` records of gone pods to
        forget first; the ADD is let go once GC took the first of them.
        Its record must survive."""
        label = f"{part}: ADD finishing while GC works"
        state = self.new_state("gc-window")
        valid = Pod(self, self.new_id("gwv"))
        self.add_ok(part, state, valid, backend, label)
        old = time.time() - 600
        for i in range(stale):
            cid = f"a{i:05d}"
            path = self.record_path(state, cid)
            with open(path, "w") as f:
                f.write(dumps({"meshcapCni": 2, "containerID": cid,
                               "ifname": "eth0", "netns": f"/gone/{cid}",
                               "netnsKey": f"netns-0-{i}",
                               "netnsCookie": 10 ** 12 + i,
                               "backend": backend, "policy": "0"}) + "\n")
            os.utime(path, (old, old))
        pod = Pod(self, "z" + self.new_id("gwp"))
        ns = os.open(pod.path, os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(ns, fcntl.LOCK_EX)  # the Engine's namespace lock
        h_add = self.start("ADD", self.cfg(backend), state, pod)
        deadline = time.time() + 10
        while not self.has_record(state, pod.cid) and time.time() < deadline:
            time.sleep(0.001)
        time.sleep(0.05)
        h_gc = self.start("GC", self.gc_cfg(backend, [(valid.cid, "eth0")]),
                          state)
        t_gc = time.perf_counter()
        # GC has started (read its start time) once it took the first stale
        # record (records go in name order, the ADD's last); a fixed delay
        # would let a slow GC start after the ADD completed.
        first = self.record_path(state, "a00000")
        deadline = time.time() + 10
        while os.path.lexists(first) and time.time() < deadline:
            time.sleep(0.0001)
        fcntl.flock(ns, fcntl.LOCK_UN)
        os.close(ns)
        r_add = h_add.finish()
        add_end = time.perf_counter() - t_gc
        r_gc = h_gc.finish()
        gc_end = time.perf_counter() - t_gc
        for r, verb in ((r_add, "ADD"), (r_gc, "GC")):
            kind, code = self.judge(part, r, verb, label)
            self.check(kind == "ok", part, f"{label}: {verb} gave {code}: "
                       f"{r.out[:300]!r}")
        rec, cap = self.observe(part, state, pod, backend, label)
        self.check(rec and cap, part, f"{label}: the ADD ended "
                   f"{add_end * 1e3:.0f} ms after GC started, GC "
                   f"{gc_end * 1e3:.0f} ms after; record={rec} "
                   f"capture={cap}")
        left = [n for n in os.listdir(f"{state}/cni/pods")
                if n.startswith("a")]
        self.check(not left, part, f"{label}: GC left {len(left)} stale "
                   f"records")
        self.delete(part, state, pod, backend, label, expect_clean=rec)
        self.delete(part, state, valid, backend, label)
        pod.remove()
        valid.remove()
        self.clean(part, state, label)
        return (f"{add_end * 1e3:.0f} ms after GC started ({gc_end * 1e3:.0f}"
                f" ms): record {'kept' if rec else 'LOST'}")

    def calibrate(self, verb, backend, n=9, gate=False):
        """The time from exec (or release) to exit of `verb` as the kill
        trials run it: the median of n runs."""
        state = self.new_state("calibrate")
        times = []
        for i in range(n):
            pod = Pod(self, self.new_id("cal"))
            if verb != "ADD":
                self.add_ok("calibrate", state, pod, backend, "calibrate")
            stale = []
            if verb == "GC":
                for _ in range(2):
                    p = Pod(self, self.new_id("cal"))
                    self.add_ok("calibrate", state, p, backend, "calibrate")
                    p.remove()
            cfg = (self.gc_cfg(backend, [(pod.cid, "eth0")]) if verb == "GC"
                   else self.cfg(backend))
            h = self.start(verb, cfg, state, pod if verb != "GC" else None,
                           gate=gate)
            if gate:
                time.sleep(0.002)
                h.release()
            h.p.wait()
            times.append(time.perf_counter() - h.t_exec)
            self.judge("calibrate", h.finish(), verb, "calibrate")
            if verb != "DEL":
                self.delete("calibrate", state, pod, backend, "calibrate")
            pod.remove()
        times.sort()
        return times[n // 2]

    def part_race_parallel(self, backend, n):
        part = f"race parallel {backend}"
        t0 = time.perf_counter()
        state = self.new_state("race-par")
        out0 = self.outside_snapshot()
        pods = [Pod(self, self.new_id("rp")) for _ in range(n)]
        failed0 = self.failed
        for verb, want in (("ADD", (True, True)), ("DEL", (False, False))):
            hs = [self.start(verb, self.cfg(backend), state, p, gate=True)
                  for p in pods]
            time.sleep(0.05)  # all loaded, waiting for their input
            t1 = time.perf_counter()
            for h in hs:
                h.release()
            ok = 0
            for p, h in zip(pods, hs):
                r = h.finish()
                kind, code = self.judge(part, r, verb, f"{part} {p.cid}")
                ok += self.check(kind == "ok", part, f"{part} {p.cid}: "
                                 f"{verb} gave {code}: {r.out[:300]!r}")
            wall = time.perf_counter() - t1
            good = 0
            for p in pods:
                got = self.observe(part, state, p, backend, part)
                good += self.check(got == want, part, f"{part} {p.cid}: after"
                                   f" {verb} record/capture {got}")
            if verb == "ADD":
                add = (ok, good, wall)
            else:
                dele = (ok, good, wall)
        self.clean(part, state, part)
        self.outside_same(part, out0, part)
        for p in pods:
            p.remove()
        self.say(f"cni-faults race parallel {backend}: {n} concurrent ADDs "
                 f"{add[0]}/{n} succeeded, {add[1]}/{n} captured "
                 f"({add[2]:.2f} s); {n} concurrent DELs {dele[0]}/{n} "
                 f"succeeded, {dele[1]}/{n} clean ({dele[2]:.2f} s); "
                 f"{self.crashes[part]} crashes, "
                 f"{self.part_failed[part]} failed "
                 f"[{time.perf_counter() - t0:.1f} s]")

    def part_race_shared(self, backend, rounds):
        part = f"race shared-ns {backend}"
        t0 = time.perf_counter()
        state = self.new_state("race-sh")
        out0 = self.outside_snapshot()
        ok_rounds = 0
        for i in range(rounds):
            failed0 = self.failed
            label = f"{part} #{i}"
            cid = self.new_id("c")
            pod = Pod(self, cid)
            cfg = self.cfg(backend)
            other_net = self.cfg(backend, name="pods2")
            order = [("eth0", cfg), ("net1", cfg), ("eth1", other_net)]
            for ifname, c in order:
                self.add_ok(part, state, pod, backend, label, cfg=c,
                            ifname=ifname, net=c["name"])
            before = self.kernel(pod.path, full=True)["text"]
            recs = {n: self.tree(f"{state}/cni/{n}")
                    for n in ("pods", "pods2")}
            # Another policy in the same namespace: refused, nothing changes.
            r = self.run("ADD", self.cfg(backend, policy=POLICY_B), state, pod,
                         ifname="net2")
            kind, code = self.judge(part, r, "ADD", label)
            self.check(code == 100, part, f"{label}: ADD of another policy in"
                       f" a shared namespace gave {code}: {r.out[:300]!r}")
            self.check(self.kernel(pod.path, full=True)["text"] == before,
                       part, f"{label}: the refused ADD changed the rules")
            self.check({n: self.tree(f"{state}/cni/{n}")
                        for n in ("pods", "pods2")} == recs, part,
                       f"{label}: the refused ADD changed the records")
            self.check(not self.has_record(state, cid, "net2"), part,
                       f"{label}: the refused ADD left a record")
            # DEL of the one never added changes nothing.
            r = self.run("DEL", cfg, state, pod, ifname="net2")
            self.judge(part, r, "DEL", label)
            self.check(self.kernel(pod.path, full=True)["text"] == before,
                       part, f"{label}: DEL of an attachment never added "
                       f"changed the rules")
            self.rng.shuffle(order)
            for k, (ifname, c) in enumerate(order):
                last = k == len(order) - 1
                r = self.run("DEL", c, state, pod, ifname=ifname)
                kind, code = self.judge(part, r, "DEL", label)
                self.check(kind == "ok", part, f"{label}: DEL {ifname} gave "
                           f"{code}")
                k_now = self.kernel(pod.path)
                self.check(k_now[backend] == (not last), part,
                           f"{label}: after DEL of {ifname} ({k + 1} of 3) "
                           f"capture={k_now[backend]}")
                self.check(not self.has_record(state, cid, ifname,
                                               c["name"]), part,
                           f"{label}: DEL {ifname} kept its record")
                for ifn2, c2 in order[k + 1:]:
                    self.check(self.has_record(state, cid, ifn2, c2["name"]),
                               part, f"{label}: DEL {ifname} took the record"
                               f" of {ifn2}")
            self.clean(part, state, label, nets=("pods", "pods2"))
            pod.remove()
            ok_rounds += self.failed == failed0
        self.outside_same(part, out0, part)
        self.say(f"cni-faults race shared-ns {backend}: {rounds} rounds of 3 "
                 f"attachments (2 networks) in one namespace and a 4th with "
                 f"another policy (refused, 100), {self.crashes[part]} "
                 f"crashes, {ok_rounds}/{rounds} converged "
                 f"[{time.perf_counter() - t0:.1f} s]")

    # ---- the whole campaign --------------------------------------------

    def node_rules(self):
        r = subprocess.run(["sh", "-c", "nft list ruleset; "
                            "iptables-legacy-save | grep -v '^#'"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return r.stdout

    def setup(self):
        mount("tmpfs", self.work, "tmpfs", 0, "mode=0700,size=1g")
        mount("tmpfs", "/run", "tmpfs", 0, "mode=0755,size=16m")
        for d in (self.io, self.nsdir, self.outside):
            os.mkdir(d, 0o700)
        self.canaries()
        # A copy of the binary: one build for the whole campaign, whatever
        # happens to the build directory meanwhile.
        copy = f"{self.work}/meshcap-cni"
        shutil.copyfile(self.plugin, copy)
        os.chmod(copy, 0o755)
        with open(copy, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        print(f"cni-faults: {self.plugin} (sha256 {digest}...)", flush=True)
        self.plugin = copy
        r = self.run("VERSION", b"", "/nonexistent")
        kind, _ = self.judge("setup", r, "VERSION", "VERSION")
        if kind != "ok" or b"1.1.0" not in r.out:
            raise RuntimeError(f"the plugin does not answer VERSION: "
                               f"{r.out!r}")

    def teardown(self):
        for p in list(self.live):
            try:
                p.kill()
                p.wait()
            except OSError:
                pass
        for name in os.listdir(self.nsdir):
            try:
                umount(f"{self.nsdir}/{name}")
            except OSError:
                pass

    def main(self, parts):
        t0 = time.perf_counter()
        kills = 10 if self.quick else 200
        rounds = 10 if self.quick else 100
        node0 = self.node_rules()
        run0 = self.tree("/run")
        for backend in BACKENDS:
            if "kill" in parts:
                for verb in ("ADD", "DEL", "CHECK", "GC"):
                    self.part_kill(verb, backend, kills)
        for backend in BACKENDS:
            if "hostile" in parts:
                self.part_hostile(backend)
            if "state" in parts:
                self.part_state(backend)
            if "long" in parts:
                self.part_long(backend)
        for backend in BACKENDS:
            if "race" in parts:
                self.part_race_add_del(backend, rounds)
                self.part_race_gc_add(backend, rounds)
                self.part_race_parallel(backend, 50)
                self.part_race_shared(backend, 3 if self.quick else 20)
        self.check(self.node_rules() == node0, "node",
                   "the node's own namespace changed")
        self.check(self.tree("/run") == run0, "node",
                   "something was written under /run")
        mode = "quick" if self.quick else "full"
        print(f"cni-faults: {mode} mode, seed {self.seed}, "
              f"{time.perf_counter() - t0:.1f} s")
        print(f"cni-faults: {self.checks} checks, {self.failed} failed")
        return 1 if self.failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--parts", default="kill,hostile,state,long,race")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "little")
    if os.geteuid() != 0:
        sys.exit("cni_faults.py: needs root")
    # Never on the machine's own namespaces: dev/cni-faults.sh unshares.
    parent = f"/proc/{os.getppid()}/ns"
    if any(os.stat(f"/proc/self/ns/{n}").st_ino ==
           os.stat(f"{parent}/{n}").st_ino for n in ("net", "mnt")):
        sys.exit("cni_faults.py: run it through dev/cni-faults.sh (it needs "
                 "a private mount and network namespace)")
    camp = Campaign(args)
    camp.setup()
    try:
        rc = camp.main(set(args.parts.split(",")))
    except Exception:  # a broken campaign is a failed one, and says so
        import traceback
        traceback.print_exc()
        print(f"cni-faults: {camp.checks} checks, {camp.failed + 1} failed "
              f"(the campaign itself broke)")
        rc = 1
    finally:
        camp.teardown()
    sys.exit(rc)


if __name__ == "__main__":
    main()
