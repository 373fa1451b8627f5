# SPDX-License-Identifier: GPL-2.0-or-later
"""The C ABI (``libmeshcap_c.so.1``, ``<meshcap/meshcap_c.h>``) via ctypes.

Nothing here is public. The library is found at the path the build wrote
into ``_config.py`` (the installed library, or the built one in a build
tree), else by its soname through the dynamic loader's search path. ctypes
releases the GIL for every call, so a slow apply does not stop other
Python threads.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (POINTER, Structure, c_char_p, c_int, c_int32, c_int64,
                    c_uint16, c_uint32, c_void_p)
from typing import Optional

from . import _config
from ._errors import Code, error_for, _code

SONAME = "libmeshcap_c.so.1"


def _load() -> ctypes.CDLL:
    tried = []
    for candidate in (_config.LIBRARY, SONAME):
        if not candidate or (os.sep in candidate
                             and not os.path.exists(candidate)):
            continue
        try:
            return ctypes.CDLL(candidate)
        except OSError as e:
            tried.append(f"{candidate}: {e}")
    raise ImportError(
        "meshcap: cannot load the C library "
        f"({'; '.join(tried) or _config.LIBRARY + ': no such file'}); "
        f"is {SONAME} installed?")


lib = _load()


class EngineOptions(Structure):
    """``meshcap_engine_options``."""

    _fields_ = [
        ("size", c_uint32),
        ("netns_fd", c_int32),
        ("backend", c_char_p),
        ("netns_path", c_char_p),
        ("xtables_lock_path", c_char_p),
        ("state_dir", c_char_p),
        ("lock_timeout_ms", c_int64),
    ]


class ApplyOptions(Structure):
    """``meshcap_apply_options``."""

    _fields_ = [
        ("size", c_uint32),
        ("flags", c_uint32),
        ("expected_generation", c_uint32),
    ]


APPLY_EXPECT_GENERATION = 1


class ValidateOptions(Structure):
    """``meshcap_validate_options``."""

    _fields_ = [
        ("size", c_uint32),
        ("netns_fd", c_int32),
        ("netns_path", c_char_p),
        ("outbound_port", c_uint16),
        ("inbound_port", c_uint16),
        ("probe_port", c_uint16),
        ("flags", c_uint16),
        ("uid", c_uint32),
        ("gid", c_uint32),
        ("timeout_ms", c_int64),
    ]


VALIDATE_IPV6 = 1


class WatchOptions(Structure):
    """``meshcap_watch_options`` (MESHCAP_1.1)."""

    _fields_ = [
        ("size", c_uint32),
        ("interval_ms", c_uint32),
        ("resync_ms", c_uint32),
        ("event_fd", c_int32),
    ]


# Sizes of MESHCAP_1.0 (and 1.1's watch options); a mismatch means
# this file and the header disagree.
assert ctypes.sizeof(EngineOptions) == 48
assert ctypes.sizeof(ApplyOptions) == 12
assert ctypes.sizeof(ValidateOptions) == 40
assert ctypes.sizeof(WatchOptions) == 16

_out = POINTER(c_void_p)


def _proto(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_proto("meshcap_version", c_char_p)
_proto("meshcap_code_name", c_char_p, c_int)
_proto("meshcap_free", None, c_void_p)
_proto("meshcap_policy_from_json", c_int, c_char_p, _out, _out)
_proto("meshcap_policy_to_json", c_int, c_void_p, _out, _out)
_proto("meshcap_policy_free", c_void_p, c_void_p)
_proto("meshcap_policy_builder_new", c_int, _out, _out)
_proto("meshcap_policy_builder_set", c_int, c_void_p, c_char_p, c_char_p,
       c_char_p, _out)
_proto("meshcap_policy_builder_unset", c_int, c_void_p, c_char_p, _out)
_proto("meshcap_policy_builder_set_json", c_int, c_void_p, c_char_p,
       c_char_p, _out)
_proto("meshcap_policy_builder_build", c_int, c_void_p, _out, _out)
_proto("meshcap_policy_builder_free", c_void_p, c_void_p)
_proto("meshcap_render", c_int, c_void_p, c_char_p, _out, _out)
_proto("meshcap_explain", c_int, c_void_p, c_char_p, c_char_p, _out, _out)
_proto("meshcap_engine_new", c_int, POINTER(EngineOptions), _out, _out)
_proto("meshcap_engine_free", c_void_p, c_void_p)
_proto("meshcap_engine_backend", c_char_p, c_void_p)
_proto("meshcap_engine_apply", c_int, c_void_p, c_void_p,
       POINTER(ApplyOptions), POINTER(c_int), _out, _out)
_proto("meshcap_engine_verify", c_int, c_void_p, c_void_p, POINTER(c_int),
       _out, _out)
_proto("meshcap_engine_clean", c_int, c_void_p, POINTER(c_int), _out, _out)
_proto("meshcap_engine_watch", c_int, c_void_p, c_void_p,
       POINTER(WatchOptions), _out)
_proto("meshcap_engine_stop_watch", None, c_void_p)
_proto("meshcap_validate_options_set_policy", c_int,
       POINTER(ValidateOptions), c_void_p, _out)
_proto("meshcap_validate", c_int, POINTER(ValidateOptions), _out)


def engine_options() -> EngineOptions:
    """``meshcap_engine_options_init()`` (a static inline in C)."""
    return EngineOptions(ctypes.sizeof(EngineOptions), -1, None, None, None,
                         None, -1)


def apply_options() -> ApplyOptions:
    return ApplyOptions(ctypes.sizeof(ApplyOptions), 0, 0)


def watch_options() -> WatchOptions:
    return WatchOptions(ctypes.sizeof(WatchOptions), 1000, 60000, -1)


def validate_options() -> ValidateOptions:
    return ValidateOptions(ctypes.sizeof(ValidateOptions), -1, None, 15001,
                           15006, 15002, 0, 1337, 1337, -1)


def take(p: c_void_p) -> Optional[str]:
    """A string the library returned, freed."""
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value).decode("utf-8", "replace")
    finally:
        lib.meshcap_free(p)
        p.value = None


def check(rc: int, error: c_void_p) -> None:
    """Raises the exception for `rc` (with the message in `error`)."""
    message = take(error)
    if rc == Code.OK:
        return
    raise error_for(rc, message or f"meshcap: {_code(rc).name}")


def text(value: Optional[str]) -> Optional[bytes]:
    """A C string argument: UTF-8, None as NULL."""
    return None if value is None else value.encode("utf-8")


def path(value: str | os.PathLike | None) -> Optional[bytes]:
    """A file name argument, as the file system spells it; None as NULL."""
    return None if value is None else os.fsencode(value)
