#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""How well `meshcap watch` holds a capture: heal time and idle cost.

    sudo python3 bench/watch_report.py [--meshcap build/src/cli/meshcap]
        [--runs 20] [--idle-seconds 60] [--interval 1s]
        [--backends nftables,iptables-nft,iptables-legacy] [--out FILE]

Needs root. Each backend gets a fresh network namespace of its own (the
script re-runs itself under `unshare -n`; the machine's own namespace is
never touched), `lo` up, a private MESHCAP_STATE_DIR (mode 0700) and one
`meshcap watch --policy=FILE` holding a TPROXY policy with IPv6 (so policy
routing `fwmark 0x539 lookup 133` and `::6/128` on lo are part of it).
The binary is copied to a temp dir first, so a rebuild during the run does
not change what is measured.

1. Heal time, per tampering, --runs times each (rounds interleave the
   tamperings): from just before the tampering command is issued until a
   `meshcap verify` of the policy exits 0 (the time it returned). The
   cheap check that wakes the poller is the watcher's own "healed" line on
   stderr (it is printed after the watcher's verify passed, so the poller's
   verify never holds the namespace's lock while the heal applies); with
   no line, verify is polled every 200 ms anyway. Each run waits a random
   time first (up to --interval on iptables-legacy, so the tampering falls
   anywhere in its poll period) and afterwards a settling time in which
   further log lines (a second heal, a failure) are counted.
   Tamperings: the table deleted, the chain ISTIO_OUTPUT / istio-output
   flushed, its first rule deleted, the jump to it from OUTPUT deleted,
   the IPv4 `ip rule fwmark 0x539 lookup 133` deleted, `::6/128` removed
   from lo. Goals (on the maximum): nftables and iptables-nft <= 250 ms,
   iptables-legacy <= --interval + 0.5 s.
2. Idle cost: after the heals and 2 s of quiet, the watcher's utime+stime
   (/proc/PID/stat) over --idle-seconds with no tampering, as a share of
   one core (the sum of the threads' /proc/PID/task/*/schedstat, finer, is
   shown beside it), and VmRSS / VmHWM (/proc/PID/status) at the end.
   Goals: nftables and iptables-nft < 0.5 % of a core, iptables-legacy
   < 2 %, RSS < 12 MiB.
With --release-meshcap (default build-release/src/cli/meshcap, if it
exists) that binary's RSS is measured too, after a short idle watch.

Prints a markdown report; --out FILE writes it there too.
"""

import argparse
import hashlib
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import procstat
from procstat import (build_info, met, mib, ms, netns_id, proc_status,
                      schedstat_ns)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("nftables", "iptables-nft", "iptables-legacy")
POLICY = {"InboundInterceptionMode": "TPROXY", "InboundPortsInclude": "*",
          "OutboundIPRangesInclude": "*", "EnableIPv6": True}
TAMPERINGS = ("deleted table", "flushed chain", "deleted rule",
              "deleted jump", "deleted fwmark rule", "::6 removed")
EVENT_GOAL_S = 0.250
LEGACY_SLACK_S = 0.5
CPU_GOAL_PCT = {"nftables": 0.5, "iptables-nft": 0.5,
                "iptables-legacy": 2.0}
RSS_GOAL_KIB = 12 * 1024
FALLBACK_POLL_S = 0.2
HEALED = re.compile(r"healed in ([0-9.]+) ms")
HANDLE = re.compile(r"# handle (\d+)\s*$")


def log(msg):
    print(f"[watch_report {time.strftime('%H:%M:%S')}] {msg}",
          file=sys.stderr, flush=True)


def parse_duration(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration: {text!r}")
    scale = {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    return float(m.group(1)) * scale


def cpu_ticks(pid):
    return procstat.cpu_ticks(f"/proc/{pid}/stat")


class Watcher:
    """A `meshcap watch` child whose stderr lines are read as they come."""

    def __init__(self, ctx):
        self.proc = subprocess.Popen(
            [ctx.meshcap, "watch", f"--backend={ctx.backend}",
             f"--interval={ctx.interval_text}", f"--policy={ctx.policy}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=ctx.env)
        self.fd = self.proc.stderr.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.eof = False
        self.lines = []  # (monotonic time read, text)

    def pump(self, timeout):
        """Waits up to timeout seconds for output; returns the new lines."""
        if self.eof:
            time.sleep(max(0.0, timeout))
            return []
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        now = time.monotonic()
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        if not data:
            self.eof = True
            data = b"\n" if self.buf else b""
        self.buf += data
        new = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            new.append((now, line.decode(errors="replace")))
        self.lines.extend(new)
        return new

    def collect(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.pump(left)

    def wait_for(self, needle, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.eof:
            for _, text in self.pump(deadline - time.monotonic()):
                if needle in text:
                    return text
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not self.eof and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "killed"


class Context:
    def __init__(self, args, backend, workdir):
        self.backend = backend
        self.meshcap = args.meshcap
        self.interval = args.interval
        self.interval_text = args.interval_text
        self.policy = os.path.join(workdir, "policy.json")
        with open(self.policy, "w") as f:
            json.dump(POLICY, f)
        state = os.path.join(workdir, "state")
        os.mkdir(state, 0o700)
        self.env = dict(os.environ, MESHCAP_STATE_DIR=state)
        self.legacy = backend == "iptables-legacy"
        self.timeout = max(5.0, 5 * self.interval)

    def verify(self):
        return subprocess.run(
            [self.meshcap, "verify", f"--backend={self.backend}",
             f"--policy={self.policy}"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ).returncode == 0

    def apply(self):
        return subprocess.run(
            [self.meshcap, "apply", f"--backend={self.backend}",
             f"--policy={self.policy}"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ).returncode == 0

    def nft_handle(self, chain, pred):
        out = subprocess.run(
            ["nft", "-a", "list", "chain", "inet", "istio-proxy-nat", chain],
            capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = HANDLE.search(line)
            if m and "counter" in line and pred(line):
                return m.group(1)
        return None

    def tamper_commands(self, tampering):
        """The commands of one tampering (looked up before the clock)."""
        if tampering == "deleted fwmark rule":
            return [["ip", "rule", "del", "fwmark", "0x539", "lookup", "133"]]
        if tampering == "::6 removed":
            return [["ip", "-6", "addr", "del", "::6/128", "dev", "lo"]]
        if self.backend == "nftables":
            nat = ["inet", "istio-proxy-nat"]
            if tampering == "deleted table":
                return [["nft", "delete", "table"] + nat]
            if tampering == "flushed chain":
                return [["nft", "flush", "chain"] + nat + ["istio-output"]]
            if tampering == "deleted rule":
                h = self.nft_handle("istio-output", lambda line: True)
                chain = "istio-output"
            else:
                h = self.nft_handle(
                    "output", lambda line: "jump istio-output" in line)
                chain = "output"
            if h is None:
                return None
            return [["nft", "delete", "rule"] + nat + [chain, "handle", h]]
        ipt = [self.backend] + (["-w"] if self.legacy else []) + ["-t", "nat"]
        if tampering == "deleted table":
            if self.legacy:
                return [ipt + ["-F"], ipt + ["-X"]]
            return [["nft", "delete", "table", "ip", "nat"]]
        if tampering == "flushed chain":
            return [ipt + ["-F", "ISTIO_OUTPUT"]]
        if tampering == "deleted rule":
            return [ipt + ["-D", "ISTIO_OUTPUT", "1"]]
        return [ipt + ["-D", "OUTPUT", "-j", "ISTIO_OUTPUT"]]


def heal_once(ctx, w, tampering):
    """One tampering; returns what happened."""
    run = {"tampering": tampering, "heal_s": None, "by": None,
           "tamper_rc": 0, "tamper_err": "", "heals": 0, "failed": 0,
           "watcher_ms": [], "other": [], "line_s": None}
    time.sleep(random.uniform(0, ctx.interval if ctx.legacy else 0.05))
    cmds = ctx.tamper_commands(tampering)
    w.collect(0)
    first = len(w.lines)
    if cmds is None:
        run["tamper_rc"] = "no rule to delete"
        return run
    t0 = time.monotonic()
    for cmd in cmds:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode:
            run["tamper_rc"] = r.returncode
            run["tamper_err"] = f"{' '.join(cmd)}: {r.stderr.strip()}"
            break
    run["tamper_s"] = time.monotonic() - t0
    deadline = t0 + ctx.timeout
    next_poll = time.monotonic() + FALLBACK_POLL_S
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        new = w.pump(min(next_poll, deadline) - now)
        trigger = None
        if any("heal" in text for _, text in new):
            trigger = "log"
        elif time.monotonic() >= next_poll:
            trigger = "poll"
            next_poll = time.monotonic() + FALLBACK_POLL_S
        if trigger and ctx.verify():
            run["heal_s"] = time.monotonic() - t0
            run["by"] = trigger
            break
    if run["heal_s"] is None:
        # Put it back by hand so that the next runs measure something.
        run["restored_by_apply"] = ctx.apply()
    w.collect((ctx.interval if ctx.legacy else 0) + 0.3)
    for when, text in w.lines[first:]:
        m = HEALED.search(text)
        if m and run["line_s"] is None:
            run["line_s"] = when - t0
        if m:
            run["heals"] += 1
            run["watcher_ms"].append(float(m.group(1)))
        elif "could not heal" in text:
            run["failed"] += 1
            run["other"].append(text)
        else:
            run["other"].append(text)
    return run


def worker(args):
    """Runs inside a fresh network namespace (under `unshare -n`)."""
    if netns_id() == args.parent_netns:
        sys.exit("watch_report: the worker is in its parent's network "
                 "namespace; refusing to touch it")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    backend = args.worker
    workdir = tempfile.mkdtemp(prefix="meshcap-watch-report-")
    ctx = Context(args, backend, workdir)
    result = {"backend": backend, "netns": netns_id()}
    w = Watcher(ctx)
    try:
        started = w.wait_for("", 30)
        result["started"] = started
        if started is None or " applied" not in started:
            result["error"] = f"watch did not start: {started!r}"
            return result
        result["verify_after_start"] = ctx.verify()
        time.sleep(0.5)
        result["rss_start"] = proc_status(w.proc.pid)
        if args.rss_only:
            w.collect(args.idle_seconds)
            result["rss_end"] = proc_status(w.proc.pid)
            return result

        # What one `meshcap verify` costs on its own.
        costs = []
        for _ in range(20):
            t = time.monotonic()
            ctx.verify()
            costs.append(time.monotonic() - t)
        result["verify_s"] = statistics.median(costs)

        runs = []
        for i in range(args.runs):
            log(f"{backend}: round {i + 1}/{args.runs}")
            for tampering in TAMPERINGS:
                runs.append(heal_once(ctx, w, tampering))
        result["runs"] = runs
        result["rss_after_heals"] = proc_status(w.proc.pid)

        w.collect(2.0)
        quiet_from = len(w.lines)
        pid = w.proc.pid
        log(f"{backend}: idle for {args.idle_seconds:g} s")
        c0, s0, t0 = cpu_ticks(pid), schedstat_ns(pid), time.monotonic()
        w.collect(args.idle_seconds)
        c1, s1, t1 = cpu_ticks(pid), schedstat_ns(pid), time.monotonic()
        hz = os.sysconf("SC_CLK_TCK")
        result["idle"] = {
            "seconds": t1 - t0, "cpu_s": (c1 - c0) / hz,
            "sched_s": (s1 - s0) / 1e9,
            "lines": [text for _, text in w.lines[quiet_from:]]}
        result["rss_end"] = proc_status(pid)
        result["verify_at_end"] = ctx.verify()
        return result
    finally:
        result["exit"] = w.stop()
        result["last_line"] = w.lines[-1][1] if w.lines else None
        shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps(result))


def run_worker(args, meshcap, backend, rss_only=False, idle=None):
    cmd = ["unshare", "-n", sys.executable, os.path.abspath(__file__),
           "--worker", backend, "--parent-netns", netns_id(),
           "--meshcap", meshcap,
           "--runs", str(args.runs), "--interval", args.interval_text,
           "--idle-seconds", str(args.idle_seconds if idle is None
                                 else idle)]
    if rss_only:
        cmd.append("--rss-only")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"backend": backend,
                "error": f"worker failed (exit {r.returncode})"}


def tamper_median(res):
    return statistics.median(
        r["tamper_s"] for r in res["runs"] if "tamper_s" in r)


def describe(copy, meshcap):
    """What was measured: the copy's version, size, mtime and sha256."""
    st = os.stat(copy)
    version = subprocess.run([copy, "--version"], capture_output=True,
                             text=True).stdout.strip()
    with open(copy, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    return (f"{version}; {build_info(meshcap)}; {st.st_size / 2**20:.1f} "
            f"MiB, built "
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(st.st_mtime))} "
            f"UTC, sha256 {digest}…, copied at the start")


