"""The batched sweep of moving-average crossovers: many (fast, slow) pairs on one bar series in one kernel.

Serves every strategy whose registry record declares the
:class:`strategies.capabilities.MovingAverageCross` capability (the built-in
``sma_cross`` does); :func:`backtest.sweep.evaluate_configs` chooses it from
that record. :func:`sweep_crossover` returns, for every pair, exactly the
``total_return``, ``sharpe``, ``max_drawdown``, ``n_trades`` and
``final_equity`` that ``strategy.run`` + :func:`backtest.engine.run_backtest`
+ :func:`backtest.metrics.summary` give configuration by configuration
(tested bit for bit on the bundled data).

How: each distinct window is averaged **once** (with the strategy's own
``average``, so the values are the same floats), and every (fast, slow) pair
then runs the crossover state machine, the engine's fill and fee
arithmetic (vectorbt's operation order) and the metrics in one pass over
the bars, without building per-config target or equity arrays. The Sharpe
ratio uses NumPy's own pairwise summation order
(:mod:`backtest.pairwise_sum`), so it matches ``np.mean``/``np.std`` to the
last bit.

Threads: ``threads=k`` (k >= 2) runs the kernel on ``k`` numba threads
(``prange``): the distinct windows are averaged in parallel (for
:func:`strategies.indicators.sma`, through its numba loop
:func:`strategies.indicators.sma_kernel`; another average is computed
serially), then the configurations are dealt into interleaved chunks (rows
``t, t + m, t + 2m, ...``: neighbouring grid rows have similar cost, so the
chunks are balanced), each chunk on one thread with its own scratch array.
Every configuration still runs the same serial arithmetic, so the numbers
are identical for any ``threads``. ``threads=1`` (the default) uses one
core and never starts numba's thread pool.

Inputs are checked by the engine's own validators
(:mod:`backtest.inputs`, :func:`backtest.costs.fee_fraction`), so the kernel
refuses exactly what :func:`backtest.engine.run_backtest` refuses.

Ruin: none. The positions are long-only and fully funded (a buy spends all
cash and leaves it exactly 0, a sell leaves units 0), so equity is
``units * close > 0`` or cash > 0 on every bar and ``ruined_at`` is -1 by
construction (see "Ruin" in :mod:`backtest.engine`). Pure: no ``import ray``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from backtest.costs import fee_fraction
from backtest.errors import GridSpecError
from backtest.inputs import bar_arrays, check_fill, start_cash
from backtest.metrics import resolve_periods_per_year
from backtest.pairwise_sum import np_sum, pairwise_sum
from backtest.sweep_result import SweepResult
from strategies.capabilities import MovingAverageCross
from strategies.errors import InsufficientDataError
from strategies.indicators import sma, sma_kernel
from strategies.params import validate_params

__all__ = ["sweep_crossover"]


def sweep_crossover(strategy: object, bars: object, fast: np.ndarray, slow: np.ndarray, *, timeframe_ms: int,
                    fees_bps: float = 0.0, fill: str = "open", cash: float = 10_000.0,
                    threads: int = 1, periods_per_year: float | None = None) -> SweepResult:
    """Every ``(fast[i], slow[i])`` crossover of ``strategy`` on ``bars`` in one kernel call.

    ``strategy`` is a :class:`strategies.registry.Strategy` whose ``batched``
    is a :class:`strategies.capabilities.MovingAverageCross`. Each distinct
    window in ``fast`` and ``slow`` is averaged once. Windows are validated
    with the strategy's declared space (ints in range, ``fast < slow``);
    ``bars`` needs ``max(slow) + 1`` bars and passes the engine's checks.
    ``threads``: numba threads (>= 1; capped at
    ``numba.config.NUMBA_NUM_THREADS``); the result does not depend on it.
    ``periods_per_year``: the Sharpe annualisation (default measured from
    ``bars.timestamp``). ``ruined_at`` is -1 for every row (see the module
    docstring).

    Raises:
        GridSpecError: ``strategy`` lacks the capability, ``fast`` and ``slow`` differ in length or are
            empty or not whole numbers, or ``threads`` < 1.
        ParamError: a window out of range or a pair breaking ``fast < slow``.
        InsufficientDataError, and the engine's BarsShapeError, PriceError, FeeError, CashError, UnknownFillError.
    """
    cross = getattr(strategy, "batched", None)
    if not isinstance(cross, MovingAverageCross):
        raise GridSpecError("strategy", f"strategy {getattr(strategy, 'name', strategy)!r}: no MovingAverageCross "
                                        "capability; evaluate it with backtest.sweep.evaluate_configs")
    f = np.asarray(fast).astype(np.int64)
    s = np.asarray(slow).astype(np.int64)
    pair = f"{cross.fast}/{cross.slow}"
    if f.ndim != 1 or f.shape != s.shape or f.shape[0] == 0:
        raise GridSpecError(pair, f"{pair}: expected two equal-length non-empty 1-D arrays, "
                                  f"got shapes {f.shape} and {s.shape}")
    if not (np.array_equal(f, np.asarray(fast)) and np.array_equal(s, np.asarray(slow))):
        raise GridSpecError(pair, f"{pair}: windows must be whole numbers of bars")
    bad = np.flatnonzero(~(f < s))
    if bad.size:
        i = int(bad[0])
        validate_params(strategy, {cross.fast: int(f[i]), cross.slow: int(s[i])})  # raises the named ParamError
    specs = {spec.name: spec for spec in strategy.params}  # type: ignore[attr-defined]
    for name, arr in ((cross.fast, f), (cross.slow, s)):
        for v in (int(arr.min()), int(arr.max())):
            specs[name].coerce(v)  # raises ParamError naming the parameter
    check_fill(fill)
    fee = fee_fraction(fees_bps)
    cash0 = start_cash(cash)
    timestamp, open_, close = bar_arrays(bars)
    needed = int(s.max()) + 1
    if close.shape[0] < needed:
        raise InsufficientDataError(strategy.name, needed, close.shape[0],  # type: ignore[attr-defined]
                                    why=f"{cross.slow} + 1 with {cross.slow}={int(s.max())}")
    ppy = resolve_periods_per_year(timestamp, timeframe_ms, periods_per_year)
    sqrt_ppy = math.sqrt(ppy)

    n_threads = _threads(threads)
    windows, inverse = np.unique(np.concatenate([f, s]), return_inverse=True)
    fi = inverse[: f.shape[0]].astype(np.int64)
    si = inverse[f.shape[0]:].astype(np.int64)
    n_cfg = f.shape[0]
    out_ret = np.empty(n_cfg)
    out_sharpe = np.empty(n_cfg)
    out_dd = np.empty(n_cfg)
    out_trades = np.empty(n_cfg, dtype=np.int64)
    out_final = np.empty(n_cfg)
    if n_threads == 1:
        smas = _averages(cross, close, windows)
        _sweep_kernel(open_, close, smas, fi, si, fee, fill == "close", cash0, sqrt_ppy,
                      out_ret, out_sharpe, out_dd, out_trades, out_final)
    else:
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            if cross.average is sma:
                smas = np.empty((windows.shape[0], close.shape[0]))
                _smas_parallel(close, windows.astype(np.int64), smas)
            else:
                smas = _averages(cross, close, windows)
            chunks = min(n_cfg, 4 * n_threads)
            _sweep_parallel(open_, close, smas, fi, si, fee, fill == "close", cash0, sqrt_ppy, chunks,
                            out_ret, out_sharpe, out_dd, out_trades, out_final)
        finally:
            numba.set_num_threads(previous)
    return SweepResult(strategy=strategy.name, param_names=(cross.fast, cross.slow),  # type: ignore[attr-defined]
                       params=np.stack([f, s], axis=1), total_return=out_ret, sharpe=out_sharpe, max_drawdown=out_dd,
                       n_trades=out_trades, final_equity=out_final, ruined_at=np.full(n_cfg, -1, dtype=np.int64),
                       periods_per_year=ppy)


def _averages(cross: MovingAverageCross, close: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Row ``k`` = ``cross.average(close, windows[k])``: the strategy's own average, one window at a time."""
    out = np.empty((windows.shape[0], close.shape[0]))
    for k, w in enumerate(windows):
        out[k] = cross.average(close, int(w))
    return out


