"""GCS fault tolerance: the GCS store and the head-restart record, without Ray.

The test with Ray (the GCS SIGKILLed while detached actors run on a worker node; they keep answering, and the
head restarted by `raytrader up` reloads the cluster from its GCS store and takes new work) runs last on the
multi-node cluster of ``test_multinode.py``, whose head runs with ``cluster.gcs_fault_tolerance = true``: one
head start and one teardown for both (README "Scaling out").
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from raytrader.config import load_config


def test_gcs_fault_tolerance_is_off_by_default_and_up_then_starts_no_gcs_store(tmp_path: Path) -> None:
    from cluster.lifecycle import read_gcs_store

    config = load_config(env={"RAYTRADER_CLUSTER__HOME": str(tmp_path)})
    assert config.cluster.gcs_fault_tolerance is False and read_gcs_store(config) is None
    assert load_config(env={"RAYTRADER_CLUSTER__GCS_FAULT_TOLERANCE": "true"}).cluster.gcs_fault_tolerance


def test_the_gcs_store_listens_on_loopback_comes_back_on_its_port_and_down_deletes_it(tmp_path: Path) -> None:
    import redis

    from cluster.lifecycle import _ensure_gcs_store, _stop_gcs_store, read_gcs_store, session_members

    config = load_config(env={"RAYTRADER_CLUSTER__HOME": str(tmp_path)})
    store, started = _ensure_gcs_store(config)
    try:
        assert started and read_gcs_store(config) == store
        assert _ensure_gcs_store(config) == (store, False)  # running: left alone
        client = redis.Redis.from_url(store.url())
        client.set("probe", "1")
        conf = (tmp_path / "gcs-redis" / "redis.conf").read_text()
        assert "bind 127.0.0.1\n" in conf and "appendonly yes" in conf and "requirepass" not in conf
        assert (tmp_path / "gcs-redis" / "redis.conf").stat().st_mode & 0o077 == 0
        for p in session_members(store.process):  # the store crashes
            p.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while store.process.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        again, started = _ensure_gcs_store(config)  # comes back on the same port, its AOF bringing the data back
        assert started and again.port == store.port and again.process != store.process
        assert redis.Redis.from_url(again.url()).get("probe") == b"1"
    finally:
        pids = _stop_gcs_store(config)
    assert pids and read_gcs_store(config) is None and not (tmp_path / "gcs-redis").exists()


def test_a_restart_forgets_the_dead_heads_address_record_only_when_it_names_that_head(tmp_path: Path) -> None:
    from cluster.lifecycle import _forget_dead_head
    from raytrader.state import ProcessRecord, RayRecord

    record = tmp_path / "ray_current_cluster"
    head = RayRecord(process=ProcessRecord(pid=1, create_time=0.0), gcs_address="127.0.0.1:6379",
                     dashboard_url="", num_cpus=1, temp_dir=str(tmp_path), log_path="")
    record.write_text("127.0.0.1:7000")  # another cluster's (Ray's default temp dir is shared): kept
    _forget_dead_head(head)
    assert record.read_text() == "127.0.0.1:7000"
    record.write_text("127.0.0.1:6379")
    _forget_dead_head(head)
    assert not record.exists()
    _forget_dead_head(head)  # nothing to remove: no error
