"""The signal of a strategy at the last bar: pure, the same registered function the backtests run.

:func:`compute_signal` calls ``get_strategy(name).run(bars, params)`` (the
record in :mod:`strategies.registry`, hence the same validation and the same
function as backtests, Tune and the live runner) and reports the target at
the last bar, with the strategy's indicator values there where they are
cheap to get (one more pass of the same indicator functions). Strategies
without an indicator reader report ``{}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

import strategies  # noqa: F401  (registers the built-in strategies)
from backtest.rl_policy import resolve_strategy
from raytrader.errors import InputError
from strategies.indicators import ema, sma
from strategies.params import ParamValue, validate_params
from strategies.registry import Strategy

__all__ = ["Signal", "compute_signal", "iso_utc", "INDICATOR_READERS", "ServedStrategyError"]


class ServedStrategyError(InputError):
    """The strategy exists but is not served over this API (a multi-asset strategy)."""


@dataclass(frozen=True)
class Signal:
    """A strategy's target at the last bar.

    Attributes:
        strategy: registry name.
        position: target at the last bar, fraction of equity (1.0 long,
            0.0 flat, -1.0 short).
        bar_timestamp: open time of the last bar, UTC ms.
        bar_time: the same as ISO-8601 UTC (``2024-01-02T03:04:05.000Z``).
        params: the complete validated parameters used.
        indicators: indicator values at the last bar; None while warming up
            (or not finite).
    """

    strategy: str
    position: float
    bar_timestamp: int
    bar_time: str
    params: dict[str, ParamValue]
    indicators: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"strategy": self.strategy, "position": self.position, "bar_time": self.bar_time,
                "bar_timestamp": self.bar_timestamp, "params": dict(self.params), "indicators": dict(self.indicators)}


def iso_utc(ms: int) -> str:
    """``1700000000000`` -> ``"2023-11-14T22:13:20.000Z"``."""
    dt = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc) if ms >= 0 else None
    if dt is None:
        raise ValueError(f"timestamp {ms} is before the epoch")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _ma_pair(fn: Callable[[np.ndarray, int], np.ndarray], prefix: str) -> Callable[[object, Mapping[str, ParamValue]], dict[str, float | None]]:
    def read(bars: object, values: Mapping[str, ParamValue]) -> dict[str, float | None]:
        close = np.asarray(bars.close, dtype=np.float64)
        fast, slow = int(values["fast"]), int(values["slow"])
        # the last `slow` closes suffice for the SMA; the EMA needs the full path (seeded at the start)
        tail = close[-slow:] if fn is sma else close
        return {f"{prefix}_fast": _finite(fn(tail, fast)[-1]), f"{prefix}_slow": _finite(fn(tail, slow)[-1])}
    return read


#: strategy name -> reader of its indicators at the last bar (bars, validated params) -> values
INDICATOR_READERS: dict[str, Callable[[object, Mapping[str, ParamValue]], dict[str, float | None]]] = {
    "sma_cross": _ma_pair(sma, "sma"),
    "ema_cross": _ma_pair(ema, "ema"),
}


def compute_signal(strategy: str | Strategy, bars: object, params: Mapping[str, object] | None = None) -> Signal:
    """Run the registered strategy on ``bars`` and return its target at the last bar.

    ``bars`` is validated :class:`market.bars.Bars` (or any object with the
    six column arrays). Missing parameters take their defaults.

    Raises:
        UnknownStrategyError: no strategy of that name (``rl:<name>``: no exported policy, see
            :mod:`backtest.rl_policy`).
        ServedStrategyError: a multi-asset strategy (takes several series).
        ParamError: a parameter unknown, malformed, out of range or
            breaking a constraint.
        InsufficientDataError: fewer bars than the strategy needs.
    """
    record = strategy if isinstance(strategy, Strategy) else resolve_strategy(strategy)  # rl:<name> too
    if record.multi_asset:
        raise ServedStrategyError(
            f"strategy: {record.name} takes {record.min_assets}+ aligned series; signals serve single-asset strategies")
    values = validate_params(record, params)
    targets = record.run(bars, values)
    position = float(targets[-1])
    ts = int(np.asarray(bars.timestamp)[-1])
    reader = INDICATOR_READERS.get(record.name)
    indicators = reader(bars, values) if reader else {}
    return Signal(strategy=record.name, position=position if math.isfinite(position) else 0.0,
                  bar_timestamp=ts, bar_time=iso_utc(ts), params=values, indicators=indicators)
