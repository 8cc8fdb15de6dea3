"""Batched parameter sweeps: many strategy configurations on one bar series in one call.

The point of this module is throughput without changing a single number:
:func:`evaluate_configs` returns, for every configuration, exactly the
``total_return``, ``sharpe``, ``max_drawdown``, ``n_trades`` and
``final_equity`` that ``strategy.run`` + :func:`backtest.engine.run_backtest`
+ :func:`backtest.metrics.summary` give when run configuration by
configuration (tested bit for bit on the bundled data).

For ``sma_cross`` a numba kernel does the work: each distinct SMA window is
computed **once** (with :func:`strategies.indicators.sma`, so the values are
the same floats), and every (fast, slow) pair then runs the crossover state
machine, the engine's fill and fee arithmetic (vectorbt's operation order)
and the metrics in one pass over the bars, without building per-config
target or equity arrays. The Sharpe ratio uses NumPy's own pairwise
summation order (re-implemented), so it matches ``np.mean``/``np.std`` to
the last bit. Any other registered strategy falls back to the reference
path (one backtest per configuration): correct, only slower.

Threads: ``threads=k`` (k >= 2) runs the ``sma_cross`` kernel on ``k`` numba
threads (``prange``): the distinct SMA windows are computed in parallel,
then the configurations are dealt into interleaved chunks (rows
``t, t + m, t + 2m, ...``: neighbouring grid rows have similar cost, so the
chunks are balanced), each chunk on one thread with its own scratch
array. Every configuration still runs the same serial arithmetic, so the
numbers are identical for any ``threads``. ``threads=1`` (the default) uses
one core and never starts numba's thread pool.

Grids: :func:`parse_grid` reads ``name=start:stop:step`` (stop inclusive),
``name=v1,v2,...`` or ``name=value``; :func:`expand_grid` takes the
Cartesian product, fills undeclared parameters with defaults and keeps only
the combinations the strategy's constraints allow (``fast=5:200:5`` with
``slow=5:200:5`` gives the 780 pairs with ``fast < slow``).
:func:`sample_configs` draws a seeded uniform random subset of that space.

Conventions are the engine's: a signal on bar ``t``'s close fills at bar
``t + 1``'s open (``fill="open"``) or at bar ``t``'s close; fees in basis
points of notional on each side; long-only, all-in; start with ``cash``.
The Sharpe ratio's bars per year are measured from the bars' timestamps
(:func:`backtest.metrics.measured_periods_per_year`) unless
``periods_per_year`` is given, exactly as :func:`backtest.metrics.summary`
does.

Ruin: a configuration whose account the engine liquidates (equity 0; see
"Ruin" in :mod:`backtest.engine`) is a result like any other: its row has
``total_return`` -1, ``final_equity`` 0 and ``ruined_at`` the bar index
(-1 for the configurations that survive). The ``sma_cross`` kernel needs
no check for it: its positions are long-only and fully funded (a buy
spends all cash and leaves it exactly 0, a sell leaves units 0), so its
equity is ``units * close > 0`` or cash > 0 on every bar and ``ruined_at``
is -1 by construction; strategies that short or lever go through the
reference path, which is the engine itself.
Pure: no ``import ray``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from backtest.engine import FILL_MODES, run_backtest
from backtest.errors import BacktestInputError, BarsShapeError, CashError, FeeError, PriceError, UnknownFillError
from backtest.metrics import resolve_periods_per_year, summary
from strategies.indicators._moving import _sma_kernel  # the very kernel sma() runs, for the parallel path

__all__ = [
    "GridSpecError",
    "EmptySweepError",
    "SweepResult",
    "METRICS",
    "parse_grid",
    "expand_grid",
    "sample_configs",
    "evaluate_configs",
    "sweep_sma_cross",
    "reference_evaluate",
    "require_bars",
]

#: the metric columns of a :class:`SweepResult`, in order
METRICS: tuple[str, ...] = ("total_return", "sharpe", "max_drawdown", "n_trades", "final_equity")

#: the largest grid :func:`expand_grid` enumerates (a guard against typos like 1:1e9)
MAX_GRID_COMBINATIONS = 5_000_000


class GridSpecError(BacktestInputError):
    """A grid axis is malformed (``-g`` text), names an unknown parameter, or holds an invalid value.

    Attributes:
        param: the parameter (or the raw text) at fault.
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


