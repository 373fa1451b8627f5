# SPDX-License-Identifier: GPL-2.0-or-later
"""The public API; see the package docstring and ``__init__.pyi``."""

from __future__ import annotations

import json
import os
import threading
import traceback
from ctypes import byref, c_int, c_void_p
from dataclasses import dataclass
from typing import (Any, Callable, Iterable, Mapping, Optional, Tuple,
                    Union)

from . import _native
from ._errors import InvalidArgumentError
from ._native import check, lib

_OK = int(_native.Code.OK)

KnobValue = Union[str, bool, int, Iterable[Union[str, int]], None]


def version() -> str:
    """The version of the C library in use, ``"MAJOR.MINOR.PATCH"``."""
    return lib.meshcap_version().decode()


def _knob_text(key: str, value: KnobValue) -> str:
    # Istio's text syntax, as the flags and environment variables take it.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(f"policy key {key!r}: expected str, not bytes")
    try:
        items = list(value)
    except TypeError:
        raise TypeError(
            f"policy key {key!r}: expected a str, an int, a bool or a list, "
            f"got {type(value).__name__}") from None
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)) and \
                not hasattr(item, "compressed"):
            raise TypeError(
                f"policy key {key!r}: list items must be str or int, got "
                f"{type(item).__name__}")
    return ",".join(str(item) for item in items)


class Policy:
    """A validated capture policy. Immutable; safe to share between threads.

    Make one from keyword arguments or a mapping of knob keys (Istio's
    ``Config`` field names, as in ``meshcap --policy FILE``)::

        policy = meshcap.Policy(OutboundIPRangesInclude="*",
                                InboundPortsInclude="*",
                                InboundPortsExclude=[15090, 15021, 15020])

    or from JSON text with :meth:`from_json`, or step by step with
    :class:`PolicyBuilder`. ``Policy()`` is the library's defaults. Values
    take Istio's text syntax; ints, bools and lists are converted to it.

    Raises :class:`InvalidArgumentError` for a bad value or an unknown key
    (the message names both), :class:`NotFoundError` for an unknown group.
    """

    __slots__ = ("_handle", "__weakref__")

    def __init__(self, knobs: Optional[Mapping[str, KnobValue]] = None,
                 /, **kwargs: KnobValue) -> None:
        self._handle: Optional[int] = None
        builder = PolicyBuilder()
        for key, value in {**(knobs or {}), **kwargs}.items():
            builder.set(key, value)
        self._handle = builder._build_handle()

    @classmethod
    def _adopt(cls, handle: int) -> Policy:
        p = cls.__new__(cls)
        p._handle = handle
        return p

    @classmethod
    def from_json(cls, text: str, source: Optional[str] = None) -> Policy:
        """A policy from a JSON object, as ``meshcap --policy FILE`` reads it.

        ``source`` names the document in error messages (a file name).
        """
        if source is not None:
            return PolicyBuilder().update_json(text, source).build()
        handle = c_void_p()
        err = c_void_p()
        check(lib.meshcap_policy_from_json(_native.text(text), byref(handle),
                                           byref(err)), err)
        assert handle.value is not None
        return cls._adopt(handle.value)

    def to_json(self) -> str:
        """Every knob of the policy's profile with the value in effect, as a
        JSON object; ``Policy.from_json()`` of it is an equal policy."""
        out = c_void_p()
        err = c_void_p()
        check(lib.meshcap_policy_to_json(self._handle, byref(out),
                                         byref(err)), err)
        return _native.take(out) or ""

    def to_dict(self) -> dict[str, Any]:
        """:meth:`to_json`, parsed."""
        return json.loads(self.to_json())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"meshcap.Policy.from_json({self.to_json()!r})"

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            lib.meshcap_policy_free(self._handle)
            self._handle = None