def _threads(threads: object) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise GridSpecError("threads", f"threads: expected an integer >= 1, got {threads!r}")
    return int(min(int(threads), numba.config.NUMBA_NUM_THREADS))


@njit(cache=True)
def _sweep_kernel(open_, close, smas, fi, si, fee, fill_at_close, cash0, sqrt_ppy,
                  out_ret, out_sharpe, out_dd, out_trades, out_final):
    """Crossover state machine + engine + metrics for each config; see the module docstring.

    Mirrors the :class:`strategies.capabilities.MovingAverageCross` state machine
    (``strategies.sma_cross._cross_state``), ``backtest.engine._simulate``
    and ``backtest.metrics.summary`` operation by operation. While flat and
    not trading, equity is the unchanged cash, so the bar's return is exactly
    0.0 and the drawdown cannot grow: those bars skip the divisions.
    """
    n = close.shape[0]
    rets = np.empty(n)  # per-bar simple returns of the curve [cash0, equity...]
    for c in range(fi.shape[0]):
        fs = smas[fi[c]]
        ss = smas[si[c]]
        cash = cash0
        units = 0.0
        held = 0.0  # target last acted on
        state = 0.0  # strategy target after the latest bar seen
        prev_d = np.nan
        trades = 0
        prev_eq = cash0
        peak = cash0
        dd = 0.0
        for i in range(n):
            if fill_at_close:
                d = fs[i] - ss[i]
                if d > 0.0 and prev_d <= 0.0:
                    state = 1.0
                elif d < 0.0 and prev_d >= 0.0:
                    state = 0.0
                prev_d = d
                price = close[i]
                act = state != held
            else:
                price = open_[i]
                act = i >= 1 and state != held  # state is target[i - 1] here
            if act:
                want = state
                if units > 0.0:
                    acquired = units * price
                    fee_paid = acquired * fee
                    cash = cash + (acquired - fee_paid)
                    units = 0.0
                if want > 0.0:
                    spendable = cash / (1.0 + fee)
                    units = spendable / price
                    trades += 1
                    cash = 0.0
                held = want
            if units > 0.0 or act:
                eq = cash + units * close[i]
                rets[i] = eq / prev_eq - 1.0
                prev_eq = eq
                if eq > peak:
                    peak = eq
                x = 1.0 - eq / peak
                dd = x if x > dd else dd
            else:
                rets[i] = 0.0
            if not fill_at_close:
                d = fs[i] - ss[i]
                if d > 0.0 and prev_d <= 0.0:
                    state = 1.0
                elif d < 0.0 and prev_d >= 0.0:
                    state = 0.0
                prev_d = d
        out_ret[c] = prev_eq / cash0 - 1.0
        out_dd[c] = dd
        out_trades[c] = trades
        out_final[c] = prev_eq
        # sharpe exactly as backtest.metrics.sharpe: np.mean / np.std(ddof=1) over the n returns
        if n + 1 < 3:
            out_sharpe[c] = 0.0
            continue
        mean = np_sum(rets) / n
        var = (0.0 + pairwise_sum(rets, 0, n, mean, True)) / (n - 1)
        std = math.sqrt(var)
        out_sharpe[c] = 0.0 if std == 0.0 else mean / std * sqrt_ppy


