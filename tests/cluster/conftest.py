"""Fixtures of the cluster tests: a private cluster's run folder and ports, for tests that kill or stop it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from cluster.lifecycle import down
from raytrader.config import load_config
from tests.conftest import cluster_env


@pytest.fixture
def own_cluster_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A run folder and free ports for a cluster of the test's own; whatever it started is stopped after.

    For tests that kill Ray's GCS or Redis, or stop the cluster: the shared session
    cluster keeps serving the other tests.
    """
    home = Path(tempfile.mkdtemp(prefix="rt-life-", dir="/tmp"))
    for key, value in cluster_env(home).items():
        monkeypatch.setenv(key, value)
    try:
        yield home
    finally:
        down(load_config())  # a no-op when the test already stopped it
        shutil.rmtree(home, ignore_errors=True)


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