class PolicyBuilder:
    """Collects knob values, then validates them all at once in
    :meth:`build`. Not thread-safe.

    ::

        b = meshcap.PolicyBuilder()
        b.set("ProxyPort", 15001).set("InboundPortsInclude", "*")
        b.update_json(open("pod.json").read(), source="pod.json")
        policy = b.build()
    """

    __slots__ = ("_handle",)

    def __init__(self) -> None:
        handle = c_void_p()
        err = c_void_p()
        check(lib.meshcap_policy_builder_new(byref(handle), byref(err)), err)
        self._handle = handle.value

    def set(self, key: str, value: KnobValue,
            origin: Optional[str] = None) -> PolicyBuilder:
        """Sets the knob ``key`` (a JSON key such as ``"ProxyPort"`` or an
        istio-iptables long flag such as ``"envoy-port"``). ``None`` or ``""``
        unsets it. ``origin`` is what error messages call the value (e.g.
        ``"pod.json: key 'ProxyPort'"``); by default, the key. Values and
        unknown keys are checked by :meth:`build`."""
        err = c_void_p()
        check(lib.meshcap_policy_builder_set(
            self._handle, _native.text(key),
            _native.text(_knob_text(key, value)), _native.text(origin),
            byref(err)), err)
        return self

    def unset(self, key: str) -> PolicyBuilder:
        """Returns the knob ``key`` to its default."""
        err = c_void_p()
        check(lib.meshcap_policy_builder_unset(self._handle,
                                               _native.text(key), byref(err)),
              err)
        return self

    def update_json(self, text: str,
                    source: Optional[str] = None) -> PolicyBuilder:
        """Sets the knobs of a JSON object on top of what is set. ``source``
        names the document in messages. Raises
        :class:`InvalidArgumentError` for malformed JSON or an unknown key."""
        err = c_void_p()
        check(lib.meshcap_policy_builder_set_json(
            self._handle, _native.text(text), _native.text(source),
            byref(err)), err)
        return self

    def _build_handle(self) -> int:
        handle = c_void_p()
        err = c_void_p()
        check(lib.meshcap_policy_builder_build(self._handle, byref(handle),
                                               byref(err)), err)
        assert handle.value is not None
        return handle.value

    def build(self) -> Policy:
        """Validates every knob and returns the policy. The builder can be
        used again."""
        return Policy._adopt(self._build_handle())

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            lib.meshcap_policy_builder_free(self._handle)
            self._handle = None


def render(policy: Policy, backend: str) -> str:
    """The dry-run text Istio's generator would run, byte for byte:
    ``"nftables"`` gives the ``nft -f`` transaction, ``"iptables-legacy"`` the
    ``iptables-restore --noflush`` input. Touches no kernel."""
    out = c_void_p()
    err = c_void_p()
    check(lib.meshcap_render(policy._handle, _native.text(backend),
                             byref(out), byref(err)), err)
    return _native.take(out) or ""


@dataclass(frozen=True)
class ExplainStep:
    """One rule (or a chain's end) a packet reached, in the kernel's order."""

    #: ``"nat"`` (iptables) or ``"inet istio-proxy-nat"`` (nftables).
    table: str
    #: ``"ipv4"`` or ``"ipv6"``.
    family: str
    chain: str
    #: 1-based position in the chain; 0 for the chain's end.
    rule: int
    #: The rule as Istio spells it for the backend; empty for a chain's end.
    text: str
    #: Whether every match held.
    matched: bool
    #: What happened: ``"no match: uid is 0, not 1337"``, ``"jump ..."``,
    #: ``"REDIRECT to 15001"``, ...
    outcome: str
    #: The rule that decided.
    decisive: bool


@dataclass(frozen=True)
class Explanation:
    """Why a packet is or is not captured (:func:`explain`)."""

    captured: bool
    #: The port it is handed to when captured.
    port: Optional[int]
    #: ``"REDIRECT"``, ``"TPROXY"``, ``"ACCEPT"`` or ``"DROP"``.
    mode: str
    #: One line: the verdict and the rule that decided.
    summary: str
    tproxy_mark: Optional[int]
    route_table: Optional[int]
    ct_zone: Optional[int]
    mark: int
    connmark: int
    backend: str
    #: The packet, as the library read it.
    packet: str
    path: Tuple[ExplainStep, ...]


def explain(policy: Policy, *, dst: str, proto: str = "tcp",
            src: Optional[str] = None, uid: Optional[int] = None,
            gid: Optional[int] = None, oif: Optional[str] = None,
            iif: Optional[str] = None, mark: int = 0, connmark: int = 0,
            ct_state: str = "new",
            backend: str = "nftables") -> Explanation:
    """Why one packet is or is not captured under ``policy``: the rules it
    meets in the order the kernel evaluates them, spelled as ``backend``'s
    Istio generator spells them, and the verdict. ``dst`` is ``"IP:PORT"``
    (``"[IPv6]:PORT"``); ``uid``, ``gid`` and ``oif`` describe a packet a
    local process sends, ``iif`` one that arrives. Touches no kernel.

    Raises :class:`InvalidArgumentError` naming the value for a packet that
    cannot happen (a port out of range, an IPv6 source with an IPv4
    destination, ``uid`` with ``iif``)."""
    packet: dict = {"dst": dst, "proto": proto, "mark": str(mark),
                    "connmark": str(connmark), "ctState": ct_state}
    for key, value in (("src", src), ("uid", uid), ("gid", gid),
                       ("oif", oif), ("iif", iif)):
        if value is not None:
            packet[key] = str(value)
    out = c_void_p()
    err = c_void_p()
    check(lib.meshcap_explain(policy._handle,
                              _native.text(json.dumps(packet)),
                              _native.text(backend), byref(out), byref(err)),
          err)
    doc = json.loads(_native.take(out) or "{}")
    return Explanation(
        captured=doc["captured"], port=doc["port"], mode=doc["mode"],
        summary=doc["summary"], tproxy_mark=doc["tproxyMark"],
        route_table=doc["routeTable"], ct_zone=doc["ctZone"],
        mark=doc["mark"], connmark=doc["connmark"], backend=doc["backend"],
        packet=doc["packet"],
        path=tuple(ExplainStep(
            table=s["table"], family=s["family"], chain=s["chain"],
            rule=s["rule"], text=s["text"], matched=s["matched"],
            outcome=s["outcome"], decisive=s["decisive"])
            for s in doc["path"]))


