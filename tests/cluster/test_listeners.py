"""Every socket our cluster listens on is bound to loopback or refuses a caller without the Ray token.

Listed from the kernel (psutil), for every process of the shared test
cluster's two sessions (Ray head with its workers, Serve replica and proxy;
private Redis), with the API deployed by ``raytrader serve up``. The one
listener Ray hard-codes to all interfaces (each Serve replica's
inter-deployment gRPC server, ``[::]:0`` in ``ray/serve/_private/replica.py``)
must answer an unauthenticated call of a real method with UNAUTHENTICATED.
"""

from __future__ import annotations

import ipaddress
import time

import psutil
import pytest

from cluster.lifecycle import session_members
from raytrader.config import load_config
from raytrader.state import read_state

pytestmark = pytest.mark.ray

#: Ray's fixed defaults for the autoscaler's and the dashboard's metrics servers, shared by every cluster
#: on a machine unless `raytrader up` picks ports of its own
RAY_FIXED_METRICS_PORTS = {44217, 44227}
#: seconds for every configured server of the cluster to listen (they all did when `up` returned on a quiet machine)
LISTENERS_WITHIN_S = 60.0


def _refuses_without_token(port: int) -> bool:
    """True when the gRPC server on ``port`` refuses a real Serve method called without a token."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/ray.serve.ASGIService/HandleRequest",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            call(b"", timeout=10)
        except grpc.RpcError as exc:
            return exc.code() == grpc.StatusCode.UNAUTHENTICATED
    return False


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _listeners(leaders: list[int]) -> dict[tuple[str, int], str]:
    """(ip, port) -> process name of every listening socket of the sessions led by ``leaders``."""
    listeners: dict[tuple[str, int], str] = {}
    for leader in leaders:
        for proc in session_members(leader):
            try:
                name = proc.name()
                conns = proc.net_connections("inet")
            except psutil.Error:
                continue
            listeners.update({(c.laddr.ip, c.laddr.port): name for c in conns if c.status == psutil.CONN_LISTEN})
    return listeners


def test_every_listener_of_the_cluster_is_loopback_only(cluster, deployed_api: dict) -> None:
    config = load_config()
    # the cluster as it is now, not as the session started it: tests/jobs/test_paper_crash.py SIGKILLs its
    # redis-server and `up` starts a new one (same port, a new process), which two pytest-xdist workers can run first
    now = read_state(config.cluster.home)
    assert now is not None and now.ray is not None and now.redis is not None, now
    assert now.ray.process == cluster.ray.process  # the same Ray head as the session's
    expected = {config.cluster.gcs_port, config.cluster.dashboard_port, config.cluster.client_port,
                config.cluster.agent_port, now.redis.port, deployed_api["port"], deployed_api["port"] + 10}
    leaders = [now.ray.process, now.redis.process]
    deadline = time.monotonic() + LISTENERS_WITHIN_S
    listeners = _listeners(leaders)
    # on a loaded machine a server of the cluster (seen: one of Ray's) may still be starting: list again until
    # every configured one listens, so the checks below see the whole set
    while not expected <= {port for _, port in listeners} and time.monotonic() < deadline:
        time.sleep(0.5)
        listeners = _listeners(leaders)
    wide = {(ip, port): name for (ip, port), name in listeners.items() if not _loopback(ip)}
    assert set(wide.values()) <= {"ray::ServeReplica:raytrader-api:SignalsIngress"}, (
        f"listening beyond loopback: {wide}")
    open_to_all = {f"{ip}:{port} ({name})" for (ip, port), name in wide.items() if not _refuses_without_token(port)}
    assert not open_to_all, f"listening beyond loopback without token authentication: {sorted(open_to_all)}"

    ports = {port for _, port in listeners}
    assert expected <= ports, f"missing listeners: {sorted(expected - ports)}"  # the list above is complete
    assert len(ports) >= len(expected) + 4  # and Ray's internal servers (raylet, agents, metrics) are in it
    assert not ports & RAY_FIXED_METRICS_PORTS, "a metrics server took Ray's fixed port, shared across clusters"
