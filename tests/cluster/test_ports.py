"""raytrader.ports: free loopback ports and the open-port probe, against real sockets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from raytrader.ports import STABLE_SPAN, free_port, free_port_block, port_open, stable_ports


def test_a_free_port_can_be_bound_and_then_probes_open() -> None:
    port = free_port()
    assert not port_open("127.0.0.1", port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert port_open("127.0.0.1", port)
    assert not port_open("127.0.0.1", port)


def test_a_free_block_is_consecutive_and_bindable() -> None:
    first = free_port_block(11)
    assert 1024 <= first and first + 10 <= 65535
    socks = []
    try:
        for port in range(first, first + 11):  # every port of the block binds (none is taken)
            assert not port_open("127.0.0.1", port)
            sock = socket.socket()
            socks.append(sock)
            sock.bind(("127.0.0.1", port))
            sock.listen()
        bound = [s.getsockname()[1] for s in socks]
        assert bound == list(range(first, first + 11))
        assert all(port_open("127.0.0.1", port) for port in bound)  # now they are taken, and seen so
    finally:
        for sock in socks:
            sock.close()


def test_a_block_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        free_port_block(0)


def test_free_ports_are_distinct_and_avoid_the_excluded() -> None:
    from raytrader.ports import free_ports

    block = free_port_block(11)
    ports = free_ports(20, exclude=range(block, block + 11))
    assert len(set(ports)) == 20 and not set(ports) & set(range(block, block + 11))
    for port in ports[:3]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # each is free


def test_a_free_port_is_none_of_the_excluded_even_when_the_kernel_offers_them() -> None:
    """Exclude every port of the kernel's ephemeral range but a window of 300: without ``exclude`` honoured,
    bind(0) lands in the excluded part ~99 % of the time. (A configured port nobody has bound yet is what the
    kernel offers; ``up``'s own Redis once took the session cluster's dashboard port so.)"""
    low, high = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    window = range(low + (high - low) // 2, low + (high - low) // 2 + 300)
    excluded = set(range(low, high + 1)) - set(window)
    picks = {free_port(exclude=excluded) for _ in range(5)}
    assert picks <= set(window), picks


def test_configured_ports_are_every_port_the_config_fixes() -> None:
    from raytrader.config import load_config

    env = {"RAYTRADER_CLUSTER__GCS_PORT": "7001", "RAYTRADER_CLUSTER__DASHBOARD_PORT": "7002",
           "RAYTRADER_CLUSTER__CLIENT_PORT": "7003", "RAYTRADER_CLUSTER__AGENT_PORT": "7004",
           "RAYTRADER_SERVE__PORT": "7100"}
    assert load_config(env=env).configured_ports() == {7001, 7002, 7003, 7004, *range(7100, 7111)}
    both = load_config(env={**env, "RAYTRADER_REDIS__PORT": "7005", "RAYTRADER_PROMETHEUS__PORT": "7006"})
    assert both.configured_ports() == {7001, 7002, 7003, 7004, 7005, 7006, *range(7100, 7111)}


def test_stable_ports_lie_below_the_ephemeral_range_free_and_distinct() -> None:
    """A test cluster's ports are bound minutes after the pick: none may come from the range the kernel hands to
    outgoing connections, and none twice."""
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert STABLE_SPAN.stop <= low  # the assumption behind STABLE_SPAN holds on this machine
    first, others = stable_ports(11, 4, seed=1)
    ports = [*range(first, first + 11), *others]
    assert len(set(ports)) == 15 and all(p in STABLE_SPAN for p in ports)
    assert not any(port_open("127.0.0.1", p) for p in ports)
    span = range(STABLE_SPAN.start, STABLE_SPAN.start + 40)
    again = stable_ports(11, 4, span=span, exclude=range(span.start, span.start + 20), seed=2)
    assert all(p >= span.start + 20 for p in [*range(again[0], again[0] + 11), *again[1]])
    with socket.socket() as held:  # a port in use is never chosen
        held.bind(("127.0.0.1", span.start + 39))
        assert {stable_ports(1, 0, span=range(span.start + 38, span.start + 40), seed=seed)[0]
                for seed in range(20)} == {span.start + 38}
        with pytest.raises(RuntimeError, match="no 1 free"):
            stable_ports(1, 1, span=range(span.start + 38, span.start + 40), attempts=20)
    with pytest.raises(ValueError, match="block 30"):
        stable_ports(30, 20, span=span)