@dataclass(frozen=True)
class ApplyResult:
    """What an apply or a clean did."""

    #: ``"nftables"`` or ``"iptables-legacy"``.
    backend: str
    #: One line per change (``"replaced table inet istio-proxy-nat"``);
    #: empty when nothing was sent.
    changes: Tuple[str, ...]

    @property
    def changed(self) -> bool:
        """Whether anything was sent to the kernel."""
        return bool(self.changes)


@dataclass(frozen=True)
class Difference:
    """One difference between the kernel and the policy."""

    #: ``"missing"``, ``"extra"`` or ``"changed"``.
    kind: str
    #: ``"rule"``, ``"chain"``, ``"table"``, ``"routing entry"``,
    #: ``"address"``, ``"backend"``, ``"transaction"``.
    object: str
    table: str
    chain: str
    #: 1-based rule position; 0 when it does not apply.
    position: int
    desired: str
    actual: str
    #: The whole difference as one text, as ``meshcap verify`` prints it.
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class VerifyReport:
    """What a verify found."""

    backend: str
    #: The ruleset generation the report was read at: pass it as
    #: ``expected_generation`` for a verify-then-apply (0 for
    #: iptables-legacy).
    generation: int
    differences: Tuple[Difference, ...]

    @property
    def matches(self) -> bool:
        """Whether the kernel holds exactly the policy's capture."""
        return not self.differences


@dataclass(frozen=True)
class WatchEvent:
    """What :meth:`Engine.watch` reports, one per line of a log."""

    #: ``"applied"``, ``"waiting"`` (another watcher holds the namespace),
    #: ``"healed"`` or ``"heal_failed"``.
    kind: str
    #: One line: ``"healed in 1.3 ms: missing table ..."``.
    message: str
    #: What had drifted, and what the heal changed.
    drifted: Tuple[str, ...]
    changes: Tuple[str, ...]
    #: Seconds from noticing the drift to the capture verified whole.
    elapsed: float
    #: ``"heal_failed"``: why.
    error: str


def _watch_event(j: Mapping[str, Any]) -> WatchEvent:
    return WatchEvent(kind=j.get("kind", ""), message=j.get("message", ""),
                      drifted=tuple(j.get("drifted", ())),
                      changes=tuple(j.get("changes", ())),
                      elapsed=j.get("elapsed_us", 0) / 1e6,
                      error=j.get("error", ""))


def _difference(d: Mapping[str, Any]) -> Difference:
    # Later versions may add fields to the report: take the known ones.
    return Difference(kind=d.get("kind", ""), object=d.get("object", ""),
                      table=d.get("table", ""), chain=d.get("chain", ""),
                      position=d.get("position", 0),
                      desired=d.get("desired", ""),
                      actual=d.get("actual", ""), text=d.get("text", ""))


def _apply_result(text: Optional[str]) -> ApplyResult:
    j = json.loads(text or "{}")
    return ApplyResult(backend=j.get("backend", ""),
                       changes=tuple(j.get("changes", ())))


