"""Cross-sectional momentum: hold the assets that rose most over ``lookback`` bars, short those that fell most.

For aligned series ``bars[0..k-1]``, ``ret[t, i] = close_i[t] / close_i[t - lookback] - 1``
(``lookback`` rows back). Time is cut into periods of ``rebalance`` bars on
the timeframe's grid (``rebalance=12`` on 5m bars: clock hours). A
rebalance bar is a bar ``t >= lookback`` that opens a new period (the first
bar present in it, so a gap does not skip a rebalance); the schedule depends
on timestamps only, not on where the data starts. On a rebalance bar assets
are ranked by ``ret[t]`` (ties keep the input order):

* ``short=1``: the ``top`` best get ``+0.5 / top`` each, the ``top`` worst
  ``-0.5 / top`` (gross exposure 1, dollar neutral); needs ``2 * top <= k``;
* ``short=0``: the ``top`` best get ``1 / top`` each; needs ``top < k``.

Weights hold until the next rebalance; 0.0 before the first. Needs
``timestamp`` and ``timeframe`` on ``bars[0]``. Output ``(bars, k)``;
``min_bars = lookback + 1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from raytrader.errors import InputError
from market.timeframe import parse_timeframe
from strategies.bar_field import bar_field
from strategies._common import multi_entry, short_param_doc
from strategies.errors import BarsFieldError, ParamError
from strategies.params import ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["xs_momentum", "XS_MOMENTUM"]


def xs_momentum(
    bars: Sequence[object], lookback: int = 288, top: int = 2, rebalance: int = 12, short: int = 1,
) -> np.ndarray:
    """Targets ``(bars, assets)`` from cross-sectional ranks of ``lookback``-bar returns (all counts in bars).

    Raises:
        ParamError: a parameter out of range, or ``top`` too large for the
            number of assets (names ``top``).
        AssetCountError, MisalignedBarsError: fewer than 2 series, or not aligned.
        BarsFieldError: ``bars[0]`` has no valid ``timeframe``.
        InsufficientDataError: fewer than ``lookback + 1`` bars.
    """
    values, size = multi_entry(
        XS_MOMENTUM, bars, {"lookback": lookback, "top": top, "rebalance": rebalance, "short": short})
    lb, k, every = int(values["lookback"]), int(values["top"]), int(values["rebalance"])
    with_short = bool(values["short"])
    assets = len(bars)
    if (with_short and 2 * k > assets) or (not with_short and k >= assets):
        need = "2 * top <= assets" if with_short else "top < assets"
        raise ParamError("top", f"top={k}: needs {need}, got {assets} assets")
    close = np.column_stack([bar_field(b, "close") for b in bars])
    rows = _rebalance_rows(bars[0], lb, every)
    ret = close[rows] / close[rows - lb] - 1.0
    order = np.argsort(-ret, axis=1, kind="stable")
    weights = np.zeros((rows.shape[0], assets))
    picks = np.arange(rows.shape[0])[:, None]
    weights[picks, order[:, :k]] = (0.5 if with_short else 1.0) / k
    if with_short:
        weights[picks, order[:, -k:]] = -0.5 / k
    out = np.zeros((size, assets))
    if rows.size:
        which = np.searchsorted(rows, np.arange(size), side="right") - 1  # last rebalance at or before t
        held = which >= 0
        out[held] = weights[which[held]]
    return out


def _rebalance_rows(bars: object, lookback: int, every: int) -> np.ndarray:
    """Rows ``t >= lookback`` that open a new ``every``-bar period on the timeframe grid."""
    text = getattr(bars, "timeframe", None)
    try:
        tf = parse_timeframe(text)
    except (InputError, TypeError, AttributeError):
        raise BarsFieldError(f"bars[0].timeframe: xs_momentum needs a timeframe like '5m', got {text!r}") from None
    period = (np.asarray(bars.timestamp, dtype=np.int64) - tf.origin_ms) // (every * tf.ms)
    starts = np.flatnonzero(np.diff(period, prepend=period[0] - 1) != 0)
    return starts[starts >= lookback]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["lookback"]) + 1


XS_MOMENTUM: Strategy = register(
    Strategy(
        name="xs_momentum",
        doc="Cross-sectional momentum: long the `top` best `lookback`-bar performers, short the `top` worst.",
        fn=xs_momentum,
        params=(
            ParamSpec(name="lookback", kind="int", low=1, high=20_000, default=288, doc="return lookback, bars"),
            ParamSpec(name="top", kind="int", low=1, high=100, default=2, doc="assets held on each side"),
            ParamSpec(name="rebalance", kind="int", low=1, high=10_000, default=12, doc="rebalance period, bars (periods on the timeframe grid)"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(),
        min_bars=_min_bars,
        min_assets=2,
        max_assets=None,
    )
)
