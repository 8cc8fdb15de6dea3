"""Every input the engine refuses, the sweep refuses: same error class, same message, on both sweep paths.

The batched kernel (``sma_cross``, chosen by its record's capability) and the
reference path (``ema_cross``, one backtest per configuration) are both
checked, and so is the kernel called directly. The bars are the real bundled
ETH/BTC 5m sample with one field spoiled per case.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import strategies  # noqa: F401  (registers the built-in strategies)
from backtest.costs import MAX_FEES_BPS
from backtest.crossover_sweep import sweep_crossover
from backtest.engine import run_backtest
from backtest.grid import expand_grid, parse_grid
from backtest.sweep import evaluate_configs
from market.samples import load_sample
from raytrader.errors import InputError
from strategies.registry import get_strategy

SMA = get_strategy("sma_cross")
EMA = get_strategy("ema_cross")
N = 600  # bars: enough for every configuration below


@pytest.fixture(scope="module")
def real() -> dict[str, np.ndarray]:
    bars = load_sample("ETH-BTC-5m").take(slice(0, N))
    return {name: np.array(getattr(bars, name)) for name in ("timestamp", "open", "high", "low", "close", "volume")}


def _bars(real: dict[str, np.ndarray], **change: object) -> SimpleNamespace:
    """A Bars lookalike of the real arrays; ``change`` replaces fields (``None`` drops one)."""
    fields = {k: v.copy() for k, v in real.items()}
    for name, value in change.items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    return SimpleNamespace(**fields)


def _spoil(real: dict[str, np.ndarray], name: str, row: int, value: float) -> np.ndarray:
    arr = real[name].astype(np.float64).copy()
    arr[row] = value
    return arr


# (case id, keyword arguments, bars changes): each one the engine refuses
CASES = [
    ("fees negative", {"fees_bps": -1.0}, {}),
    ("fees NaN", {"fees_bps": float("nan")}, {}),
    ("fees inf", {"fees_bps": float("inf")}, {}),
    ("fees at the engine's maximum", {"fees_bps": MAX_FEES_BPS}, {}),
    ("fees above the engine's maximum", {"fees_bps": 2500.0}, {}),
    ("fees a bool", {"fees_bps": True}, {}),
    ("fees a string", {"fees_bps": "10"}, {}),
    ("cash zero", {"cash": 0.0}, {}),
    ("cash negative", {"cash": -5.0}, {}),
    ("cash NaN", {"cash": float("nan")}, {}),
    ("cash inf", {"cash": float("inf")}, {}),
    ("cash a bool", {"cash": True}, {}),
    ("cash a string", {"cash": "10000"}, {}),
    ("fill unknown", {"fill": "vwap"}, {}),
    ("fill empty", {"fill": ""}, {}),
    ("fill not a string", {"fill": 1}, {}),
    ("close NaN", {}, {"close": ("close", 100, float("nan"))}),
    ("close negative", {}, {"close": ("close", N - 1, -1.0)}),
    ("open zero", {}, {"open": ("open", 7, 0.0)}),
    ("open inf", {}, {"open": ("open", 300, float("inf"))}),
    ("open missing", {}, {"open": None}),
    ("timestamp missing", {}, {"timestamp": None}),
    ("timestamp not integers", {}, {"timestamp": "float"}),
    ("open shorter than close", {}, {"open": "short"}),
    ("close two-dimensional", {}, {"close": "2d"}),
]


def _case_bars(real: dict[str, np.ndarray], changes: dict[str, object]) -> SimpleNamespace:
    change: dict[str, object] = {}
    for name, how in changes.items():
        if how is None:
            change[name] = None
        elif how == "float":
            change[name] = real[name].astype(np.float64)
        elif how == "short":
            change[name] = real[name][:-1].copy()
        elif how == "2d":
            change[name] = real[name].reshape(-1, 1).copy()
        else:
            change[name] = _spoil(real, *how)
    return _bars(real, **change)


@pytest.mark.parametrize(("kwargs", "changes"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_the_sweep_refuses_what_the_engine_refuses(real, kwargs, changes) -> None:
    bars = _case_bars(real, changes)
    options = {"fees_bps": 10.0, "fill": "open", "cash": 10_000.0, **kwargs}
    with pytest.raises(InputError) as refused:
        run_backtest(bars, np.zeros(N), **options)
    want_type, want_text = type(refused.value), str(refused.value)

    sma_names, sma_params = expand_grid(SMA, parse_grid(["fast=5,10", "slow=20,40"]))
    ema_names, ema_params = expand_grid(EMA, parse_grid(["fast=5,10", "slow=20"]))
    attempts = {
        "batched kernel": lambda: evaluate_configs(bars, SMA, sma_names, sma_params, timeframe_ms=300_000, **options),
        "kernel called directly": lambda: sweep_crossover(SMA, bars, sma_params[:, 0], sma_params[:, 1],
                                                          timeframe_ms=300_000, **options),
        "reference path": lambda: evaluate_configs(bars, EMA, ema_names, ema_params, timeframe_ms=300_000, **options),
    }
    for path, attempt in attempts.items():
        with pytest.raises(InputError) as err:
            attempt()
        assert type(err.value) is want_type, (path, err.value)
        assert str(err.value) == want_text, path


def test_the_unspoiled_inputs_pass_everywhere(real) -> None:
    """The cases above fail because of the one spoiled input: the same call with good inputs runs."""
    bars = _bars(real)
    assert run_backtest(bars, np.zeros(N), fees_bps=10.0).final_equity == 10_000.0
    names, params = expand_grid(SMA, parse_grid(["fast=5,10", "slow=20,40"]))
    assert len(evaluate_configs(bars, SMA, names, params, timeframe_ms=300_000, fees_bps=10.0)) == 4
    assert len(sweep_crossover(SMA, bars, params[:, 0], params[:, 1], timeframe_ms=300_000, fees_bps=10.0)) == 4
    names, params = expand_grid(EMA, parse_grid(["fast=5,10", "slow=20"]))
    assert len(evaluate_configs(bars, EMA, names, params, timeframe_ms=300_000, fees_bps=10.0)) == 2
    # just below the engine's fee maximum is still a fee the engine and the sweep accept
    below = np.nextafter(MAX_FEES_BPS, 0.0)
    assert np.isfinite(evaluate_configs(bars, SMA, ("fast", "slow"), np.array([[5, 20]]),
                                        timeframe_ms=300_000, fees_bps=below).final_equity).all()