class Engine:
    """One backend in one network namespace: apply, verify and clean.

    ::

        with meshcap.Engine(netns_path="/var/run/netns/pod") as engine:
            engine.apply(policy)
            assert engine.verify(policy).matches

    ``backend`` is ``"nftables"``, ``"iptables-legacy"`` or ``"auto"``
    ($MESHCAP_BACKEND, else the backend already holding meshcap's rules,
    else Istio's detection). The namespace is given by path
    (``/proc/PID/ns/net``, ``/var/run/netns/NAME``) or by an open fd (used
    only while the engine is made); neither means the namespace of the
    calling thread. No thread of the caller ever changes namespace.
    ``lock_timeout`` (seconds) bounds the wait for the namespace's lock.

    An engine may be shared between threads (calls take turns); it holds a
    netlink socket and a thread until :meth:`close`.

    Raises :class:`NotFoundError` for a namespace path that does not exist,
    :class:`InvalidArgumentError` for an unknown backend or a file that is
    not a network namespace, :class:`PermissionDeniedError` without the
    privileges for the namespace.
    """

    def __init__(self, *, backend: str = "auto",
                 netns_path: Optional[Union[str, os.PathLike]] = None,
                 netns_fd: Optional[int] = None,
                 xtables_lock_path: Optional[Union[str, os.PathLike]] = None,
                 state_dir: Optional[Union[str, os.PathLike]] = None,
                 lock_timeout: Optional[float] = None) -> None:
        self._handle: Optional[int] = None
        self._lock = threading.Lock()
        # The out-parameters of apply and clean, made once and used under
        # the lock: a no-op apply is a few microseconds, and building them
        # per call was a tenth of it.
        self._changed = c_int()
        self._out = c_void_p()
        self._err = c_void_p()
        self._out_refs = (byref(self._changed), byref(self._out),
                          byref(self._err))
        o = _native.engine_options()
        o.backend = _native.text(backend)
        o.netns_path = _native.path(netns_path)
        o.netns_fd = -1 if netns_fd is None else netns_fd
        o.xtables_lock_path = _native.path(xtables_lock_path)
        o.state_dir = _native.path(state_dir)
        if lock_timeout is not None:
            o.lock_timeout_ms = int(lock_timeout * 1000)
        handle = c_void_p()
        err = c_void_p()
        check(lib.meshcap_engine_new(byref(o), byref(handle), byref(err)), err)
        self._handle = handle.value
        self._backend = lib.meshcap_engine_backend(self._handle).decode()
        # Immutable, so one serves every apply that sent nothing.
        self._unchanged = ApplyResult(self._backend, ())

    @property
    def backend(self) -> str:
        """``"nftables"`` or ``"iptables-legacy"``."""
        return self._backend

    def _live(self) -> int:
        if self._handle is None:
            raise ValueError("the meshcap.Engine is closed")
        return self._handle

    def apply(self, policy: Policy, *,
              expected_generation: Optional[int] = None) -> ApplyResult:
        """Makes the namespace hold exactly ``policy``'s capture, in one
        transaction. With ``expected_generation`` (a :class:`VerifyReport`'s
        ``generation``), applies only if nobody changed the ruleset since;
        else raises :class:`AbortedError` and changes nothing (nftables
        only)."""
        options = None
        if expected_generation is not None:
            options = _native.apply_options()
            options.flags = _native.APPLY_EXPECT_GENERATION
            options.expected_generation = expected_generation
        with self._lock:
            rc = lib.meshcap_engine_apply(self._live(), policy._handle,
                                          options, *self._out_refs)
            return self._result(rc)

    def _result(self, rc: int) -> ApplyResult:
        # Called with the lock held: reads and clears the out-parameters.
        if rc == _OK and not self._changed.value:
            # Nothing was sent: no changes to read.
            if self._out.value:
                lib.meshcap_free(self._out)
                self._out.value = None
            return self._unchanged
        check(rc, self._err)
        return _apply_result(_native.take(self._out))

    def verify(self, policy: Policy) -> VerifyReport:
        """Compares the namespace with ``policy``. A report is returned
        whether or not it matches (see :attr:`VerifyReport.matches`)."""
        out = c_void_p()
        err = c_void_p()
        with self._lock:
            rc = lib.meshcap_engine_verify(self._live(), policy._handle, None,
                                           byref(out), byref(err))
        check(rc, err)
        j = json.loads(_native.take(out) or "{}")
        return VerifyReport(
            backend=j.get("backend", ""), generation=j.get("generation", 0),
            differences=tuple(_difference(d)
                              for d in j.get("differences", ())))

    def clean(self) -> ApplyResult:
        """Removes everything of meshcap's from the namespace, in both
        backends, and its policy routing (``meshcap clean``). Removing
        nothing is fine."""
        with self._lock:
            rc = lib.meshcap_engine_clean(self._live(), *self._out_refs)
            return self._result(rc)

    def watch(self, policy: Policy, *, interval: float = 1.0,
              resync: float = 60.0,
              on_event: Optional[Callable[[WatchEvent], None]] = None
              ) -> None:
        """Applies ``policy``, then holds it: whenever anything changes
        what apply owns, re-applies it. Blocks until :meth:`stop_watch`
        (from another thread, or a signal handler's), leaving the capture
        in place; raises if the first apply fails. ``interval`` (seconds)
        is how often iptables-legacy is polled and a failed heal retried;
        ``resync`` how often the event-driven backends verify anyway.
        ``on_event`` receives each :class:`WatchEvent` on a thread of the
        package's (an exception it raises is printed and the watch goes
        on). Other calls on this engine wait until the watch returns."""
        o = _native.watch_options()
        o.interval_ms = _positive_ms("interval", interval)
        o.resync_ms = _positive_ms("resync", resync)
        reader: Optional[threading.Thread] = None
        write_end = -1
        if on_event is not None:
            read_end, write_end = os.pipe()
            o.event_fd = write_end
            callback = on_event

            def pump() -> None:
                with os.fdopen(read_end, "rb") as lines:
                    for line in lines:
                        try:
                            callback(_watch_event(json.loads(line)))
                        except Exception:  # keep draining the pipe
                            traceback.print_exc()

            reader = threading.Thread(target=pump, daemon=True,
                                      name="meshcap-watch-events")
            reader.start()
        err = c_void_p()
        try:
            with self._lock:
                rc = lib.meshcap_engine_watch(self._live(), policy._handle,
                                              byref(o), byref(err))
        finally:
            if write_end >= 0:
                os.close(write_end)
            if reader is not None:
                reader.join()
        check(rc, err)

    def stop_watch(self) -> None:
        """Makes the running (or next) :meth:`watch` return. Any thread;
        safe in a signal handler."""
        handle = self._handle
        if handle is not None:
            lib.meshcap_engine_stop_watch(handle)

    def close(self) -> None:
        """Releases the engine's socket and thread. Idempotent."""
        with self._lock:
            if self._handle is not None:
                lib.meshcap_engine_free(self._handle)
                self._handle = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            lib.meshcap_engine_free(self._handle)
            self._handle = None

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else self._backend
        return f"<meshcap.Engine {state}>"


