#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Applies istio-init's default capture to a network namespace given by
path, checks it, and shows a captured connection: inside the namespace, a
connection dialled to 198.51.100.10:80 is accepted by a "proxy" listening
on 127.0.0.1:15001, which reads the address the application dialled with
SO_ORIGINAL_DST.

    python3 capture.py /var/run/netns/pod      (as root)

The namespace needs a route to 198.51.100.10, as a pod has (eth0 and a
default route); examples/run_example.sh makes such a namespace.
"""

import ctypes
import os
import socket
import struct
import sys
import threading

import meshcap

POLICY = ('{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*", '
          '"InboundPortsExclude": "15090,15021,15020"}')
CLONE_NEWNET = 0x40000000
SO_ORIGINAL_DST = 80  # <linux/netfilter_ipv4.h>


def sockets_in(netns_path):
    """The proxy's listener and the application's connection, made on a
    thread that enters the namespace (a socket belongs to the namespace it
    was made in). The calling thread never moves."""
    result = {}

    def make():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns_path}", os.strerror(err))
            finally:
                os.close(fd)
            proxy = socket.socket()
            proxy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            proxy.bind(("127.0.0.1", 15001))
            proxy.listen()
            app = socket.create_connection(("198.51.100.10", 80), timeout=5)
            result["sockets"] = proxy, app
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sockets"]


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} NETNS_PATH")
    netns_path = sys.argv[1]
    try:
        policy = meshcap.Policy.from_json(POLICY)
        with meshcap.Engine(netns_path=netns_path) as engine:
            result = engine.apply(policy)
            print(f"meshcap {meshcap.version()}: applied the istio-init "
                  f"policy to {netns_path} ({engine.backend}, "
                  f"{'changed' if result.changed else 'already in place'})")
            report = engine.verify(policy)
            print("verify: " + ("the kernel holds exactly the policy"
                                if report.matches else
                                "the kernel differs from the policy"))
            # Why the connection dialled below is captured, from the
            # policy alone: the rule that decides, in the backend's words.
            why = meshcap.explain(policy, dst="198.51.100.10:80", uid=1000,
                                  backend=engine.backend)
            print(f"explain: {why.summary}")
    except meshcap.Error as e:
        sys.exit(f"capture: {e} ({e.code.name})")

    proxy, app = sockets_in(netns_path)
    with proxy, app:
        conn, _ = proxy.accept()
        with conn:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port, address = struct.unpack("!2xH4s8x", raw)
            print("dialled 198.51.100.10:80; the proxy on 127.0.0.1:15001 "
                  "accepted it; original destination (SO_ORIGINAL_DST): "
                  f"{socket.inet_ntoa(address)}:{port}")


if __name__ == "__main__":
    main()
