"""Fixtures of the cluster tests: a private cluster's run folder and ports, for tests that kill or stop it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from cluster.lifecycle import down
from raytrader.config import load_config
from tests.conftest import cluster_env


@contextlib.contextmanager
def private_cluster_home(prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A run folder and free ports (set in the environment through ``monkeypatch``) for a cluster of one's own;
    whatever was started there is stopped and the folder removed after."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    for key, value in cluster_env(home).items():
        monkeypatch.setenv(key, value)
    try:
        yield home
    finally:
        down(load_config())  # a no-op when the cluster was already stopped
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def own_cluster_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A run folder and free ports for a cluster of the test's own; whatever it started is stopped after.

    For tests that kill Ray's GCS or Redis, or stop the cluster: the shared session
    cluster keeps serving the other tests.
    """
    with private_cluster_home("rt-life-", monkeypatch) as home:
        yield home


@pytest.fixture(scope="package")
def deployed_api(cluster) -> Iterator[dict]:
    """``raytrader serve up`` on the shared cluster, once for the package; ``serve down`` after it.

    Yields ``{"port": serve.port, "dashboard": the dashboard URL}``.
    """
    from cluster.cli import main

    assert main(["serve", "up", "--json"]) == 0
    try:
        yield {"port": load_config().serve.port, "dashboard": cluster.ray.dashboard_url}
    finally:
        main(["serve", "down"])
