"""Is a strategy safe to trade? The lookahead check and the warm-up stability check, as one typed verdict.

* **Lookahead** (:func:`backtest.lookahead.check_lookahead`): the target at
  bar ``t`` must not change when the bars after ``t`` are removed.
* **Warm-up stability** (:func:`check_warmup`, freqtrade's "recursive
  analysis"): the targets on the last ``window`` bars must not change when
  more history is *prepended*. The strategy runs on the data starting at
  ``s_min = n - window - startup`` (``startup`` bars of warm-up before the
  window), at ``s_min // 2`` and at bar 0 (all history); on every bar of the
  window the three runs must agree within ``tolerance`` (fractions of
  equity; NaN equals NaN). A difference means a target depends on how far
  back the data goes (an indicator seeded at the first bar that has not
  converged, a cumulative sum, a state machine that never resets), so a
  live runner with a shorter history would trade differently from the
  backtest.

:func:`check_strategy` runs both and returns a :class:`StrategyCheck` whose
``ok`` and ``reason`` a paper or live runner uses to refuse a strategy;
:func:`require_safe` does that refusal (a :class:`StrategyRefusedError`
carrying the check).
Pure: no Ray, no I/O; bars are anything with ``take(slice)``
(:class:`market.bars.Bars`), or a sequence of them for a multi-asset strategy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from backtest.lookahead import DEFAULT_POINTS, LookaheadReport, check_lookahead
from raytrader.errors import InputError
from strategies.params import validate_params
from strategies.registry import Strategy, get_strategy

__all__ = ["WarmupReport", "StrategyCheck", "WarmupInputError", "StrategyRefusedError", "check_warmup",
           "check_strategy", "require_safe", "DEFAULT_TOLERANCE", "default_startup"]

#: largest target difference (fraction of equity) the warm-up check accepts between runs
DEFAULT_TOLERANCE = 1e-9


class WarmupInputError(InputError):
    """Bad arguments to :func:`check_warmup`, or too few bars for it (the message names which)."""


class StrategyRefusedError(InputError):
    """A strategy failed :func:`check_strategy`, so it may not trade; ``check`` holds the verdict."""

    def __init__(self, check: StrategyCheck) -> None:
        self.check = check
        super().__init__(f"strategy {check.strategy!r} refused: {check.reason}")


@dataclass(frozen=True, kw_only=True)
class WarmupReport:
    """Outcome of :func:`check_warmup`.

    Attributes:
        strategy: the strategy's registry name.
        params: the parameters as given (missing ones took their defaults).
        n_bars: bars in the full data (per asset).
        startup: warm-up bars before the window in the shortest run.
        window: bars compared, the last ``window`` of the data.
        starts: first bar of each run, descending (the last is 0: all history).
        tolerance: largest accepted difference, fraction of equity.
        ok: True when every run agreed on every bar of the window.
        first_bad_bar: earliest bar of the window where runs differ (None when ``ok``).
        first_bad_time_ms: its open time, int64 ms UTC (None when unknown).
        values: the target at ``first_bad_bar`` in each run, in ``starts`` order
            (first asset that differs, for a multi-asset strategy).
        max_difference: largest absolute difference seen over the window.
        reason: one line for people; empty when ``ok``.
    """

    strategy: str
    params: Mapping[str, object] = field(default_factory=dict)
    n_bars: int
    startup: int
    window: int
    starts: tuple[int, ...]
    tolerance: float
    ok: bool
    first_bad_bar: int | None = None
    first_bad_time_ms: int | None = None
    values: tuple[float, ...] | None = None
    max_difference: float = 0.0
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class StrategyCheck:
    """Both checks on one strategy, parameters and data: trade it only when ``ok``.

    Attributes:
        strategy: the registry name.
        params: the validated parameters (defaults filled in).
        ok: both checks passed.
        lookahead, warmup: the two reports.
        reason: why it failed, one line per failed check joined with "; "
            (empty when ``ok``).
    """

    strategy: str
    params: Mapping[str, object]
    ok: bool
    lookahead: LookaheadReport
    warmup: WarmupReport
    reason: str = ""


def default_startup(min_bars: int) -> int:
    """Warm-up bars the check gives a strategy that needs ``min_bars``: ``max(3 * min_bars, 100)``.

    Three times the declared need lets exponential indicators (EMA, Wilder's
    RSI/ATR) converge to well under a basis point of their seed.
    """
    return max(3 * int(min_bars), 100)


def check_warmup(
    strategy: Strategy | str,
    bars: object,
    params: Mapping[str, object] | None = None,
    *,
    startup: int | None = None,
    window: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> WarmupReport:
    """Check that the targets on the last ``window`` bars do not depend on how much history precedes them.

    ``startup`` defaults to :func:`default_startup` of the strategy's
    ``min_bars``; ``window`` to a quarter of the bars left after
    ``startup`` (at least 1). Needs ``n >= startup + window + 1`` bars.

    Raises:
        WarmupInputError: bad ``startup``/``window``/``tolerance``, too few
            bars, or bars that cannot be cut.
        ParamError, InsufficientDataError, AssetCountError, ...: from the strategy.
    """
    record = strategy if isinstance(strategy, Strategy) else get_strategy(strategy)
    given = dict(params or {})
    values = validate_params(record, given)
    need = int(record.min_bars(values))
    series = tuple(bars) if record.multi_asset else (bars,)
    for b in series:
        if not callable(getattr(b, "take", None)):
            raise WarmupInputError(f"bars: need objects with take(slice) to cut history, got {type(b).__name__}")
    full = np.asarray(record.run(bars, given), dtype=np.float64)
    n = int(full.shape[0])
    startup = default_startup(need) if startup is None else _count("startup", startup)
    if startup < need:
        raise WarmupInputError(f"startup: {startup} bars is fewer than the {need} the strategy needs")
    if isinstance(tolerance, bool) or not np.isfinite(tolerance) or tolerance < 0:
        raise WarmupInputError(f"tolerance: must be a finite number >= 0, got {tolerance!r}")
    window = max(1, (n - startup) // 4) if window is None else _count("window", window)
    s_min = n - window - startup
    if s_min < 1:
        raise WarmupInputError(
            f"bars: the warm-up check needs at least startup + window + 1 = {startup + window + 1} bars "
            f"(startup {startup}, window {window}); got {n}")
    starts = tuple(sorted({s_min, s_min // 2, 0}, reverse=True))
    rows_full = full.reshape(n, -1)[n - window:]
    runs: list[np.ndarray] = []
    for s in starts:
        if s == 0:
            runs.append(rows_full)
            continue
        cut = [b.take(slice(s, n)) for b in series]
        got = np.asarray(record.run(cut if record.multi_asset else cut[0], given), dtype=np.float64)
        runs.append(got.reshape(n - s, -1)[n - s - window:])
    ref = runs[-1]
    worst = 0.0
    bad: int | None = None
    for rows in runs[:-1]:
        both_nan = np.isnan(rows) & np.isnan(ref)
        diff = np.where(both_nan, 0.0, np.abs(rows - ref))
        diff = np.where(np.isnan(diff), np.inf, diff)  # NaN in one run only
        worst = max(worst, float(diff.max(initial=0.0)))
        off = np.flatnonzero((diff > tolerance).any(axis=1))
        if off.size and (bad is None or off[0] < bad):
            bad = int(off[0])
    common = {"strategy": record.name, "params": given, "n_bars": n, "startup": startup, "window": window,
              "starts": starts, "tolerance": float(tolerance), "max_difference": worst}
    if bad is None:
        return WarmupReport(**common, ok=True)
    bar = n - window + bad
    at_bad = np.stack([r[bad] for r in runs])  # (runs, assets)
    same = (np.abs(at_bad - ref[bad]) <= tolerance) | (np.isnan(at_bad) & np.isnan(ref[bad]))
    asset = int(np.flatnonzero(~same.all(axis=0))[0])
    shown = tuple(float(r[bad, asset]) for r in runs)
    stamp = _stamp(series[0], bar)
    pairs = ", ".join(f"{v:g} from bar {s}" for v, s in zip(shown, starts, strict=True))
    return WarmupReport(
        **common, ok=False, first_bad_bar=bar, first_bad_time_ms=stamp, values=shown,
        reason=(f"{record.name}: target at bar {bar} changes with the history before it ({pairs}; "
                f"{startup} bars of warm-up were given): it depends on how far back the data goes"))


def check_strategy(
    strategy: Strategy | str,
    bars: object,
    params: Mapping[str, object] | None = None,
    *,
    points: int | Sequence[int] = DEFAULT_POINTS,
    startup: int | None = None,
    window: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> StrategyCheck:
    """Run the lookahead check and the warm-up check; the verdict a paper or live runner obeys.

    Raises:
        the input errors of :func:`check_lookahead` and :func:`check_warmup`
        (bad parameters, too few bars): a strategy that cannot be checked on
        this data is not a failed check.
    """
    record = strategy if isinstance(strategy, Strategy) else get_strategy(strategy)
    values = validate_params(record, params)
    look = check_lookahead(record, bars, params, points=points)
    warm = check_warmup(record, bars, params, startup=startup, window=window, tolerance=tolerance)
    reasons = [r.reason for r in (look, warm) if not r.ok]
    return StrategyCheck(strategy=record.name, params=values, ok=not reasons, lookahead=look, warmup=warm,
                         reason="; ".join(reasons))


def require_safe(strategy: Strategy | str, bars: object, params: Mapping[str, object] | None = None,
                 **options: object) -> StrategyCheck:
    """:func:`check_strategy`, raising :class:`StrategyRefusedError` (with the reason) unless it passes.

    What a paper or live runner calls before it trades a strategy on the
    history it starts from; ``options`` go to :func:`check_strategy`.
    """
    result = check_strategy(strategy, bars, params, **options)
    if not result.ok:
        raise StrategyRefusedError(result)
    return result


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise WarmupInputError(f"{name}: must be an integer >= 1, got {value!r}")
    return int(value)


def _stamp(bars: object, bar: int) -> int | None:
    ts = getattr(bars, "timestamp", None)
    return None if ts is None else int(np.asarray(ts)[bar])
