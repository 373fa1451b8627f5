# SPDX-License-Identifier: GPL-2.0-or-later
# Type stubs for the public API of meshcap (see the package docstring).

import enum
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Tuple, Union

__version__: str

KnobValue = Union[str, bool, int, Iterable[Union[str, int]], None]
_Path = Union[str, os.PathLike[str]]

class Code(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

class Error(Exception):
    code: Code
    message: str
    def __init__(self, message: str, code: Optional[int] = ...) -> None: ...

class InvalidArgumentError(Error, ValueError): ...
class NotFoundError(Error, LookupError): ...
class PermissionDeniedError(Error, PermissionError): ...
class DeadlineExceededError(Error, TimeoutError): ...
class AbortedError(Error): ...
class FailedPreconditionError(Error): ...
class UnavailableError(Error): ...
class ResourceExhaustedError(Error): ...
class InternalError(Error): ...

def version() -> str: ...

class Policy:
    def __init__(self, knobs: Optional[Mapping[str, KnobValue]] = ..., /,
                 **kwargs: KnobValue) -> None: ...
    @classmethod
    def from_json(cls, text: str, source: Optional[str] = ...) -> Policy: ...
    def to_json(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class PolicyBuilder:
    def __init__(self) -> None: ...
    def set(self, key: str, value: KnobValue,
            origin: Optional[str] = ...) -> PolicyBuilder: ...
    def unset(self, key: str) -> PolicyBuilder: ...
    def update_json(self, text: str,
                    source: Optional[str] = ...) -> PolicyBuilder: ...
    def build(self) -> Policy: ...

def render(policy: Policy, backend: str) -> str: ...

@dataclass(frozen=True)
class ExplainStep:
    table: str
    family: str
    chain: str
    rule: int
    text: str
    matched: bool
    outcome: str
    decisive: bool

@dataclass(frozen=True)
class Explanation:
    captured: bool
    port: Optional[int]
    mode: str
    summary: str
    tproxy_mark: Optional[int]
    route_table: Optional[int]
    ct_zone: Optional[int]
    mark: int
    connmark: int
    backend: str
    packet: str
    path: Tuple[ExplainStep, ...]

def explain(policy: Policy, *, dst: str, proto: str = ...,
            src: Optional[str] = ..., uid: Optional[int] = ...,
            gid: Optional[int] = ..., oif: Optional[str] = ...,
            iif: Optional[str] = ..., mark: int = ..., connmark: int = ...,
            ct_state: str = ..., backend: str = ...) -> Explanation: ...

@dataclass(frozen=True)
class ApplyResult:
    backend: str
    changes: Tuple[str, ...]
    @property
    def changed(self) -> bool: ...

@dataclass(frozen=True)
class Difference:
    kind: str
    object: str
    table: str
    chain: str
    position: int
    desired: str
    actual: str
    text: str

@dataclass(frozen=True)
class VerifyReport:
    backend: str
    generation: int
    differences: Tuple[Difference, ...]
    @property
    def matches(self) -> bool: ...

@dataclass(frozen=True)
class WatchEvent:
    kind: str
    message: str
    drifted: Tuple[str, ...]
    changes: Tuple[str, ...]
    elapsed: float
    error: str

class Engine:
    def __init__(self, *, backend: str = ...,
                 netns_path: Optional[_Path] = ...,
                 netns_fd: Optional[int] = ...,
                 xtables_lock_path: Optional[_Path] = ...,
                 state_dir: Optional[_Path] = ...,
                 lock_timeout: Optional[float] = ...) -> None: ...
    @property
    def backend(self) -> str: ...
    def apply(self, policy: Policy, *,
              expected_generation: Optional[int] = ...) -> ApplyResult: ...
    def verify(self, policy: Policy) -> VerifyReport: ...
    def clean(self) -> ApplyResult: ...
    def watch(self, policy: Policy, *, interval: float = ...,
              resync: float = ...,
              on_event: Optional[Callable[[WatchEvent], None]] = ...
              ) -> None: ...
    def stop_watch(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Engine: ...
    def __exit__(self, *exc_info: object) -> None: ...

def validate(policy: Optional[Policy] = ..., *,
             netns_path: Optional[_Path] = ...,
             netns_fd: Optional[int] = ...,
             probe_port: int = ...,
             ipv6: bool = ...,
             timeout: float = ...,
             outbound_port: Optional[int] = ...,
             inbound_port: Optional[int] = ...,
             uid: Optional[int] = ...,
             gid: Optional[int] = ...) -> None: ...
