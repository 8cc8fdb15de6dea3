"""``raytrader strategy new | list | check`` as a user runs them, in the user's own working folder.

The commands run in this process (``cluster.cli.main``, the console script's
entry) with the working directory set to a temp folder; the generated test
file runs under a real ``pytest`` process there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import cli
from strategies import registry, user
from tests.strategies._user_files import CHEAT, GOOD, unique, write


@pytest.fixture()
def raytrader(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``raytrader(cwd, *args, env=...)``: exit status, stdout and stderr, with its own registry and env."""
    builtins = dict(registry._REGISTRY)

    def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # each command starts as a fresh process would: built-ins only, no user module imported, no --config env
        monkeypatch.setattr(registry, "_REGISTRY", dict(builtins))
        monkeypatch.setattr(user, "_LOADED", {})
        for module in [m for m in sys.modules if m.startswith(f"{user.PACKAGE}.")]:
            monkeypatch.delitem(sys.modules, module)
        for var in ("RAYTRADER_STRATEGIES__PATH", "RAYTRADER_CONFIG"):
            monkeypatch.delenv(var, raising=False)  # restored (unset) afterwards, whatever --config sets
        monkeypatch.chdir(cwd)
        with monkeypatch.context() as scoped:
            for k, v in (env or {}).items():
                scoped.setenv(k, v)
            capsys.readouterr()
            code = cli.main(list(args))
            out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["raytrader", *args], code, out, err)

    return run


def test_the_strategy_commands_are_part_of_the_cli() -> None:
    assert "cluster.commands.strategy" in cli.COMMAND_MODULES


