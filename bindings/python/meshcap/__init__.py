# SPDX-License-Identifier: GPL-2.0-or-later
"""meshcap: Istio's transparent traffic capture, applied in-process.

Installs the rules of Istio's ``istio-init`` (``istio-iptables``) into a
network namespace through nftables or legacy iptables, checks them, removes
them, and runs Istio's validation probe. The package is a thin layer over
meshcap's stable C ABI (``libmeshcap_c.so.1``) through ctypes; it has no
compiled part of its own and works with any CPython 3.8 or later.

::

    import meshcap

    policy = meshcap.Policy.from_json(
        '{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",'
        ' "InboundPortsExclude": "15090,15021,15020"}')
    print(meshcap.render(policy, "nftables"))          # a dry run
    print(meshcap.explain(policy, dst="10.96.0.10:80", uid=1337).summary)
    with meshcap.Engine(netns_path="/var/run/netns/pod") as engine:
        engine.apply(policy)                           # one transaction
        report = engine.verify(policy)
        assert report.matches, [str(d) for d in report.differences]
    meshcap.validate(policy, netns_path="/var/run/netns/pod")

Errors raise :class:`Error` subclasses carrying a :class:`Code` (Abseil's
status codes) and the library's message, which names the offending value;
``NotFoundError``, ``PermissionDeniedError``, ``InvalidArgumentError`` and
``DeadlineExceededError`` are also ``LookupError``, ``PermissionError``,
``ValueError`` and ``TimeoutError``.

Threads: policies are immutable and may be shared; an :class:`Engine` may
be used from several threads (calls take turns). No thread of the caller
changes network namespace: the library enters namespaces on threads of its
own. Applying needs CAP_NET_ADMIN in the target namespace (and
CAP_SYS_ADMIN to enter one given by path or fd).
"""

from . import _config
from ._api import (ApplyResult, Difference, Engine, Explanation, ExplainStep,
                   KnobValue, Policy, PolicyBuilder, VerifyReport, WatchEvent,
                   explain, render, validate, version)
from ._errors import (AbortedError, Code, DeadlineExceededError, Error,
                      FailedPreconditionError, InternalError,
                      InvalidArgumentError, NotFoundError,
                      PermissionDeniedError, ResourceExhaustedError,
                      UnavailableError)

#: The version of this package (and of the meshcap it was built with).
__version__: str = _config.VERSION

__all__ = [
    "AbortedError",
    "ApplyResult",
    "Code",
    "DeadlineExceededError",
    "Difference",
    "Engine",
    "Error",
    "ExplainStep",
    "Explanation",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "KnobValue",
    "NotFoundError",
    "PermissionDeniedError",
    "Policy",
    "PolicyBuilder",
    "ResourceExhaustedError",
    "UnavailableError",
    "VerifyReport",
    "WatchEvent",
    "render",
    "validate",
    "version",
]
