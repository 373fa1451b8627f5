# SPDX-License-Identifier: GPL-2.0-or-later
"""What bench/watch_report.py and bench/node_reconcile.py read of a process
(/proc) and of the build, and how they print it."""

import json
import os


def netns_id(pid="self"):
    return os.readlink(f"/proc/{pid}/ns/net")


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile (KiB), Threads, and open fds."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    try:
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        out["fds"] = None
    return out


def cpu_ticks(stat_path):
    """utime + stime of a /proc/PID/stat (or .../task/TID/stat) file."""
    with open(stat_path) as f:
        rest = f.read().rpartition(")")[2].split()
    # Fields 14 and 15 (utime, stime); rest[0] is field 3.
    return int(rest[11]) + int(rest[12])


def schedstat_ns(pid):
    """The time on CPU of all of `pid`'s threads, in ns."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def build_info(binary):
    """The build options of the meson build tree `binary` belongs to."""
    build = os.path.dirname(os.path.dirname(os.path.dirname(binary)))
    try:
        with open(os.path.join(build, "meson-info",
                               "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
        return (f"buildtype {opts.get('buildtype')}, -O"
                f"{opts.get('optimization')}, debug {opts.get('debug')}, "
                f"b_ndebug {opts.get('b_ndebug')}")
    except (OSError, ValueError, KeyError):
        return "build options unknown"


def ms(seconds, digits=1):
    return "–" if seconds is None else f"{seconds * 1e3:.{digits}f}"


def mib(kib):
    return "–" if kib is None else f"{kib / 1024:.1f}"


def met(ok):
    return "met" if ok else "**NOT met**"