def test_new_writes_a_working_template_and_test_then_list_check_and_backtest_use_it(raytrader, tmp_path: Path,
                                                                                    request: pytest.FixtureRequest) -> None:
    name = unique("my_cross")
    made = raytrader(tmp_path, "strategy", "new", name, "--json")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    folder = tmp_path / "user_data" / "strategies"  # the default folder, under the working directory
    assert info["file"] == str(folder / f"{name}.py") and info["test"] == str(folder / f"test_{name}.py")
    source = (folder / f"{name}.py").read_text()
    assert f'name="{name}"' in source and "ParamSpec(" in source and "Constraint(" in source
    assert "out[t]" in source  # the contract is written down where the user edits

    # the generated tests run in a pytest process of their own while the commands below run here (it starts
    # in seconds: third-party plugins such as schemathesis and hypothesis, unused by the file, are not autoloaded)
    tests = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    request.addfinalizer(tests.kill)  # a no-op once it has exited

    listing = raytrader(tmp_path, "strategy", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {r["name"]: r for r in json.loads(listing.stdout)["strategies"]}
    assert rows["sma_cross"]["builtin"] and rows["sma_cross"]["origin"] == "built-in"
    mine = rows[name]
    assert not mine["builtin"] and mine["origin"].startswith(f"{folder / name}.py:")
    assert [p["name"] for p in mine["params"]] == ["fast", "slow", "rsi_n", "rsi_max"]
    assert mine["constraints"] == ["fast < slow"]
    text = raytrader(tmp_path, "strategy", "list").stdout
    assert f"{name}" in text and "user" in text and f"defined at {folder / name}.py:" in text

    check = raytrader(tmp_path, "strategy", "check", name, "--sample", "ETH-BTC-5m", "-p", "fast=8", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    verdict = json.loads(check.stdout)
    assert verdict["ok"] and verdict["lookahead"]["ok"] and verdict["warmup"]["ok"] and verdict["params"]["fast"] == 8

    bt = raytrader(tmp_path, "backtest", "--strategy", name, "--sample", "ETH-BTC-5m", "-p", "fast=8", "--json")
    assert bt.returncode == 0, bt.stderr
    assert json.loads(bt.stdout)["strategy"] == name

    again = raytrader(tmp_path, "strategy", "new", name)
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.splitlines()) == 1
    clash = raytrader(tmp_path, "strategy", "new", "sma_cross")
    assert clash.returncode == 2 and "'sma_cross' already exists" in clash.stderr
    bad = raytrader(tmp_path, "strategy", "new", "My-Strategy")
    assert bad.returncode == 2 and "lower-case Python identifier" in bad.stderr

    report, _ = tests.communicate(timeout=300)
    assert tests.returncode == 0 and "2 passed" in report, report[-2000:]


def test_check_fails_a_lookahead_cheat_with_the_reason(raytrader, tmp_path: Path) -> None:
    name = unique("peek")
    write(tmp_path / "user_data" / "strategies", name, CHEAT)
    out = raytrader(tmp_path, "strategy", "check", name, "--sample", "ETH-BTC-5m")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "lookahead  FAIL" in out.stdout and "uses data from after bar" in out.stdout
    assert "FAILED: paper and live trading refuse it" in out.stdout
    as_json = json.loads(raytrader(tmp_path, "strategy", "check", name, "--json").stdout)
    assert not as_json["ok"] and not as_json["lookahead"]["ok"] and as_json["reason"] == as_json["lookahead"]["reason"]
    assert as_json["source"] == "sample:ETH-BTC-5m"  # the default sample when no data is given


@pytest.mark.parametrize(("body", "line", "words"), [
    ("import numpy as np\n\n\ndef f(:\n    pass\n", 4, "syntax error"),
    ("from strategies import register\nfrom strategies.sma_cross import SMA_CROSS\nimport dataclasses\n"
     "register(dataclasses.replace(SMA_CROSS, doc='mine'))\n", 4, "'sma_cross' is already registered (a built-in"),
])
def test_a_broken_or_clashing_file_is_exit_2_naming_file_and_line(raytrader, tmp_path: Path, body: str, line: int,
                                                                   words: str) -> None:
    folder = tmp_path / "user_data" / "strategies"
    folder.mkdir(parents=True)
    path = folder / f"{unique('broken')}.py"
    path.write_text(body)
    for args in (("strategy", "list"), ("backtest", "--strategy", "not_a_builtin", "--sample", "ETH-BTC-5m")):
        out = raytrader(tmp_path, *args)
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr.startswith(f"raytrader: error: strategy file {path}:{line}: ") and words in out.stderr
        assert len(out.stderr.splitlines()) == 1
    ok = raytrader(tmp_path, "backtest", "--strategy", "sma_cross", "--sample", "ETH-BTC-5m", "--json")
    assert ok.returncode == 0  # a broken user file does not stop the built-ins


def test_config_file_env_and_dir_flag_point_elsewhere(raytrader, tmp_path: Path) -> None:
    name = unique("elsewhere")
    elsewhere = tmp_path / "my strategies"
    write(elsewhere, name, GOOD)
    toml = tmp_path / "custom.toml"
    toml.write_text(f'[strategies]\npath = "{elsewhere}"\n')
    work = tmp_path / "work"
    work.mkdir()
    via_flag = raytrader(work, "--config", str(toml), "backtest", "--strategy", name, "--sample", "BTC-USD-1d", "--json")
    assert via_flag.returncode == 0, via_flag.stderr
    via_env = raytrader(work, "strategy", "list", "--json", env={"RAYTRADER_STRATEGIES__PATH": str(elsewhere)})
    assert json.loads(via_env.stdout)["user_path"] == str(elsewhere)
    assert name in {r["name"] for r in json.loads(via_env.stdout)["strategies"]}
    default = raytrader(work, "strategy", "list", "--json")
    assert name not in {r["name"] for r in json.loads(default.stdout)["strategies"]}
    made = raytrader(work, "strategy", "new", unique("other"), "--dir", str(tmp_path / "third"))
    assert made.returncode == 0 and "RAYTRADER_STRATEGIES__PATH" in made.stdout  # says how to use that folder