class EmptySweepError(BacktestInputError):
    """The grid's constraints (e.g. ``fast < slow``) leave no configuration to evaluate."""


@dataclass(frozen=True, kw_only=True)
class SweepResult:
    """Per-configuration metrics of a sweep; row ``i`` belongs to ``configs[i]``.

    Attributes:
        strategy: registered strategy name.
        param_names: parameter names, the column order of ``params``.
        params: int64/float64 array, shape ``(n_configs, n_params)``.
        total_return: fraction (0.1 is +10 %), per config.
        sharpe: annualised Sharpe of per-bar returns (zero risk-free rate).
        max_drawdown: positive fraction (0.25 is -25 %).
        n_trades: round trips, an open one included (int64).
        final_equity: quote currency at the last close (0 for a ruined configuration).
        ruined_at: int64 bar index at which the configuration's account was
            liquidated, -1 where it survived; ``None`` when the producer did
            not record it (rows built from :data:`METRICS` alone).
        periods_per_year: bars per year the Sharpe ratios were annualised
            with (measured from the timestamps unless given), or ``None``
            when not recorded.
    """

    strategy: str
    param_names: tuple[str, ...]
    params: np.ndarray
    total_return: np.ndarray
    sharpe: np.ndarray
    max_drawdown: np.ndarray
    n_trades: np.ndarray
    final_equity: np.ndarray
    ruined_at: np.ndarray | None = None
    periods_per_year: float | None = None

    @property
    def n_ruined(self) -> int:
        """Configurations whose account was liquidated (0 when not recorded)."""
        return 0 if self.ruined_at is None else int(np.count_nonzero(self.ruined_at >= 0))

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def config(self, i: int) -> dict[str, int | float]:
        """Parameters of row ``i`` as a plain dict (Python ints/floats)."""
        return {name: self.params[i, j].item() for j, name in enumerate(self.param_names)}

    def row(self, i: int) -> dict[str, int | float | None]:
        """Row ``i`` as a flat dict: the parameters, then :data:`METRICS`, then ``ruined_at`` (None: survived) if recorded."""
        out: dict[str, int | float | None] = dict(self.config(i))
        for m in METRICS:
            out[m] = getattr(self, m)[i].item()
        if self.ruined_at is not None:
            at = int(self.ruined_at[i])
            out["ruined_at"] = None if at < 0 else at
        return out

    def columns(self) -> dict[str, np.ndarray]:
        """Column name -> array (parameters first, ``ruined_at`` last if recorded), for a DataFrame or Parquet table."""
        cols = {name: self.params[:, j] for j, name in enumerate(self.param_names)}
        cols.update({m: getattr(self, m) for m in METRICS})
        if self.ruined_at is not None:
            cols["ruined_at"] = self.ruined_at
        return cols

    def best(self, metric: str = "sharpe") -> int:
        """Row index of the highest ``metric`` (lowest for ``max_drawdown``); first row on ties."""
        if metric not in METRICS:
            raise GridSpecError("metric", f"metric: unknown {metric!r}; choose one of {', '.join(METRICS)}")
        values = getattr(self, metric)
        return int(np.argmin(values) if metric == "max_drawdown" else np.argmax(values))

    @staticmethod
    def concat(parts: Sequence["SweepResult"]) -> "SweepResult":
        """Rows of several results of the same strategy, in order."""
        if not parts:
            raise EmptySweepError("configs: nothing to concatenate")
        first = parts[0]
        ruined = None if any(p.ruined_at is None for p in parts) else np.concatenate([p.ruined_at for p in parts])
        return SweepResult(strategy=first.strategy, param_names=first.param_names,
                           params=np.concatenate([p.params for p in parts]), ruined_at=ruined,
                           periods_per_year=first.periods_per_year,
                           **{m: np.concatenate([getattr(p, m) for p in parts]) for m in METRICS})


