"""The user's own strategy files: loaded from a folder, registered like the built-ins, named errors at file:line."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import strategies  # noqa: F401
from backtest.engine import run_backtest
from jobs.backtest import BacktestRequest, run_backtest_request
from raytrader.errors import InputError
from strategies import registry, user
from strategies.errors import ParamError, UserStrategyError
from strategies.indicators import sma
from strategies.registry import get_strategy, list_strategies
from tests.strategies._data import sample
from tests.strategies._user_files import CHEAT, GOOD, unique, write


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers into a copy of the registry and loads files afresh."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(user, "_LOADED", {})


def test_a_user_file_is_loaded_on_first_use_and_behaves_like_a_builtin(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique("above_sma")
    path = write(tmp_path, name, GOOD)
    monkeypatch.setenv("RAYTRADER_STRATEGIES__PATH", str(tmp_path))
    assert name not in registry._registered()
    record = get_strategy(name)  # an unknown name loads the configured folder
    assert not record.builtin and record.origin.startswith(f"{path}:")
    line = int(record.origin.rpartition(":")[2])
    assert path.read_text().splitlines()[line - 1].startswith("RECORD = register(")
    assert name in list_strategies() and "sma_cross" in list_strategies()
    assert sys.modules[f"raytrader_user_strategies.{name}"].RECORD is record

    bars = sample("ETH-BTC-5m")
    out = record.run(bars, {"n": "30", "short": 1})  # strings, as from -p n=30: validated by the declarations
    close = bars.close
    mean = sma(close, 30)
    with np.errstate(invalid="ignore"):
        expected = np.where(close > mean, 1.0, np.where(close < mean, -1.0, 0.0))
    assert np.array_equal(out, expected) and out.dtype == np.float64
    with pytest.raises(ParamError, match="band < 0.5"):
        record.run(bars, {"band": 0.6})
    with pytest.raises(ParamError, match="n=1 is out of range"):
        record.run(bars, {"n": 1})

    result = run_backtest_request(BacktestRequest(strategy=name, params=(("n", "30"),), sample="ETH-BTC-5m"))
    engine = run_backtest(bars, record.run(bars, {"n": 30}), fees_bps=10.0)
    assert result["strategy"] == name and result["n_trades"] == len(engine.trades) > 0


def test_loading_twice_imports_once_and_helpers_and_tests_are_not_strategies(tmp_path: Path) -> None:
    helper = unique("_helper")
    (tmp_path / f"{helper}.py").write_text("FACTOR = 2\n")
    name = unique("uses_helper")
    write(tmp_path, name, GOOD.replace("import numpy as np", f"import numpy as np\nfrom raytrader_user_strategies.{helper} "
                                       "import FACTOR"))
    (tmp_path / f"test_{name}.py").write_text("raise RuntimeError('a test file is not a strategy')\n")
    first = user.load_user_strategies(tmp_path)
    assert [f.names for f in first] == [(name,)]
    assert user.load_user_strategies(tmp_path) == first
    assert user.strategy_files(tmp_path) == (tmp_path / f"{name}.py",)


@pytest.mark.parametrize(("body", "line", "reason"), [
    ("import numpy as np\n\ndef f(bars:\n    return bars\n", 3, "syntax error"),
    ("X = 1\nY = {}['missing']\n", 2, "KeyError: 'missing'"),
    ("import numpy_that_does_not_exist\n", 1, "ModuleNotFoundError"),
    ("X = 1\n", 0, "registers no strategy"),
    ("from strategies import register\nfrom strategies.sma_cross import SMA_CROSS\nimport dataclasses\n\n"
     "register(dataclasses.replace(SMA_CROSS, fn=lambda bars, fast, slow: bars.close * 0))\n", 5,
     "'sma_cross' is already registered (a built-in strategy)"),
    ("from strategies import Strategy, register\nfrom strategies.params import ParamSpec\n\n"
     "register(Strategy(name='oops', doc='', fn=print, min_bars=lambda v: 1,\n"
     "                  params=(ParamSpec(name='n', kind='int', low=5, high=1, default=3),)))\n", 5,
     "low 5 > high 1"),
])
def test_a_broken_file_is_a_named_error_at_its_line(tmp_path: Path, body: str, line: int, reason: str) -> None:
    stem = unique("broken")
    path = tmp_path / f"{stem}.py"
    path.write_text(body)
    before = set(registry._registered())
    with pytest.raises(UserStrategyError) as info:
        user.load_user_strategies(tmp_path)
    err = info.value
    assert isinstance(err, InputError)  # exit 2 on the command line, 4xx over HTTP
    assert err.path == str(path) and err.line == line and reason in err.reason
    assert str(err).startswith(f"strategy file {path}{f':{line}' if line else ''}: ")
    assert set(registry._registered()) == before  # nothing half-registered
    assert f"raytrader_user_strategies.{stem}" not in sys.modules


def test_two_files_declaring_one_name_clash_naming_both(tmp_path: Path) -> None:
    name = unique("twice")
    first = write(tmp_path, "a_" + name, GOOD, name=name)
    second = write(tmp_path, "b_" + name, GOOD, name=name)
    with pytest.raises(UserStrategyError) as info:
        user.load_user_strategies(tmp_path)
    assert info.value.path == str(second) and info.value.line > 0
    assert f"defined at {first}:" in info.value.reason
    assert get_strategy(name).origin.startswith(f"{first}:")  # the first file's strategy stays


def test_bad_file_and_strategy_names_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "my-strategy.py"
    bad.write_text(GOOD.replace("NAME", "whatever"))
    with pytest.raises(UserStrategyError, match="must be a Python identifier"):
        user.load_user_strategies(tmp_path)
    bad.unlink()
    write(tmp_path, unique("odd"), GOOD.replace('name="NAME"', 'name="has space"'))
    with pytest.raises(UserStrategyError, match="'has space' must be an identifier"):
        user.load_user_strategies(tmp_path)
    assert "has space" not in registry._registered()


def test_a_single_file_works_and_a_missing_folder_means_none(tmp_path: Path) -> None:
    name = unique("single")
    path = write(tmp_path / "elsewhere", name, CHEAT)
    assert [f.names for f in user.load_user_strategies(path)] == [(name,)]
    assert user.load_user_strategies(tmp_path / "nothing_here") == ()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserStrategyError, match="must be a Python file"):
        user.load_user_strategies(tmp_path / "notes.txt")


def test_the_config_file_and_the_environment_choose_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "raytrader.toml"
    toml.write_text(f'[strategies]\npath = "{tmp_path / "from_file"}"\n')
    monkeypatch.setenv("RAYTRADER_CONFIG", str(toml))
    assert user.strategy_path() == tmp_path / "from_file"
    monkeypatch.setenv("RAYTRADER_STRATEGIES__PATH", str(tmp_path / "from_env"))
    assert user.strategy_path() == tmp_path / "from_env"
    monkeypatch.delenv("RAYTRADER_STRATEGIES__PATH")
    monkeypatch.delenv("RAYTRADER_CONFIG")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert user.strategy_path() == tmp_path / "work" / "user_data" / "strategies"  # the default, under the working dir
    monkeypatch.chdir(tmp_path)
    assert user.strategy_path() == tmp_path / "from_file"  # ./raytrader.toml


def test_the_runtime_env_ships_strategies_and_helpers_not_tests(tmp_path: Path) -> None:
    name = unique("shipped")
    write(tmp_path, name, GOOD)
    (tmp_path / "_util.py").write_text("X = 1\n")
    (tmp_path / f"test_{name}.py").write_text("")
    assert user.shipping_runtime_env({"env_vars": {"A": "1"}}, tmp_path / "empty") == {"env_vars": {"A": "1"}}
    assert user.shipping_runtime_env(None, tmp_path / "empty") is None
    given = {"env_vars": {"A": "1"}, "py_modules": ["/x"]}
    env = user.shipping_runtime_env(given, tmp_path)
    assert given == {"env_vars": {"A": "1"}, "py_modules": ["/x"]}  # not modified
    assert env is not None and env["env_vars"] == {"A": "1", user.SHIPPED_ENV: "1"}
    staged = Path(env["py_modules"][1])
    assert env["py_modules"][0] == "/x" and staged.name == user.PACKAGE
    assert sorted(p.name for p in staged.iterdir()) == sorted(["__init__.py", "_util.py", f"{name}.py"])
    assert (staged / f"{name}.py").read_bytes() == (tmp_path / f"{name}.py").read_bytes()
    assert user.shipping_runtime_env(None, tmp_path)["py_modules"] == [str(staged)]  # same content, same folder
    (tmp_path / "_util.py").write_text("X = 2\n")
    assert user.shipping_runtime_env(None, tmp_path)["py_modules"] != [str(staged)]  # changed content, new folder
