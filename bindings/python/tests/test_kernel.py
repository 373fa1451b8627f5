# SPDX-License-Identifier: GPL-2.0-or-later
"""Apply, verify, clean and validate against the kernel, each test in a
fresh network namespace (the `netns` fixture; needs root)."""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading

import pytest

import meshcap
from conftest import on_thread, thread_netns_inode

pytestmark = pytest.mark.kernel

ISTIO_INIT = ('{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*", '
              '"InboundPortsExclude": "15090,15021,15020"}')
SO_ORIGINAL_DST = 80
SYS_SETRESUID = 117
SYS_SETRESGID = 119


@pytest.fixture
def policy() -> meshcap.Policy:
    return meshcap.Policy.from_json(ISTIO_INIT)


def test_apply_verify_clean_nftables(netns, policy):
    inode = thread_netns_inode()
    with meshcap.Engine(backend="nftables", netns_path=netns.path) as e:
        assert e.backend == "nftables"
        assert not e.verify(policy).matches
        r = e.apply(policy)
        assert r.changed and r.backend == "nftables"
        assert any("istio-proxy-nat" in c for c in r.changes)
        assert "istio-proxy-nat" in netns.run("nft", "list", "tables")
        report = e.verify(policy)
        assert report.matches and report.differences == ()
        assert report.generation > 0
        assert not e.apply(policy).changed  # the kernel holds it already
        assert e.clean().changed
        assert "istio-proxy-nat" not in netns.run("nft", "list", "tables")
        report = e.verify(policy)
        assert not report.matches
        assert {d.kind for d in report.differences} == {"missing"}
        assert all(str(d) for d in report.differences)
        assert not e.clean().changed
    # No thread of ours moved.
    assert thread_netns_inode() == inode
    assert "closed" in repr(e)
    with pytest.raises(ValueError, match="closed"):
        e.apply(policy)


def test_apply_by_fd_borrows_it_for_the_call_only(netns, policy):
    fd = os.open(netns.path, os.O_RDONLY)
    e = meshcap.Engine(backend="nftables", netns_fd=fd)
    os.close(fd)
    assert e.apply(policy).changed
    assert e.verify(policy).matches
    assert "istio-proxy-nat" in netns.run("nft", "list", "tables")
    e.close()
    e.close()


def test_apply_verify_clean_iptables_legacy(netns, policy, xtables_lock):
    with meshcap.Engine(backend="iptables-legacy", netns_path=netns.path,
                        xtables_lock_path=xtables_lock) as e:
        assert e.apply(policy).changed
        saved = netns.run("iptables-legacy-save", "-t", "nat")
        assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" in saved
        report = e.verify(policy)
        assert report.matches and report.generation == 0
        assert e.clean().changed
        assert "ISTIO_OUTPUT" not in netns.run("iptables-legacy-save")
        with pytest.raises(meshcap.InvalidArgumentError):
            e.apply(policy, expected_generation=1)


def test_a_concurrent_change_aborts_a_guarded_apply(netns, policy):
    with meshcap.Engine(backend="nftables", netns_path=netns.path) as e:
        generation = e.verify(policy).generation
        netns.run("nft", "add", "table", "inet", "somebody-else")
        with pytest.raises(meshcap.AbortedError) as err:
            e.apply(policy, expected_generation=generation)
        assert err.value.code == meshcap.Code.ABORTED
        assert "istio-proxy-nat" not in netns.run("nft", "list", "tables")
        generation = e.verify(policy).generation
        assert e.apply(policy, expected_generation=generation).changed


def test_no_privilege_is_a_permission_error(netns):
    libc = ctypes.CDLL(None, use_errno=True)

    def unprivileged():
        # Raw syscalls change this thread's identity only (glibc's
        # setresuid would change every thread of the process).
        if libc.syscall(SYS_SETRESGID, 65534, 65534, 65534) != 0 or \
                libc.syscall(SYS_SETRESUID, 65534, 65534, 65534) != 0:
            raise OSError(ctypes.get_errno(), "setresuid")
        with pytest.raises(PermissionError) as err:
            meshcap.Engine(backend="nftables", netns_path=netns.path)
        return err.value

    err = on_thread(unprivileged)
    assert isinstance(err, meshcap.PermissionDeniedError)
    assert err.code == meshcap.Code.PERMISSION_DENIED


def test_validate_fails_before_and_passes_after_apply(netns, policy):
    with pytest.raises(TimeoutError) as err:
        meshcap.validate(policy, netns_path=netns.path, timeout=0.3)
    assert isinstance(err.value, meshcap.DeadlineExceededError)
    assert "127.0.0.6:15002" in str(err.value)
    with meshcap.Engine(backend="nftables", netns_path=netns.path) as e:
        e.apply(policy)
    meshcap.validate(policy, netns_path=netns.path)
    meshcap.validate(netns_fd=netns.fd)


def test_an_engine_is_shared_between_threads(netns, policy):
    failures = []
    with meshcap.Engine(backend="nftables", netns_path=netns.path) as e:
        def hammer():
            try:
                for _ in range(10):
                    e.apply(policy)
                    assert e.verify(policy).matches
            except Exception as ex:  # reported below
                failures.append(ex)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []


def test_default_policy_captures_a_connection(netns, policy):
    # A pod's interface and default route (a veth pair whose other end
    # stays in the namespace too: nothing leaves it).
    netns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name",
              "eth0-peer")
    netns.run("ip", "addr", "add", "203.0.113.2/24", "dev", "eth0")
    netns.run("ip", "link", "set", "eth0", "up")
    netns.run("ip", "link", "set", "eth0-peer", "up")
    netns.run("ip", "route", "add", "default", "via", "203.0.113.1")
    with meshcap.Engine(netns_path=netns.path) as e:
        e.apply(policy)

    def proxy_and_app():
        proxy = socket.socket()
        proxy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        proxy.bind(("127.0.0.1", 15001))
        proxy.listen()
        app = socket.create_connection(("198.51.100.10", 80), timeout=5)
        return proxy, app

    proxy, app = netns.call(proxy_and_app)
    with proxy, app:
        proxy.settimeout(5)
        conn, _ = proxy.accept()
        with conn:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port, addr = struct.unpack("!2xH4s8x", raw)
            assert (socket.inet_ntoa(addr), port) == ("198.51.100.10", 80)


def test_watch_heals_and_reports(netns, policy):
    events: "list[meshcap.WatchEvent]" = []
    seen = threading.Condition()

    def on_event(e: meshcap.WatchEvent) -> None:
        with seen:
            events.append(e)
            seen.notify_all()

    def wait_for(kind: str) -> meshcap.WatchEvent:
        with seen:
            assert seen.wait_for(
                lambda: any(e.kind == kind for e in events), timeout=10), \
                [e.message for e in events]
            return next(e for e in events if e.kind == kind)

    with meshcap.Engine(backend="nftables", netns_path=netns.path) as e:
        with pytest.raises(meshcap.InvalidArgumentError, match="interval"):
            e.watch(policy, interval=0)
        t = threading.Thread(target=e.watch, args=(policy,),
                             kwargs={"on_event": on_event})
        t.start()
        try:
            assert "watching" in wait_for("applied").message
            netns.run("nft", "delete", "table", "inet", "istio-proxy-nat")
            healed = wait_for("healed")
            assert healed.message.startswith("healed in")
            assert any("istio-proxy-nat" in d for d in healed.drifted)
            assert healed.changes and healed.elapsed > 0
        finally:
            e.stop_watch()
            t.join(timeout=10)
        assert not t.is_alive()
        # Stopped: the capture stays.
        assert e.verify(policy).matches
