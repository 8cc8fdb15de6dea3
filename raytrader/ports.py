"""Loopback ports: find free ones and probe them. Every raytrader server binds 127.0.0.1.

A port found free here is only free *now*: the caller binds it later, so a
race with another process is possible and callers retry or fail loudly.
"""

from __future__ import annotations

import socket
from typing import Iterable

__all__ = ["free_port", "free_ports", "free_port_block", "port_open"]

LOOPBACK = "127.0.0.1"


#: binds :func:`free_port` tries before it gives up finding a port outside ``exclude``
FREE_PORT_TRIES = 100_000


def free_port(exclude: Iterable[int] = ()) -> int:
    """A TCP port the kernel reports free on 127.0.0.1 at this moment, none of ``exclude`` (ports promised to
    something that has not bound them yet: the kernel would hand them out).

    Raises:
        RuntimeError: no such port in :data:`FREE_PORT_TRIES` binds.
    """
    banned = frozenset(exclude)
    for _ in range(FREE_PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
        if port not in banned:
            return port
    raise RuntimeError(f"no free loopback port outside the {len(banned)} excluded ones in {FREE_PORT_TRIES} tries")


def free_ports(count: int, *, exclude: Iterable[int] = ()) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now, none in ``exclude``.

    The sockets are held until all are found, so the kernel cannot hand the
    same port out twice (separate :func:`free_port` calls can repeat one).
    """
    banned = set(exclude)
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
            if port not in banned:
                ports.append(port)
            if len(held) > count + 1000:
                raise RuntimeError(f"no {count} free loopback ports outside the excluded ones")
    finally:
        for s in held:
            s.close()
    return ports


def free_port_block(size: int, *, attempts: int = 50) -> int:
    """The first port ``p`` such that ``p .. p + size - 1`` are all free on 127.0.0.1 right now.

    Raises:
        ValueError: ``size`` < 1.
        RuntimeError: no such block found in ``attempts`` tries.
    """
    if size < 1:
        raise ValueError(f"size: expected >= 1, got {size}")
    for _ in range(attempts):
        first = free_port()
        if first + size > 65536:
            continue
        socks: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind((LOOPBACK, port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no block of {size} free loopback ports found in {attempts} tries")


def port_open(host: str, port: int, timeout_s: float = 0.3) -> bool:
    """True when something accepts TCP connections on ``host:port`` (within ``timeout_s`` seconds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        return s.connect_ex((host, port)) == 0