@njit(cache=True, parallel=True)
def _smas_parallel(close, windows, out):
    """Row ``k`` of ``out`` = ``sma(close, windows[k])`` (NaN warm-up, then the same kernel), windows in parallel.

    ``close`` is the validated (finite, > 0) float64 series, so ``sma()``'s first finite row is 0 and
    ``sma_kernel(close, w, 0, row)`` writes the very floats ``sma(close, w)`` returns.
    """
    for k in prange(windows.shape[0]):
        row = out[k]
        w = windows[k]
        for i in range(min(w - 1, row.shape[0])):
            row[i] = np.nan
        sma_kernel(close, w, 0, row)


@njit(cache=True, parallel=True)
def _sweep_parallel(open_, close, smas, fi, si, fee, fill_at_close, cash0, sqrt_ppy, chunks,
                    out_ret, out_sharpe, out_dd, out_trades, out_final):
    """:func:`_sweep_kernel` over ``chunks`` interleaved slices of the configurations, one slice per prange step.

    Slice ``t`` holds rows ``t, t + chunks, ...``; each call has its own
    scratch array and writes only its own rows, so threads never share
    state and every row gets exactly the serial kernel's floats.
    """
    for t in prange(chunks):
        _sweep_kernel(open_, close, smas, fi[t::chunks], si[t::chunks], fee, fill_at_close, cash0, sqrt_ppy,
                      out_ret[t::chunks], out_sharpe[t::chunks], out_dd[t::chunks], out_trades[t::chunks],
                      out_final[t::chunks])
