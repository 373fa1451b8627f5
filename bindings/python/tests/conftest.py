# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures: a fresh network namespace per kernel test."""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from typing import Callable, Iterator, TypeVar

import pytest

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kernel: needs root; runs in a fresh network namespace")


def on_thread(fn: Callable[[], T]) -> T:
    """Runs `fn` on a new thread and returns its result (or raises)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def thread_netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


class Netns:
    """A fresh network namespace with lo up, held by an fd of this process.

    It is made on a throwaway thread, so no thread of the test process ever
    lives in it. `path` opens it from this process and from children.
    """

    def __init__(self) -> None:
        def make() -> int:
            if _libc.unshare(CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err,
                              f"unshare(CLONE_NEWNET): {os.strerror(err)}")
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            return os.open("/proc/thread-self/ns/net", os.O_RDONLY)

        self.fd = on_thread(make)
        self.path = f"/proc/{os.getpid()}/fd/{self.fd}"

    def run(self, *args: str, check: bool = True) -> str:
        """Runs a command inside the namespace; returns its stdout."""
        r = subprocess.run(["nsenter", f"--net={self.path}", *args],
                           check=check, capture_output=True, text=True)
        return r.stdout

    def call(self, fn: Callable[[], T]) -> T:
        """Runs `fn` on a thread that entered the namespace (sockets it
        makes stay in the namespace)."""
        def entered() -> T:
            if _libc.setns(self.fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns: {os.strerror(err)}")
            return fn()

        return on_thread(entered)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def netns() -> Iterator[Netns]:
    try:
        ns = Netns()
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot create a network namespace: {e}")
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def xtables_lock(tmp_path: os.PathLike) -> str:
    return os.environ.get("MESHCAP_TEST_XTABLES_LOCK",
                          os.path.join(tmp_path, "xtables.lock"))
