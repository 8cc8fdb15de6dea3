"""Loopback ports: find free ones and probe them. Every raytrader server binds 127.0.0.1.

A port found free here is only free *now*: the caller binds it later, so a
race with another process is possible and callers retry or fail loudly.
"""

from __future__ import annotations

import random
import socket
from typing import Iterable

__all__ = ["free_port", "free_ports", "free_port_block", "stable_ports", "STABLE_SPAN", "port_open"]

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


#: ports :func:`stable_ports` picks from: above Ray's worker ports (``raytrader.config`` RAY_MIN/MAX_WORKER_PORT,
#: 10002-19999) and below Linux's ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``, 32768-60999 by
#: default), from which the kernel gives every outgoing connection (and so every TIME_WAIT) its local port
STABLE_SPAN = range(20_000, 32_768)


def stable_ports(block: int, singles: int, *, span: range = STABLE_SPAN, exclude: Iterable[int] = (),
                 seed: int | None = None, attempts: int = 200) -> tuple[int, list[int]]:
    """``(first, others)``: a block ``first .. first + block - 1`` and ``singles`` more ports, all distinct and free
    on 127.0.0.1 now, all in ``span``: for servers bound long after the pick (a test cluster's ports are chosen
    when pytest starts and bound minutes later). A port that :func:`free_port` gets from the kernel lies in the
    ephemeral range, where any outgoing connection may take it (or leave it in TIME_WAIT) before the bind; one
    in :data:`STABLE_SPAN` is never handed out that way. Two processes picking in the same span may still choose
    the same port: give each its own ``span`` (tests/conftest.py splits it per pytest-xdist worker); ``exclude``:
    ports promised earlier and maybe not bound yet (free now, but taken).

    Raises:
        ValueError: ``block`` < 1, ``singles`` < 0, or the span holds fewer than ``block + singles`` ports.
        RuntimeError: no such ports found in ``attempts`` random tries.
    """
    if block < 1 or singles < 0 or len(span) < block + singles:
        raise ValueError(f"block {block} + singles {singles}: not within the {len(span)} ports of {span}")
    rng = random.Random(seed)
    banned = frozenset(exclude)
    held: list[socket.socket] = []

    def take(port: int) -> bool:
        if port in banned:
            return False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            sock.close()
            return False
        held.append(sock)
        return True

    try:
        for _ in range(attempts):
            first = rng.randrange(span.start, span.stop - block + 1)
            if all(take(p) for p in range(first, first + block)):
                break
            for sock in held:
                sock.close()
            held.clear()
        else:
            raise RuntimeError(f"no block of {block} free loopback ports in {span} in {attempts} tries")
        others: list[int] = []
        for _ in range(attempts * max(singles, 1)):
            if len(others) == singles:
                return first, others
            port = rng.randrange(span.start, span.stop)
            if not first <= port < first + block and port not in others and take(port):
                others.append(port)
        raise RuntimeError(f"no {singles} free loopback ports in {span} beside the block in {attempts} tries")
    finally:
        for sock in held:
            sock.close()


def port_open(host: str, port: int, timeout_s: float = 0.3) -> bool:
    """True when something accepts TCP connections on ``host:port`` (within ``timeout_s`` seconds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        return s.connect_ex((host, port)) == 0
