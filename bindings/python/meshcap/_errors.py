# SPDX-License-Identifier: GPL-2.0-or-later
"""Error codes and exceptions.

Every failure of the library raises a subclass of :class:`Error` carrying
the code (:class:`Code`, Abseil's canonical codes, value for value with the
C ABI's ``MESHCAP_*``) and the library's message, which names the offending
value. Where a built-in exception means the same thing, the class derives
from it too, so that ``except PermissionError`` or ``except ValueError``
work as expected.
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """An error code: ``absl::StatusCode`` and ``enum meshcap_code``."""

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
    """A meshcap failure: ``code`` says what kind, ``message`` what and where.

    ``str(error)`` is the message, e.g. ``"policy: key 'InboundPortsExclude':
    port '0' is out of range (1-65535)"``.
    """

    #: The code of this class of errors; an instance may carry another one
    #: when no subclass matches it.
    code: Code = Code.UNKNOWN

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = _code(code)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.message!r}, "
                f"code={self.code.name})")


class InvalidArgumentError(Error, ValueError):
    """A malformed or out-of-range value, an unknown key or backend, a rule
    the kernel refused (``Code.INVALID_ARGUMENT``)."""

    code = Code.INVALID_ARGUMENT


class NotFoundError(Error, LookupError):
    """A namespace path that does not exist, an unknown group name
    (``Code.NOT_FOUND``)."""

    code = Code.NOT_FOUND


class PermissionDeniedError(Error, PermissionError):
    """No CAP_NET_ADMIN (or CAP_SYS_ADMIN to enter the namespace), no write
    access to the state directory, an identity the probe cannot take
    (``Code.PERMISSION_DENIED``)."""

    code = Code.PERMISSION_DENIED


class DeadlineExceededError(Error, TimeoutError):
    """The namespace's lock (or the xtables lock) was still held by another
    process after the timeout, or the validation probe was not captured in
    time (``Code.DEADLINE_EXCEEDED``)."""

    code = Code.DEADLINE_EXCEEDED


class AbortedError(Error):
    """The expected ruleset generation no longer matches: somebody changed
    the ruleset in between; nothing was applied (``Code.ABORTED``)."""

    code = Code.ABORTED


class FailedPreconditionError(Error):
    """The namespace's state prevents the operation: lo down, a foreign jump
    into meshcap's chains, a proxy already listening during validation
    (``Code.FAILED_PRECONDITION``)."""

    code = Code.FAILED_PRECONDITION


class UnavailableError(Error):
    """The kernel lacks a feature (``Code.UNAVAILABLE``)."""

    code = Code.UNAVAILABLE


class ResourceExhaustedError(Error):
    """Out of memory (``Code.RESOURCE_EXHAUSTED``)."""

    code = Code.RESOURCE_EXHAUSTED


class InternalError(Error):
    """A bug in meshcap (``Code.INTERNAL``)."""

    code = Code.INTERNAL


_BY_CODE: dict[int, type[Error]] = {
    cls.code: cls
    for cls in (InvalidArgumentError, NotFoundError, PermissionDeniedError,
                DeadlineExceededError, AbortedError, FailedPreconditionError,
                UnavailableError, ResourceExhaustedError, InternalError)
}


def _code(value: int) -> Code:
    try:
        return Code(value)
    except ValueError:
        return Code.UNKNOWN


def error_for(code: int, message: str) -> Error:
    """The exception for a code returned by the C ABI."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return Error(message, code)
    return cls(message)
