"""The typed config loader: defaults, file, environment, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytrader.config import ConfigError, load_config
from raytrader.errors import InputError


def test_defaults_are_loopback_and_derive_the_store(tmp_path: Path) -> None:
    cfg = load_config(env={"RAYTRADER_CLUSTER__HOME": str(tmp_path)})
    assert cfg.cluster.dashboard_host == "127.0.0.1"
    assert cfg.cluster.dashboard_port == 8265
    assert cfg.cluster.home == tmp_path
    assert cfg.data.store == tmp_path / "store"
    assert cfg.redis.url == ""
    assert cfg.effective_num_cpus() >= 1


def test_file_then_env_precedence(tmp_path: Path) -> None:
    f = tmp_path / "rt.toml"
    f.write_text('[cluster]\nnum_cpus = 1\ndashboard_port = 9000\n[data]\nstore = "/data/bars"\n')
    cfg = load_config(f, env={"RAYTRADER_CLUSTER__DASHBOARD_PORT": "9100"})
    assert cfg.cluster.num_cpus == 1          # from the file
    assert cfg.cluster.dashboard_port == 9100  # env beats file
    assert cfg.data.store == Path("/data/bars")


def test_redis_url_env(tmp_path: Path) -> None:
    cfg = load_config(env={"REDIS_URL": "redis://127.0.0.1:6390/0"})
    assert cfg.redis.url == "redis://127.0.0.1:6390/0"


def test_config_file_from_env_variable(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[redis]\nport = 7000\n")
    assert load_config(env={"RAYTRADER_CONFIG": str(f)}).redis.port == 7000


@pytest.mark.parametrize(
    ("env", "field", "reason"),
    [
        ({"RAYTRADER_CLUSTER__DASHBOARD_PORT": "abc"}, "cluster.dashboard_port", "expected an integer"),
        ({"RAYTRADER_CLUSTER__DASHBOARD_PORT": "70000"}, "cluster.dashboard_port", "must be a TCP port"),
        ({"RAYTRADER_CLUSTER__NUM_CPUS": "-1"}, "cluster.num_cpus", "must be >= 0"),
        ({"RAYTRADER_CLUSTER__NUM_CPUS": "1.5"}, "cluster.num_cpus", "expected an integer"),
        ({"RAYTRADER_CLUSTER__DASHBOARD_HOST": "0.0.0.0"}, "cluster.dashboard_host", "loopback"),
        ({"RAYTRADER_CLUSTER__DASHBOARD_HOST": "localhostx"}, "cluster.dashboard_host", "IP address"),
        ({"RAYTRADER_CLUSTER__START_TIMEOUT_S": "0"}, "cluster.start_timeout_s", "must be > 0"),
        ({"RAYTRADER_CLUSTER__START_TIMEOUT_S": "nan"}, "cluster.start_timeout_s", "finite number"),
        ({"RAYTRADER_CLUSTER__NOPE": "1"}, "cluster.nope", "unknown field"),
        ({"REDIS_URL": "http://x"}, "redis.url", "redis://"),
        ({"RAYTRADER_REDIS__APPENDFSYNC": "sometimes"}, "redis.appendfsync", "always, everysec, no"),
    ],
)
def test_bad_env_value_names_field_and_source(env: dict[str, str], field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    msg = str(err.value)
    assert f"'{field}'" in msg and reason in msg
    assert "env " in msg  # says where the bad value came from
    assert isinstance(err.value, InputError)  # the CLI turns it into exit 2


def test_bad_env_section() -> None:
    with pytest.raises(ConfigError, match="unknown section 'clustr'"):
        load_config(env={"RAYTRADER_CLUSTR__NUM_CPUS": "2"})


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[cluster]\nnum_cpus = 'two'\n", "'cluster.num_cpus' (from file"),
        ("[cluster]\ngcs_port = 0\n", "'cluster.gcs_port'"),
        ("[clusterz]\nnum_cpus = 2\n", "unknown section [clusterz]"),
        ("[cluster\n", "not valid TOML"),
        ("cluster = 3\n", "must be a [section] table"),
        ("[cluster]\nhome = 5\n", "'cluster.home'"),
    ],
)
def test_bad_file(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f, env={})
    assert needle in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_cli_exits_2_on_bad_config(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cluster.cli import main

    monkeypatch.setenv("RAYTRADER_CLUSTER__NUM_CPUS", "many")
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cluster.num_cpus" in err and "RAYTRADER_CLUSTER__NUM_CPUS" in err


@pytest.mark.parametrize("env, setting", [
    ({"RAYTRADER_CLUSTER__CLIENT_PORT": "10021"}, "cluster.client_port"),
    ({"RAYTRADER_CLUSTER__GCS_PORT": "10002"}, "cluster.gcs_port"),
    ({"RAYTRADER_CLUSTER__AGENT_PORT": "19999"}, "cluster.agent_port"),
    ({"RAYTRADER_REDIS__PORT": "12000"}, "redis.port"),
    ({"RAYTRADER_SERVE__PORT": "9995"}, "serve.port"),  # its block 9995..10005 reaches into the range
])
def test_a_port_in_rays_worker_range_is_refused_naming_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    message = str(err.value)
    assert f"'{setting}'" in message and "worker port range 10002..19999" in message
    assert f"env {next(iter(env))}" in message


def test_two_settings_on_one_port_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "rt.toml"
    f.write_text("[cluster]\ndashboard_port = 8005\n")  # inside serve.port's block 8000..8010
    with pytest.raises(ConfigError, match=r"'serve.port' \(from default\): port 8000..8010 collides with "
                                          r"cluster.dashboard_port \(8005\)"):
        load_config(f, env={})
    with pytest.raises(ConfigError, match=r"'cluster.agent_port' \(from env RAYTRADER_CLUSTER__AGENT_PORT\)"):
        load_config(env={"RAYTRADER_CLUSTER__AGENT_PORT": "8265"})
    assert load_config(env={"RAYTRADER_SERVE__PORT": "9000"}).serve.port == 9000  # 9000..9010 is free of both


def test_cli_exits_2_for_a_port_in_rays_range(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from cluster.cli import main

    monkeypatch.setenv("RAYTRADER_CLUSTER__CLIENT_PORT", "10021")
    assert main(["up"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cluster.client_port" in err[0] and "Traceback" not in err[0]
