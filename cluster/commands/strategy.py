"""``raytrader strategy list | new | check``: the built-in strategies and the user's own.

* ``list`` shows every registered strategy (built-in and those in the
  ``[strategies] path`` folder, default ``./user_data/strategies``) with
  its parameters, and where each user strategy is defined.
* ``new NAME`` writes ``NAME.py`` (a commented, working template) and
  ``test_NAME.py`` (its pytest tests) into that folder; the strategy is
  then usable everywhere a built-in one is (``backtest``, ``sweep``,
  ``walkforward``, ``montecarlo``, the API, Ray jobs).
* ``check NAME`` runs the lookahead check and the warm-up stability check
  (:mod:`backtest.strategy_check`) on the given data; exit status 0 when
  both pass, 1 with the reason when one fails (2 for bad input, as always).

Runs in this process; no cluster needed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from raytrader.errors import InputError

__all__ = ["register", "strategy_rows", "template", "test_template"]


class StrategyCommandError(InputError):
    """Bad input to ``raytrader strategy`` (the argument at fault is named)."""


def strategy_rows() -> list[dict[str, Any]]:
    """Every registered strategy as a JSON-able row (loads the user's strategy files first)."""
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from strategies.registry import get_strategy, list_strategies  # noqa: PLC0415 - late: keeps the CLI and --help fast

    rows = []
    for name in list_strategies():
        s = get_strategy(name)
        rows.append({
            "name": s.name, "doc": s.doc, "builtin": s.builtin, "origin": s.origin,
            "min_assets": s.min_assets, "max_assets": s.max_assets,
            "params": [{"name": p.name, "kind": p.kind, "low": p.low, "high": p.high, "step": p.step,
                        "default": p.default, "doc": p.doc} for p in s.params],
            "constraints": [c.description for c in s.constraints],
        })
    return rows


def _list(args: argparse.Namespace, config: Config) -> Output:
    from strategies.user import strategy_path  # noqa: PLC0415 - late: keeps the CLI and --help fast

    rows = strategy_rows()
    where = strategy_path()
    lines = [f"{'name':22s} {'source':8s} {'assets':6s} parameters (default [low..high])"]
    for r in rows:
        assets = "1" if r["max_assets"] == 1 and r["min_assets"] == 1 else \
            f"{r['min_assets']}..{r['max_assets'] if r['max_assets'] is not None else ''}"
        params = " ".join(f"{p['name']}={p['default']:g}[{p['low']:g}..{p['high']:g}]" for p in r["params"])
        lines.append(f"{r['name']:22s} {'built-in' if r['builtin'] else 'user':8s} {assets:6s} {params}")
        if not r["builtin"]:
            lines.append(f"{'':22s} defined at {r['origin']}")
    n_user = sum(not r["builtin"] for r in rows)
    state = "" if where.exists() else " (does not exist yet: `raytrader strategy new NAME` creates it)"
    lines.append(f"{len(rows)} strategies, {n_user} of them yours from {where}{state}")
    return Output(data={"strategies": rows, "user_path": str(where)}, text="\n".join(lines))


def _new(args: argparse.Namespace, config: Config) -> Output:
    import keyword  # noqa: PLC0415 - late: keeps the CLI and --help fast

    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from strategies.registry import list_strategies  # noqa: PLC0415 - late: keeps the CLI and --help fast

    name = args.name
    if not name.isidentifier() or keyword.iskeyword(name) or not name.islower():
        raise StrategyCommandError(f"NAME: {name!r} must be a lower-case Python identifier, e.g. my_cross")
    if name.startswith(("_", "test_")):
        raise StrategyCommandError(f"NAME: {name!r} may not start with '_' or 'test_' (such files are not loaded)")
    folder = Path(args.dir).expanduser().absolute() if args.dir else config.strategies.path
    if folder.exists() and not folder.is_dir():
        raise StrategyCommandError(f"--dir: {folder} is a file, not a folder")
    if name in list_strategies():
        raise StrategyCommandError(f"NAME: a strategy named {name!r} already exists; choose another name")
    files = {folder / f"{name}.py": template(name), folder / f"test_{name}.py": test_template(name)}
    for path in files:
        if path.exists() and not args.force:
            raise StrategyCommandError(f"NAME: {path} already exists (--force overwrites it)")
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    strategy_file, test_file = files
    hint = "" if folder == config.strategies.path else \
        f"\nthis is not the configured folder: set RAYTRADER_STRATEGIES__PATH={folder} (or [strategies] path) to use it"
    text = (f"wrote {strategy_file}\nwrote {test_file}\n"
            f"next: edit {strategy_file.name}, then\n"
            f"  raytrader strategy check {name} --sample ETH-BTC-5m\n"
            f"  raytrader backtest --strategy {name} --sample ETH-BTC-5m\n"
            f"  python -m pytest {test_file}{hint}")
    return Output(data={"strategy": name, "file": str(strategy_file), "test": str(test_file), "folder": str(folder)},
                  text=text)


def _check(args: argparse.Namespace, config: Config) -> Output:
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.strategy_check import check_strategy  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from types import SimpleNamespace  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from jobs.inputs import data_fields, describe_source, load_request_series  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from strategies.align import align_series  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps the CLI and --help fast

    record = get_strategy(args.name)
    request = SimpleNamespace(**data_fields(args))  # files (--symbol per file), samples, or stored series
    series = load_request_series(request)
    if record.multi_asset:
        bars: Any = align_series(series)
    elif len(series) != 1:
        raise StrategyCommandError(f"--data/--sample: strategy {record.name!r} takes one series, got {len(series)}")
    else:
        bars = series[0]
    result = check_strategy(record, bars, dict(args.params), points=args.points, startup=args.startup,
                            window=args.window, tolerance=args.tolerance)
    look, warm = result.lookahead, result.warmup
    source = describe_source(request)
    data = {
        "strategy": result.strategy, "params": dict(result.params), "ok": result.ok, "reason": result.reason,
        "source": source, "origin": record.origin,
        "lookahead": {"ok": look.ok, "points": len(look.points), "n_bars": look.n_bars,
                      "first_bad_bar": look.first_bad_bar, "first_bad_time_ms": look.first_bad_time_ms,
                      "reason": look.reason},
        "warmup": {"ok": warm.ok, "startup": warm.startup, "window": warm.window, "starts": list(warm.starts),
                   "tolerance": warm.tolerance, "max_difference": warm.max_difference,
                   "first_bad_bar": warm.first_bad_bar, "first_bad_time_ms": warm.first_bad_time_ms,
                   "reason": warm.reason},
    }
    params = " ".join(f"{k}={v}" for k, v in result.params.items())
    lines = [f"{result.strategy} {params} on {source} ({look.n_bars} bars)",
             f"  lookahead  {'PASS' if look.ok else 'FAIL'}  {len(look.points)} truncation points"
             + ("" if look.ok else f": {look.reason}"),
             f"  warm-up    {'PASS' if warm.ok else 'FAIL'}  last {warm.window} bars compared with history from bars "
             f"{', '.join(str(s) for s in warm.starts)} ({warm.startup} bars of warm-up at least)"
             + ("" if warm.ok else f": {warm.reason}"),
             "OK: safe to trade by these checks" if result.ok else "FAILED: paper and live trading refuse it"]
    return Output(data=data, text="\n".join(lines), exit_code=0 if result.ok else 1)


def register(sub: argparse._SubParsersAction) -> None:
    from jobs.inputs import UniqueParams, add_data_arguments, parse_param  # noqa: PLC0415 - late: keeps the CLI and --help fast

    group = add_group(sub, "strategy", "the built-in strategies and your own: list, new, check")
    add_command(group, "list", _list, "list the strategies (built-in and yours) with their parameters")
    p = add_command(group, "new", _new, "write a commented strategy template and its test into your strategy folder")
    p.add_argument("name", metavar="NAME", help="the new strategy's name (a lower-case identifier)")
    p.add_argument("--dir", help="folder to write to (default: the [strategies] path, ./user_data/strategies)")
    p.add_argument("--force", action="store_true", help="overwrite NAME.py and test_NAME.py if they exist")
    p = add_command(group, "check", _check,
                    "lookahead and warm-up stability checks of a strategy on your data (exit 1 when one fails)")
    p.add_argument("name", metavar="NAME", help="a registered strategy (built-in or yours)")
    add_data_arguments(p, multi=True)
    p.add_argument("-p", "--param", dest="params", action=UniqueParams, type=parse_param, default=[],
                   metavar="NAME=VALUE", help="strategy parameter, repeatable (default: the declared defaults)")
    p.add_argument("--points", type=int, default=25,
                   help="lookahead: evenly spaced truncation points, plus as many next to target changes (default 25)")
    p.add_argument("--startup", type=int, default=None,
                   help="warm-up: bars of history before the compared window (default max(3 * min_bars, 100))")
    p.add_argument("--window", type=int, default=None,
                   help="warm-up: bars compared at the end of the data (default a quarter of the rest)")
    p.add_argument("--tolerance", type=float, default=1e-9,
                   help="warm-up: largest accepted target difference, fraction of equity (default 1e-9)")


def template(name: str) -> str:
    """The commented strategy file ``strategy new NAME`` writes."""
    return _TEMPLATE.replace("NAME", name)


def test_template(name: str) -> str:
    """The pytest file ``strategy new NAME`` writes beside the strategy."""
    return _TEST_TEMPLATE.replace("NAME", name)


_TEMPLATE = '''"""NAME: long while the fast SMA is above the slow one and RSI is not overbought; flat otherwise.

A raytrader user strategy (written by `raytrader strategy new NAME`): edit it freely.
raytrader loads every *.py file in this folder (except names starting with "_" or
"test_") and registers the strategies it declares, exactly as the built-in ones
(compare strategies/sma_cross.py). Then it works everywhere a built-in strategy does:

    raytrader strategy check NAME --sample ETH-BTC-5m   # no lookahead, stable warm-up
    raytrader backtest --strategy NAME --sample ETH-BTC-5m -p fast=10
    raytrader sweep --strategy NAME -g fast=5:30:5 -g slow=40:120:20
    raytrader walkforward --strategy NAME ...   /   raytrader montecarlo --strategy NAME ...

The contract:

* ``NAME(bars, **params)`` is a pure function (no I/O, no global state). ``bars``
  has 1-D arrays ``timestamp`` (int64 ms UTC), ``open high low close volume``
  (float64), oldest first. It returns one float64 target per bar, a fraction of
  equity: 1.0 all-in long, 0.0 flat, -1.0 all-in short (values in between size
  the position).
* ``out[t]`` may use only bars ``0..t``: the engine fills it at bar t+1's open by
  default. Using a later bar is lookahead; `raytrader strategy check` finds it.
* ``out[t]`` must not depend on how much history precedes it beyond what
  ``min_bars`` says (no cumulative sums from the first bar); the check finds that too.
* Parameters are declared once, in REGISTER below: kind, range, grid step,
  default. The command line (-p/-g), sweeps, walk-forward, Monte Carlo and the
  API all validate against these declarations; ``Strategy.run`` validates before
  it calls the function, so the function itself may trust its arguments.

Indicators, all float64 with NaN during warm-up and no lookahead:
``strategies.indicators`` (numba: sma, ema, rsi, macd, atr, bollinger, donchian,
vwap, rolling_zscore, ...) and ``strategies.ta`` (every TA-Lib function:
``ta.RSI(close, timeperiod=14)``, ``ta.on_bars("ADX", bars, timeperiod=14)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies import Strategy, register, ta
from strategies.indicators import sma
from strategies.params import Constraint, ParamSpec


def NAME(bars, fast: int, slow: int, rsi_n: int, rsi_max: float) -> np.ndarray:
    """Target per bar: 1.0 while sma(fast) > sma(slow) and RSI(rsi_n) < rsi_max, else 0.0."""
    close = np.asarray(bars.close, dtype=np.float64)
    trend_up = sma(close, fast) > sma(close, slow)          # False while either SMA is NaN (warm-up)
    not_overbought = ta.RSI(close, timeperiod=rsi_n) < rsi_max
    return np.where(trend_up & not_overbought, 1.0, 0.0)


def _fast_below_slow(values: Mapping[str, float]) -> bool:
    return values["fast"] < values["slow"]


def _min_bars(values: Mapping[str, float]) -> int:
    """Fewest bars the function accepts: both SMAs and the RSI must exist on the last bar."""
    return int(max(values["slow"], values["rsi_n"] + 1))


REGISTER = register(
    Strategy(
        name="NAME",
        doc="Long while SMA(fast) > SMA(slow) and RSI(rsi_n) < rsi_max; flat otherwise.",
        fn=NAME,
        params=(
            ParamSpec(name="fast", kind="int", low=2, high=200, default=10, doc="fast SMA window, bars"),
            ParamSpec(name="slow", kind="int", low=3, high=500, default=40, doc="slow SMA window, bars"),
            ParamSpec(name="rsi_n", kind="int", low=2, high=100, default=14, doc="RSI period, bars"),
            ParamSpec(name="rsi_max", kind="float", low=50.0, high=100.0, step=0.5, default=75.0,
                      doc="no new long above this RSI, RSI points"),
        ),
        constraints=(Constraint(description="fast < slow", predicate=_fast_below_slow, names=("fast", "slow")),),
        min_bars=_min_bars,
    )
)
'''

_TEST_TEMPLATE = '''"""Tests of the user strategy NAME (run: python -m pytest test_NAME.py).

raytrader does not load files whose name starts with "test_", so this file is
never mistaken for a strategy.
"""

from pathlib import Path

import numpy as np

from backtest.strategy_check import check_strategy
from market.samples import load_sample
from strategies.registry import get_strategy
from strategies.user import load_user_strategies

load_user_strategies(Path(__file__).resolve().parent)  # registers NAME from NAME.py beside this file


def test_one_target_per_bar_as_a_fraction_of_equity() -> None:
    bars = load_sample("ETH-BTC-5m")
    out = get_strategy("NAME").run(bars)
    assert out.shape == (len(bars),) and out.dtype == np.float64
    assert np.isfinite(out).all() and (np.abs(out) <= 1.0).all()
    assert 0 < np.count_nonzero(out) < len(out)  # it trades: neither always flat nor always in


def test_no_lookahead_and_a_stable_warm_up() -> None:
    result = check_strategy("NAME", load_sample("ETH-BTC-5m"))
    assert result.ok, result.reason
'''