# ---------------------------------------------------------------------------------------------
# grids


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """Parse ``-g`` texts into ``name -> raw values`` (strings; typed later by :func:`expand_grid`).

    Accepted forms: ``fast=5:200:5`` (start:stop:step, stop inclusive when on
    the grid), ``fast=5:200`` (step 1), ``fast=5,10,20``, ``fast=10``.

    Raises:
        GridSpecError: malformed text, a repeated name, a step <= 0, stop < start.
    """
    axes: dict[str, list[str]] = {}
    for text in specs:
        name, sep, body = str(text).partition("=")
        name, body = name.strip(), body.strip()
        if not sep or not name or not body:
            raise GridSpecError(str(text), f"grid {text!r}: expected name=start:stop:step, name=v1,v2,... or name=value")
        if name in axes:
            raise GridSpecError(name, f"grid {name}: given twice")
        if ":" in body:
            axes[name] = _range_values(name, body)
        else:
            values = [v.strip() for v in body.split(",")]
            if any(not v for v in values):
                raise GridSpecError(name, f"grid {name}={body}: empty value in the list")
            axes[name] = values
    return axes


def _range_values(name: str, body: str) -> list[str]:
    parts = [p.strip() for p in body.split(":")]
    if len(parts) not in (2, 3) or any(not p for p in parts):
        raise GridSpecError(name, f"grid {name}={body}: expected start:stop or start:stop:step")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise GridSpecError(name, f"grid {name}={body}: start, stop and step must be numbers") from None
    start, stop = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else 1.0
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise GridSpecError(name, f"grid {name}={body}: values must be finite")
    if step <= 0:
        raise GridSpecError(name, f"grid {name}={body}: step must be > 0")
    if stop < start:
        raise GridSpecError(name, f"grid {name}={body}: stop {parts[1]} is below start {parts[0]}")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_GRID_COMBINATIONS:
        raise GridSpecError(name, f"grid {name}={body}: {count} values is more than {MAX_GRID_COMBINATIONS}")
    all_int = all(_is_int_text(p) for p in parts)
    if all_int:
        return [str(int(start) + k * int(step)) for k in range(count)]
    return [repr(start + k * step) for k in range(count)]