def _positive_ms(name: str, seconds: float) -> int:
    ms = int(seconds * 1000)
    if not 0 < ms < 2**32:
        raise InvalidArgumentError(
            f"{name}: {seconds!r} is not a positive number of seconds")
    return ms


def validate(policy: Optional[Policy] = None, *,
             netns_path: Optional[Union[str, os.PathLike]] = None,
             netns_fd: Optional[int] = None,
             probe_port: int = 15002,
             ipv6: bool = False,
             timeout: float = 5.0,
             outbound_port: Optional[int] = None,
             inbound_port: Optional[int] = None,
             uid: Optional[int] = None,
             gid: Optional[int] = None) -> None:
    """Istio's validation probe (``istio-iptables --run-validation``).

    Listens on 127.0.0.1 (``::1`` with ``ipv6``) at the outbound and inbound
    capture ports, dials 127.0.0.6 (``::6``) at ``probe_port`` as the
    proxy's UID and GID, and returns when a listener accepts the connection
    with the probe port as its original destination. The ports and the
    identity come from ``policy`` (its proxy port, inbound capture port,
    first proxy UID and GID; Istio's defaults without one) unless given.

    Raises :class:`DeadlineExceededError` (a ``TimeoutError``) when nothing
    captured the probe within ``timeout`` seconds,
    :class:`FailedPreconditionError` when a listener cannot bind,
    :class:`PermissionDeniedError` when the identity cannot be taken.
    """
    o = _native.validate_options()
    err = c_void_p()
    if policy is not None:
        check(lib.meshcap_validate_options_set_policy(byref(o),
                                                      policy._handle,
                                                      byref(err)), err)
    o.netns_path = _native.path(netns_path)
    o.netns_fd = -1 if netns_fd is None else netns_fd
    o.probe_port = _port("probe_port", probe_port)
    if outbound_port is not None:
        o.outbound_port = _port("outbound_port", outbound_port)
    if inbound_port is not None:
        o.inbound_port = _port("inbound_port", inbound_port)
    if uid is not None:
        o.uid = uid
    if gid is not None:
        o.gid = gid
    o.flags = _native.VALIDATE_IPV6 if ipv6 else 0
    o.timeout_ms = int(timeout * 1000)
    check(lib.meshcap_validate(byref(o), byref(err)), err)


def _port(name: str, value: int) -> int:
    if not 0 < value < 65536:
        raise InvalidArgumentError(
            f"{name}: port '{value}' is out of range (1-65535)")
    return value