def report(args, results, release, elapsed):
    out = []
    add = out.append
    add("# meshcap watch: heal time and idle cost\n")
    add(f"- binary: `{os.path.relpath(args.meshcap, REPO)}` "
        f"({args.binary})")
    add(f"- machine: Linux {platform.release()}, {os.cpu_count()} CPUs; "
        f"run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
        f"took {elapsed / 60:.1f} min")
    add(f"- {args.runs} runs per tampering, --interval={args.interval_text}"
        f", idle window {args.idle_seconds:g} s; policy "
        f"`{json.dumps(POLICY)}`")
    add("- heal time: tampering issued → `meshcap verify` exited 0 (its own "
        "runtime included; shown per backend below)\n")
    goals = []
    odd = []

    add("## Heal time (ms)\n")
    add("| backend | tampering | median | max | watcher's own median | "
        "healed | heal lines | goal (max) |")
    add("|---|---|---:|---:|---:|---:|---:|---|")
    for res in results:
        b = res["backend"]
        if "runs" not in res:
            add(f"| {b} | – | – | – | – | – | – | "
                f"{res.get('error', 'no result')} |")
            odd.append(f"{b}: {res.get('error', 'no result')}")
            continue
        goal = (args.interval + LEGACY_SLACK_S if b == "iptables-legacy"
                else EVENT_GOAL_S)
        for t in TAMPERINGS:
            runs = [r for r in res["runs"] if r["tampering"] == t]
            times = [r["heal_s"] for r in runs if r["heal_s"] is not None]
            own = [x for r in runs for x in r["watcher_ms"]]
            lines = sum(r["heals"] for r in runs)
            worst = max(times) if times else None
            ok = len(times) == len(runs) and worst <= goal
            goals.append((f"heal {b}, {t}", ok))
            add(f"| {b} | {t} | "
                f"{ms(statistics.median(times) if times else None)} | "
                f"{ms(worst)} | "
                f"{f'{statistics.median(own):.1f}' if own else '–'} | "
                f"{len(times)}/{len(runs)} | {lines} | "
                f"≤ {goal * 1e3:.0f}: {met(ok)} |")
            for i, r in enumerate(runs):
                tag = f"{b}, {t}, run {i + 1}"
                if r["tamper_rc"]:
                    odd.append(f"{tag}: tampering failed ({r['tamper_rc']}"
                               f") {r['tamper_err']}")
                if r["heal_s"] is None:
                    odd.append(f"{tag}: not healed within "
                               f"{max(5.0, 5 * args.interval):g} s "
                               f"(apply restored it: "
                               f"{r.get('restored_by_apply')})")
                elif r["by"] != "log":
                    odd.append(f"{tag}: verify passed at "
                               f"{ms(r['heal_s'])} ms, found by the "
                               f"200 ms fallback poll; the heal line was "
                               f"read at {ms(r['line_s'])} ms")
                if r["heals"] != 1 and not r["tamper_rc"]:
                    odd.append(f"{tag}: {r['heals']} heal lines")
                for text in r["other"]:
                    odd.append(f"{tag}: logged: {text}")
    add("")
    add("`meshcap verify` alone (median of 20), included in each heal "
        "time above: " + ", ".join(
            f"{r['backend']} {ms(r['verify_s'])} ms" for r in results
            if "verify_s" in r) + "; the tampering commands themselves "
        "(median), also included: " + ", ".join(
            f"{r['backend']} {ms(tamper_median(r))} ms"
            for r in results if r.get("runs")) +
        ". \"heal lines\" counts the watcher's "
        "`healed in` lines over all runs (one per tampering expected).\n")

    add("## Idle cost\n")
    add("| backend | window (s) | CPU (s) | % of a core | schedstat % | "
        "goal | VmRSS start → end (MiB) | VmHWM (MiB) | RssAnon / RssFile "
        "(MiB) | RSS goal |")
    add("|---|---:|---:|---:|---:|---|---:|---:|---:|---|")
    for res in results:
        b = res["backend"]
        if "idle" not in res:
            continue
        idle = res["idle"]
        pct = 100 * idle["cpu_s"] / idle["seconds"]
        spct = 100 * idle["sched_s"] / idle["seconds"]
        cpu_ok = pct < CPU_GOAL_PCT[b]
        end = res["rss_end"]
        rss_ok = max(end["VmRSS"], end["VmHWM"]) < RSS_GOAL_KIB
        goals.append((f"idle CPU {b}", cpu_ok))
        goals.append((f"RSS {b}", rss_ok))
        add(f"| {b} | {idle['seconds']:.1f} | {idle['cpu_s']:.2f} | "
            f"{pct:.3f} | {spct:.3f} | < {CPU_GOAL_PCT[b]}: {met(cpu_ok)} | "
            f"{mib(res['rss_start']['VmRSS'])} → {mib(end['VmRSS'])} | "
            f"{mib(end['VmHWM'])} | {mib(end['RssAnon'])} / "
            f"{mib(end['RssFile'])} | < 12: {met(rss_ok)} |")
        for text in idle["lines"]:
            odd.append(f"{b}, idle: logged: {text}")
    add("")

    add("## Release build RSS\n")
    if release is None:
        add(f"No release build at `{args.release_meshcap}`; not "
            f"measured.\n")
    else:
        add(f"`{os.path.relpath(args.release_meshcap, REPO)}` "
            f"({build_info(args.release_meshcap)}), after applying and "
            f"{args.release_idle:g} s idle:\n")
        add("| backend | VmRSS (MiB) | VmHWM (MiB) | RssAnon / RssFile "
            "(MiB) | RSS goal |")
        add("|---|---:|---:|---:|---|")
        for res in release:
            if "rss_end" not in res:
                add(f"| {res['backend']} | – | – | – | "
                    f"{res.get('error', 'no result')} |")
                continue
            end = res["rss_end"]
            ok = max(end["VmRSS"], end["VmHWM"]) < RSS_GOAL_KIB
            add(f"| {res['backend']} | {mib(end['VmRSS'])} | "
                f"{mib(end['VmHWM'])} | {mib(end['RssAnon'])} / "
                f"{mib(end['RssFile'])} | < 12: {met(ok)} |")
        add("")

    for res in results + (release or []):
        b = res["backend"]
        if res.get("exit") not in (0, None):
            odd.append(f"{b}: watch exited {res['exit']} on SIGTERM "
                       f"(last line: {res.get('last_line')})")
        if res.get("verify_after_start") is False:
            odd.append(f"{b}: verify failed right after the watch started")
        if res.get("verify_at_end") is False:
            odd.append(f"{b}: verify failed at the end")

    missed = [name for name, ok in goals if not ok]
    add("## Goals\n")
    add(f"{len(goals) - len(missed)} of {len(goals)} met" +
        (": missed " + "; ".join(missed) if missed else "") + ".\n")
    add("## Oddities\n")
    add("\n".join(f"- {o}" for o in odd) if odd else "None seen.")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--meshcap",
                   default=os.path.join(REPO, "build/src/cli/meshcap"))
    p.add_argument("--release-meshcap", default=os.path.join(
        REPO, "build-release/src/cli/meshcap"))
    p.add_argument("--release-idle", type=float, default=5.0,
                   help="seconds of idle watch before the release RSS")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--idle-seconds", type=float, default=60.0)
    p.add_argument("--interval", default="1s",
                   help="watch --interval (a duration: 1s, 500ms)")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--out")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--parent-netns", help=argparse.SUPPRESS)
    p.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.interval_text = args.interval
    args.interval = parse_duration(args.interval)
    if args.worker:
        worker(args)
        return
    if os.geteuid() != 0:
        sys.exit("watch_report: needs root (network namespaces)")
    backends = [b for b in args.backends.split(",") if b]
    for b in backends:
        if b not in BACKENDS:
            sys.exit(f"watch_report: unknown backend {b!r}")
    args.meshcap = os.path.abspath(args.meshcap)
    args.release_meshcap = os.path.abspath(args.release_meshcap)
    if not os.access(args.meshcap, os.X_OK):
        sys.exit(f"watch_report: no meshcap at {args.meshcap}")

    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="meshcap-watch-report-bin-")
    try:
        # A private copy: a rebuild during the run must not change it.
        copy = os.path.join(tmp, "meshcap")
        shutil.copy2(args.meshcap, copy)
        args.binary = describe(copy, args.meshcap)
        results = []
        for b in backends:
            log(f"{b}: fresh network namespace")
            results.append(run_worker(args, copy, b))
        release = None
        if os.access(args.release_meshcap, os.X_OK):
            # Named meshcap too: its log lines start with its name.
            os.mkdir(os.path.join(tmp, "release"))
            rcopy = os.path.join(tmp, "release", "meshcap")
            shutil.copy2(args.release_meshcap, rcopy)
            release = [run_worker(args, rcopy, b, True, args.release_idle)
                       for b in backends]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = report(args, results, release, time.monotonic() - start)
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