def _is_int_text(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isdigit()


def _space(strategy: object, axes: Mapping[str, Sequence[object]]) -> tuple[tuple[str, ...], list[list[object]]]:
    """Typed values per declared parameter (defaults for undeclared axes); validates every value."""
    specs = {spec.name: spec for spec in strategy.params}  # type: ignore[attr-defined]
    for name in axes:
        if name not in specs:
            known = ", ".join(specs) or "(none)"
            raise GridSpecError(name, f"grid {name}: unknown parameter for strategy "
                                      f"{strategy.name!r}; known: {known}")  # type: ignore[attr-defined]
    names = tuple(specs)
    values: list[list[object]] = []
    for name in names:
        if name not in axes:
            values.append([specs[name].default])
            continue
        typed = []
        for raw in axes[name]:
            try:
                typed.append(specs[name].coerce(raw))
            except BacktestInputError:
                raise
            except ValueError as exc:  # ParamError: out of range, off-grid, malformed
                raise GridSpecError(name, f"grid {name}: {exc}") from None
        if not typed:
            raise GridSpecError(name, f"grid {name}: no values")
        values.append(list(dict.fromkeys(typed)))  # de-duplicate, keep order
    return names, values


def _allowed(strategy: object, names: tuple[str, ...], combo: Sequence[object]) -> bool:
    values = dict(zip(names, combo))
    return all(c.predicate(values) for c in strategy.constraints)  # type: ignore[attr-defined]


def _as_params_array(strategy: object, names: tuple[str, ...], rows: list[tuple[object, ...]]) -> np.ndarray:
    kinds = [spec.kind for spec in strategy.params]  # type: ignore[attr-defined]
    dtype = np.int64 if all(k == "int" for k in kinds) else np.float64
    return np.asarray(rows, dtype=dtype).reshape(len(rows), len(names))


def expand_grid(strategy: object, axes: Mapping[str, Sequence[object]]) -> tuple[tuple[str, ...], np.ndarray]:
    """Every combination of the grid that the strategy's constraints allow, in row-major order.

    ``strategy`` is a :class:`strategies.registry.Strategy`; ``axes`` maps
    parameter names to raw values (strings or numbers), e.g. from
    :func:`parse_grid`. Parameters without an axis take their default.

    Returns:
        ``(param_names, params)``, ``params`` of shape ``(n_configs, n_params)``
        (int64 when every parameter is an int).

    Raises:
        GridSpecError: unknown parameter, or a value out of range / off the grid.
        EmptySweepError: the constraints leave nothing.
    """
    names, values = _space(strategy, axes)
    total = math.prod(len(v) for v in values)
    if total > MAX_GRID_COMBINATIONS:
        raise GridSpecError("grid", f"grid: {total} combinations is more than {MAX_GRID_COMBINATIONS}")
    rows = [combo for combo in itertools.product(*values) if _allowed(strategy, names, combo)]
    if not rows:
        shown = "; ".join(c.description for c in strategy.constraints)  # type: ignore[attr-defined]
        raise EmptySweepError(f"grid: the constraint(s) {shown or '(none)'} leave no configuration "
                              f"of the {total} in the grid")
    return names, _as_params_array(strategy, names, rows)


def sample_configs(strategy: object, axes: Mapping[str, Sequence[object]], n: int, *,
                   seed: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """``n`` distinct configurations drawn uniformly (seeded) from the constrained grid.

    When the grid allows ``n`` or fewer configurations, all of them are
    returned (in grid order). Sampled rows keep the grid's row-major order.

    Raises:
        GridSpecError: ``n`` < 1, or see :func:`expand_grid`.
        EmptySweepError: see :func:`expand_grid`.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GridSpecError("samples", f"samples: expected an integer >= 1, got {n!r}")
    names, params = expand_grid(strategy, axes)
    if params.shape[0] <= n:
        return names, params
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(params.shape[0], size=int(n), replace=False))
    return names, params[pick]


# ---------------------------------------------------------------------------------------------
# evaluation


def evaluate_configs(bars: object, strategy: object, param_names: Sequence[str], params: np.ndarray, *,
                     timeframe_ms: int, fees_bps: float = 0.0, fill: str = "open",
                     cash: float = 10_000.0, threads: int = 1,
                     periods_per_year: float | None = None) -> SweepResult:
    """Metrics of every configuration (rows of ``params``) of ``strategy`` on ``bars``.

    ``sma_cross`` uses the batched kernel (:func:`sweep_sma_cross`); any other
    strategy the reference path (:func:`reference_evaluate`). Both give the
    same numbers as one ``run_backtest`` + ``summary`` per configuration.
    ``timeframe_ms`` is the bar length; ``periods_per_year`` the Sharpe
    annualisation (default: measured from ``bars.timestamp``, as
    :func:`backtest.metrics.summary` does); ``threads`` the numba threads
    of the ``sma_cross`` kernel (the reference path is single-threaded).
    Ruined configurations are rows like the others (``ruined_at`` >= 0).

    Raises:
        InsufficientDataError: fewer bars than the largest configuration needs.
        GridSpecError: ``params`` does not match ``param_names``.
        plus the engine's input errors (fees, cash, fill, prices).
    """
    names = tuple(param_names)
    arr = np.asarray(params)
    if arr.ndim != 2 or arr.shape[1] != len(names) or arr.shape[0] == 0:
        raise GridSpecError("params", f"params: expected shape (n_configs >= 1, {len(names)}), got {arr.shape}")
    declared = tuple(spec.name for spec in strategy.params)  # type: ignore[attr-defined]
    if names != declared:
        raise GridSpecError("params", f"params: columns {names} differ from the strategy's parameters {declared}")
    require_bars(bars, strategy, names, arr)
    if strategy.name == "sma_cross":  # type: ignore[attr-defined]
        return sweep_sma_cross(bars, arr[:, names.index("fast")], arr[:, names.index("slow")],
                               timeframe_ms=timeframe_ms, fees_bps=fees_bps, fill=fill, cash=cash,
                               threads=threads, periods_per_year=periods_per_year)
    return reference_evaluate(bars, strategy, names, arr, timeframe_ms=timeframe_ms, fees_bps=fees_bps,
                              fill=fill, cash=cash, periods_per_year=periods_per_year)


def require_bars(bars: object, strategy: object, names: Sequence[str], params: np.ndarray) -> None:
    """Raise :class:`InsufficientDataError` when ``bars`` is shorter than the most demanding row of ``params`` needs."""
    from strategies._bars import bar_field  # noqa: PLC0415
    from strategies.errors import InsufficientDataError  # noqa: PLC0415

    got = bar_field(bars, "close").shape[0]
    worst, worst_row = 0, 0
    for i in range(params.shape[0]):
        need = int(strategy.min_bars({n: params[i, j].item() for j, n in enumerate(names)}))  # type: ignore[attr-defined]
        if need > worst:
            worst, worst_row = need, i
    if got < worst:
        shown = ", ".join(f"{n}={params[worst_row, j].item()}" for j, n in enumerate(names))
        raise InsufficientDataError(strategy.name, worst, got, why=f"for the configuration {shown}")  # type: ignore[attr-defined]


def reference_evaluate(bars: object, strategy: object, param_names: Sequence[str], params: np.ndarray, *,
                       timeframe_ms: int, fees_bps: float = 0.0, fill: str = "open",
                       cash: float = 10_000.0, periods_per_year: float | None = None) -> SweepResult:
    """The slow reference: ``strategy.run`` + ``run_backtest`` + ``summary`` per configuration (ruin included)."""
    names = tuple(param_names)
    ppy = resolve_periods_per_year(_timestamps(bars), timeframe_ms, periods_per_year)
    rows = {m: [] for m in METRICS}
    ruined = []
    for i in range(params.shape[0]):
        values = {n: params[i, j].item() for j, n in enumerate(names)}
        target = strategy.run(bars, values)  # type: ignore[attr-defined]
        stats = summary(run_backtest(bars, target, fees_bps=fees_bps, fill=fill, cash=cash), timeframe_ms,
                        periods_per_year=ppy)
        for m in METRICS:
            rows[m].append(stats[m])
        ruined.append(-1 if stats["ruined_at"] is None else stats["ruined_at"])
    return SweepResult(strategy=strategy.name, param_names=names, params=np.asarray(params),  # type: ignore[attr-defined]
                       total_return=np.asarray(rows["total_return"], dtype=np.float64),
                       sharpe=np.asarray(rows["sharpe"], dtype=np.float64),
                       max_drawdown=np.asarray(rows["max_drawdown"], dtype=np.float64),
                       n_trades=np.asarray(rows["n_trades"], dtype=np.int64),
                       final_equity=np.asarray(rows["final_equity"], dtype=np.float64),
                       ruined_at=np.asarray(ruined, dtype=np.int64), periods_per_year=ppy)


def _timestamps(bars: object) -> np.ndarray:
    if not hasattr(bars, "timestamp"):
        raise BarsShapeError("bars.timestamp: missing; the bars per year are measured from it")
    ts = np.asarray(bars.timestamp)  # type: ignore[attr-defined]
    if ts.ndim != 1 or ts.shape[0] == 0:
        raise BarsShapeError(f"bars.timestamp: expected a non-empty 1-D array, got shape {ts.shape}")
    return ts


def sweep_sma_cross(bars: object, fast: np.ndarray, slow: np.ndarray, *, timeframe_ms: int,
                    fees_bps: float = 0.0, fill: str = "open", cash: float = 10_000.0,
                    threads: int = 1, periods_per_year: float | None = None) -> SweepResult:
    """Every ``(fast[i], slow[i])`` SMA crossover on ``bars`` in one kernel call.

    Each distinct window in ``fast`` and ``slow`` is averaged once. Windows
    are validated with the strategy's declared space (ints in range,
    ``fast < slow``); ``bars`` needs ``max(slow) + 1`` bars and positive
    finite ``open``/``close``. ``threads``: numba threads (>= 1; capped at
    ``numba.config.NUMBA_NUM_THREADS``); the result does not depend on it.
    ``periods_per_year``: the Sharpe annualisation (default measured from
    ``bars.timestamp``). ``ruined_at`` is -1 for every row (see the module
    docstring: this long-only, fully-funded kernel cannot be ruined).

    Raises:
        GridSpecError: ``fast`` and ``slow`` differ in length or are empty, or ``threads`` < 1.
        ParamError: a window out of range or a pair breaking ``fast < slow``.
        InsufficientDataError, BarsShapeError, PriceError, FeeError, CashError, UnknownFillError.
    """
    from strategies._bars import bar_field  # noqa: PLC0415
    from strategies.errors import InsufficientDataError  # noqa: PLC0415
    from strategies.indicators import sma  # noqa: PLC0415
    from strategies.sma_cross import SMA_CROSS  # noqa: PLC0415
    from strategies.params import validate_params  # noqa: PLC0415

    f = np.asarray(fast).astype(np.int64)
    s = np.asarray(slow).astype(np.int64)
    if f.ndim != 1 or f.shape != s.shape or f.shape[0] == 0:
        raise GridSpecError("fast/slow", f"fast/slow: expected two equal-length non-empty 1-D arrays, "
                                         f"got shapes {f.shape} and {s.shape}")
    if not (np.array_equal(f, np.asarray(fast)) and np.array_equal(s, np.asarray(slow))):
        raise GridSpecError("fast/slow", "fast/slow: windows must be whole numbers of bars")
    bad = np.flatnonzero(~(f < s))
    if bad.size:
        i = int(bad[0])
        validate_params(SMA_CROSS, {"fast": int(f[i]), "slow": int(s[i])})  # raises the named ParamError
    specs = {spec.name: spec for spec in SMA_CROSS.params}
    for name, arr in (("fast", f), ("slow", s)):
        for v in (int(arr.min()), int(arr.max())):
            specs[name].coerce(v)  # raises ParamError naming the parameter
    if not isinstance(fill, str) or fill not in FILL_MODES:
        raise UnknownFillError(f"fill: unknown fill mode {fill!r}; expected one of {', '.join(FILL_MODES)}")
    fee = _fee(fees_bps)
    cash0 = _cash(cash)
    open_ = _prices(bars, "open")
    close = _prices(bars, "close")
    if open_.shape[0] != close.shape[0]:
        raise BarsShapeError(f"bars.open: length {open_.shape[0]} differs from bars.close length {close.shape[0]}")
    needed = int(s.max()) + 1
    if close.shape[0] < needed:
        raise InsufficientDataError("sma_cross", needed, close.shape[0], why=f"slow + 1 with slow={int(s.max())}")
    ppy = resolve_periods_per_year(_timestamps(bars), timeframe_ms, periods_per_year)
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
        smas = np.empty((windows.shape[0], close.shape[0]))
        close_series = bar_field(bars, "close")
        for k, w in enumerate(windows):
            smas[k] = sma(close_series, int(w))
        _sweep_kernel(open_, close, smas, fi, si, fee, fill == "close", cash0, sqrt_ppy,
                      out_ret, out_sharpe, out_dd, out_trades, out_final)
    else:
        # close is the validated (finite, > 0) float64 series, so sma()'s first finite row is 0
        # and _sma_kernel(close, w, 0, row) writes the very floats sma(close, w) returns
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            smas = np.empty((windows.shape[0], close.shape[0]))
            _smas_parallel(close, windows.astype(np.int64), smas)
            chunks = min(n_cfg, 4 * n_threads)
            _sweep_parallel(open_, close, smas, fi, si, fee, fill == "close", cash0, sqrt_ppy, chunks,
                            out_ret, out_sharpe, out_dd, out_trades, out_final)
        finally:
            numba.set_num_threads(previous)
    return SweepResult(strategy="sma_cross", param_names=("fast", "slow"), params=np.stack([f, s], axis=1),
                       total_return=out_ret, sharpe=out_sharpe, max_drawdown=out_dd, n_trades=out_trades,
                       final_equity=out_final, ruined_at=np.full(n_cfg, -1, dtype=np.int64), periods_per_year=ppy)


def _threads(threads: object) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise GridSpecError("threads", f"threads: expected an integer >= 1, got {threads!r}")
    return int(min(int(threads), numba.config.NUMBA_NUM_THREADS))


def _fee(fees_bps: object) -> float:
    if isinstance(fees_bps, bool) or not isinstance(fees_bps, (int, float, np.integer, np.floating)) \
            or not math.isfinite(fees_bps) or fees_bps < 0:
        raise FeeError(f"fees_bps: expected a finite number of basis points >= 0, got {fees_bps!r}")
    return float(fees_bps) / 1e4


def _cash(cash: object) -> float:
    if isinstance(cash, bool) or not isinstance(cash, (int, float, np.integer, np.floating)) \
            or not math.isfinite(cash) or cash <= 0:
        raise CashError(f"cash: expected a finite amount > 0, got {cash!r}")
    return float(cash)


def _prices(bars: object, name: str) -> np.ndarray:
    if not hasattr(bars, name):
        raise BarsShapeError(f"bars.{name}: missing; expected an object with 1-D arrays open and close")
    arr = np.ascontiguousarray(getattr(bars, name), dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise BarsShapeError(f"bars.{name}: expected a non-empty 1-D array, got shape {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise PriceError(f"bars.{name}[{row}]: price must be finite and > 0, got {arr[row]}")
    return arr


@njit(cache=True)
def _block_sum(a, lo, n):
    """NumPy's leaf of the pairwise sum (n <= 128): eight accumulators, then the rest in order."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    m = n - (n % 8)
    while i < m:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _block_sqdev(a, lo, n, mean):
    """:func:`_block_sum` of ``(a[i] - mean) ** 2`` (as NumPy's ``x = a - mean; x * x``), without storing it."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            d = a[i] - mean
            res += d * d
        return res
    d0 = a[lo] - mean
    d1 = a[lo + 1] - mean
    d2 = a[lo + 2] - mean
    d3 = a[lo + 3] - mean
    d4 = a[lo + 4] - mean
    d5 = a[lo + 5] - mean
    d6 = a[lo + 6] - mean
    d7 = a[lo + 7] - mean
    r0 = d0 * d0
    r1 = d1 * d1
    r2 = d2 * d2
    r3 = d3 * d3
    r4 = d4 * d4
    r5 = d5 * d5
    r6 = d6 * d6
    r7 = d7 * d7
    i = 8
    m = n - (n % 8)
    while i < m:
        j = lo + i
        d0 = a[j] - mean
        d1 = a[j + 1] - mean
        d2 = a[j + 2] - mean
        d3 = a[j + 3] - mean
        d4 = a[j + 4] - mean
        d5 = a[j + 5] - mean
        d6 = a[j + 6] - mean
        d7 = a[j + 7] - mean
        r0 += d0 * d0
        r1 += d1 * d1
        r2 += d2 * d2
        r3 += d3 * d3
        r4 += d4 * d4
        r5 += d5 * d5
        r6 += d6 * d6
        r7 += d7 * d7
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        d = a[lo + i] - mean
        res += d * d
        i += 1
    return res


@njit(cache=True)
def _leaf(a, lo, n, mean, sqdev):
    return _block_sqdev(a, lo, n, mean) if sqdev else _block_sum(a, lo, n)


@njit(cache=True)
def _pairwise_sum(a, lo, n, mean=0.0, sqdev=False):
    """NumPy's float64 pairwise summation (``loops_utils.h``), same blocking, so the same bits.

    NumPy recurses ``sum(n) = sum(n2) + sum(n - n2)`` with ``n2 = n // 2``
    rounded down to a multiple of 8, down to blocks of <= 128; this walks
    the same tree with an explicit stack (numba cannot cache recursion).
    With ``sqdev`` it sums ``(a[i] - mean) ** 2`` instead, in the same tree.
    """
    if n <= 128:
        return _leaf(a, lo, n, mean, sqdev)
    s_lo = np.empty(128, dtype=np.int64)
    s_n = np.empty(128, dtype=np.int64)
    s_stage = np.empty(128, dtype=np.int64)
    vals = np.empty(128)
    sp = 1
    vp = 0
    s_lo[0] = lo
    s_n[0] = n
    s_stage[0] = 0
    while sp > 0:
        top = sp - 1
        l = s_lo[top]
        m = s_n[top]
        if m <= 128:
            vals[vp] = _leaf(a, l, m, mean, sqdev)
            vp += 1
            sp -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        stage = s_stage[top]
        if stage == 0:
            s_stage[top] = 1
            s_lo[sp] = l
            s_n[sp] = n2
            s_stage[sp] = 0
            sp += 1
        elif stage == 1:
            s_stage[top] = 2
            s_lo[sp] = l + n2
            s_n[sp] = m - n2
            s_stage[sp] = 0
            sp += 1
        else:
            vals[vp - 2] = vals[vp - 2] + vals[vp - 1]
            vp -= 1
            sp -= 1
    return vals[0]


@njit(cache=True)
def _np_sum(a):
    """``np.add.reduce(a)`` for a contiguous float64 array: 0.0 + pairwise sum."""
    return 0.0 + _pairwise_sum(a, 0, a.shape[0], 0.0, False)


@njit(cache=True)
def _sweep_kernel(open_, close, smas, fi, si, fee, fill_at_close, cash0, sqrt_ppy,
                  out_ret, out_sharpe, out_dd, out_trades, out_final):
    """Crossover state machine + engine + metrics for each config; see the module docstring.

    Mirrors ``strategies.sma_cross._cross_state``, ``backtest.engine._simulate``
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
        mean = _np_sum(rets) / n
        var = (0.0 + _pairwise_sum(rets, 0, n, mean, True)) / (n - 1)
        std = math.sqrt(var)
        out_sharpe[c] = 0.0 if std == 0.0 else mean / std * sqrt_ppy


@njit(cache=True, parallel=True)
def _smas_parallel(close, windows, out):
    """Row ``k`` of ``out`` = ``sma(close, windows[k])`` (NaN warm-up, then the same kernel), windows in parallel."""
    for k in prange(windows.shape[0]):
        row = out[k]
        w = windows[k]
        for i in range(min(w - 1, row.shape[0])):
            row[i] = np.nan
        _sma_kernel(close, w, 0, row)


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
