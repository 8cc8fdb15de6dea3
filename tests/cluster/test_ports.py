"""raytrader.ports: free loopback ports and the open-port probe, against real sockets."""

from __future__ import annotations

import socket

import pytest

from raytrader.ports import free_port, free_port_block, port_open


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
