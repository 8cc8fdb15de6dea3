"""Multi-asset backtest with one shared cash account: a (bars x assets) weight matrix in, fills and equity out.

Conventions (the single-asset ones of :mod:`backtest.engine`, per asset):

* **Alignment.** Assets are aligned on their *common* timestamps (the
  intersection): a bar missing in any asset is dropped for all of them, and
  gaps are never filled. :func:`align_bars` builds the panel from
  ``market.bars.Bars``; :func:`panel_from_close` from a wide close-only
  table (the bundled 20-stock panel).
* **Close-only data.** A close panel has no opens: the panel's ``open`` *is*
  the close. With ``fill="open"`` a weight computed on bar ``t``'s close then
  fills at bar ``t + 1``'s close (no lookahead); ``fill="close"`` fills at
  bar ``t``'s own close.
* **Weights.** ``weights[t, j]`` is the desired position in asset ``j`` at
  the end of bar ``t`` as a signed fraction of total equity;
  ``|w| <= MAX_ABS_TARGET`` per asset and ``sum_j |w| <= MAX_GROSS`` per
  bar. Sum below 1 keeps the rest in cash; above 1 borrows cash (no
  interest, no margin calls; ruin below).
* **Rebalance only on change.** On a fill bar, only the assets whose weight
  differs from the one last acted on trade; the others keep their units
  and drift. The traded assets are sized together so that after the fills
  ``u'_j * p_j = w_j * (E - F)`` for each of them, with ``E`` the equity
  marked at the fill prices and ``F`` the fees of this bar's fills (solved
  by fixed-point iteration to 1e-15 of equity; from flat this is
  ``E - F = E / (1 + sum_j w_j f_j)``). With one asset this is exactly the
  single-asset engine's sizing.
* **Fees** per side per asset: ``fees_bps`` is one number for all assets or
  one per asset, basis points of fill notional.
* **Equity** per bar is ``cash + sum_j units_j * close_j`` after that bar's
  fills. No slippage or stops here (use the single-asset engine for those).
* **Ruin** (the single-asset engine's rule): when the account's equity is
  <= 0 at the fill prices of a bar about to trade, or at a bar's close
  after its fills, every position is closed at those prices (fees paid),
  and from that bar on equity, cash and units are 0 and nothing trades.
  :attr:`PortfolioResult.ruined_at` is the bar, ``ruin_prices`` the prices
  used, ``ruin_shortfall`` what the account could not pay (>= 0, not
  carried). The floor is equity 0 (no maintenance margin).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numba import njit

from backtest.costs import fee_fraction
from backtest.engine import MAX_ABS_TARGET
from backtest.errors import AlignmentError, FeeError, PriceError, WeightsError
from backtest.inputs import check_fill, start_cash

__all__ = ["Panel", "PortfolioResult", "align_bars", "panel_from_close", "run_portfolio", "MAX_GROSS"]

#: the largest gross exposure ``sum_j |w_j|`` accepted in one bar
MAX_GROSS = 10.0


@dataclass(frozen=True, kw_only=True)
class Panel:
    """Prices of several assets on common timestamps; arrays read-only.

    Attributes:
        timestamp: bar open times, int64 ms UTC, strictly increasing, shape (n,).
        symbols: one name per column.
        open, close: prices in each asset's quote currency, > 0, shape
            (n, m). For close-only data ``open`` is the close (see the module
            docstring).
        timeframe_ms: nominal bar length, ms (gaps make some steps longer).
        close_only: True when ``open`` is a copy of ``close``.
    """

    timestamp: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    close: np.ndarray
    timeframe_ms: int
    close_only: bool = False

    @property
    def n_bars(self) -> int:
        return int(self.timestamp.shape[0])

    @property
    def n_assets(self) -> int:
        return len(self.symbols)


@dataclass(frozen=True, kw_only=True)
class PortfolioResult:
    """Outputs of :func:`run_portfolio`; arrays read-only, quote currency unless stated.

    Attributes:
        timestamp: bar open times, int64 ms UTC, shape (n,).
        symbols: asset names, one per column.
        equity: ``cash + sum_j units_j * close_j`` after each bar's fills, (n,).
        cash: cash after each bar's fills (< 0 when levered), (n,).
        units: signed units held per asset after each bar's fills, (n, m).
        traded: notional traded per bar and asset at fill prices, (n, m), >= 0.
        fees: fees paid per bar and asset, (n, m).
        n_fills: number of fills per asset, (m,).
        initial_cash: starting cash.
        fees_bps: fee per side per asset, bps, (m,).
        fill: ``"open"`` or ``"close"``.
        ruined_at: bar index of the liquidation (see the module docstring), or ``None``.
        ruin_prices: per asset, the liquidation prices (the bar's fill prices
            or its closes), (m,); NaN when not ruined.
        ruin_shortfall: quote currency the ruined account could not pay, >= 0.
    """

    timestamp: np.ndarray
    symbols: tuple[str, ...]
    equity: np.ndarray
    cash: np.ndarray
    units: np.ndarray
    traded: np.ndarray
    fees: np.ndarray
    n_fills: np.ndarray
    initial_cash: float
    fees_bps: np.ndarray
    fill: Literal["open", "close"]
    ruined_at: int | None = None
    ruin_prices: np.ndarray | None = None
    ruin_shortfall: float = 0.0

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    @property
    def fees_paid(self) -> float:
        return float(self.fees.sum())


def align_bars(bars: Sequence[object], *, symbols: Sequence[str] | None = None) -> Panel:
    """A :class:`Panel` of ``bars`` (``market.bars.Bars`` or lookalikes) on their common timestamps.

    ``symbols`` defaults to each ``bars[j].symbol``. The timeframe is the
    first series' ``timeframe_ms`` (all must agree).

    Raises:
        AlignmentError: no series, differing timeframes, duplicate symbols, or
            no timestamp common to all.
    """
    series = list(bars)
    if not series:
        raise AlignmentError("bars: no series to align")
    names = list(symbols) if symbols is not None else [str(getattr(b, "symbol", "") or f"asset{j}")
                                                         for j, b in enumerate(series)]
    if len(names) != len(series) or len(set(names)) != len(names):
        raise AlignmentError(f"symbols: expected {len(series)} distinct names, got {names}")
    frames = {getattr(b, "timeframe_ms", None) for b in series}
    if len(frames) != 1:
        raise AlignmentError(f"bars: series have different timeframes (ms): {sorted(map(str, frames))}")
    common = np.asarray(series[0].timestamp, dtype=np.int64)
    for b in series[1:]:
        common = np.intersect1d(common, np.asarray(b.timestamp, dtype=np.int64), assume_unique=True)
    if common.size == 0:
        raise AlignmentError("bars: the series share no timestamp")
    opens, closes = [], []
    for b in series:
        ts = np.asarray(b.timestamp, dtype=np.int64)
        pos = np.searchsorted(ts, common)
        opens.append(np.asarray(b.open, dtype=np.float64)[pos])
        closes.append(np.asarray(b.close, dtype=np.float64)[pos])
    return _panel(common, tuple(names), np.column_stack(opens), np.column_stack(closes), int(frames.pop()), False)


def panel_from_close(frame: pd.DataFrame, *, timeframe_ms: int = 86_400_000) -> Panel:
    """A close-only :class:`Panel` from a wide table: a ``timestamp`` column and one close column per asset.

    Rows with a missing close in any column are dropped (common timestamps).
    ``open`` is set to the close; see the module docstring.

    Raises:
        AlignmentError: no ``timestamp`` column, no asset columns, or no
            complete row.
    """
    if not isinstance(frame, pd.DataFrame) or "timestamp" not in frame.columns:
        raise AlignmentError("frame: expected a DataFrame with a 'timestamp' column and one close column per asset")
    names = tuple(str(c) for c in frame.columns if c != "timestamp")
    if not names:
        raise AlignmentError("frame: no asset columns besides 'timestamp'")
    complete = frame.dropna(subset=list(names))
    if complete.empty:
        raise AlignmentError("frame: no row has a close for every asset")
    ts = pd.to_datetime(complete["timestamp"], utc=True).dt.as_unit("ms").astype("int64").to_numpy()
    close = complete[list(names)].to_numpy(dtype=np.float64)
    return _panel(ts, names, close.copy(), close, int(timeframe_ms), True)


def _panel(ts: np.ndarray, names: tuple[str, ...], open_: np.ndarray, close: np.ndarray, tf: int,
           close_only: bool) -> Panel:
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    if ts.size > 1 and not (np.diff(ts) > 0).all():
        raise AlignmentError("timestamp: must be strictly increasing")
    arrays = []
    for label, arr in (("open", open_), ("close", close)):
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        ok = np.isfinite(arr) & (arr > 0)
        if not ok.all():
            row, col = (int(v) for v in np.argwhere(~ok)[0])
            raise PriceError(f"{label}[{row}, {names[col]}]: price must be finite and > 0, got {arr[row, col]}")
        arr.flags.writeable = False
        arrays.append(arr)
    ts.flags.writeable = False
    return Panel(timestamp=ts, symbols=names, open=arrays[0], close=arrays[1], timeframe_ms=tf, close_only=close_only)


def run_portfolio(
    panel: Panel,
    weights: np.ndarray,
    *,
    fees_bps: float | Sequence[float] = 0.0,
    fill: Literal["open", "close"] = "open",
    cash: float = 10_000.0,
) -> PortfolioResult:
    """Simulate the weight matrix on ``panel`` with shared cash; see the module docstring.

    Raises:
        WeightsError: ``weights`` not (n_bars, n_assets), non-finite, or out of range.
        FeeError: a fee negative, non-finite or >= 1000 bps; wrong count.
        UnknownFillError, CashError: bad ``fill`` or ``cash``.
    """
    if not isinstance(panel, Panel):
        raise AlignmentError(f"panel: expected a Panel (see align_bars / panel_from_close), got {type(panel).__name__}")
    check_fill(fill)
    cash0 = start_cash(cash)
    fees = _fees(fees_bps, panel.n_assets)
    w = _weights(weights, panel)
    equity, cash_arr, units, traded, fee_arr, n_fills, ruined, ruin_prices, shortfall = _simulate_portfolio(
        panel.open, panel.close, w, fees / 1e4, fill == "close", cash0)
    for arr in (equity, cash_arr, units, traded, fee_arr, n_fills, fees, ruin_prices):
        arr.flags.writeable = False
    return PortfolioResult(timestamp=panel.timestamp, symbols=panel.symbols, equity=equity, cash=cash_arr,
                           units=units, traded=traded, fees=fee_arr, n_fills=n_fills, initial_cash=float(cash),
                           fees_bps=fees, fill=fill, ruined_at=None if ruined < 0 else int(ruined),
                           ruin_prices=ruin_prices, ruin_shortfall=float(shortfall))


@njit(cache=True)
def _simulate_portfolio(open_, close, weights, fee, fill_at_close, cash0):
    n, m = close.shape
    equity = np.empty(n)
    cash_out = np.empty(n)
    units_out = np.empty((n, m))
    traded = np.zeros((n, m))
    fees = np.zeros((n, m))
    n_fills = np.zeros(m, dtype=np.int64)
    units = np.zeros(m)
    held = np.zeros(m)
    new_units = np.zeros(m)
    changed = np.zeros(m, dtype=np.bool_)
    cash = cash0
    ruined = -1
    ruin_prices = np.full(m, np.nan)
    for i in range(n):
        sig = i if fill_at_close else i - 1
        if sig >= 0:
            any_change = False
            for j in range(m):
                changed[j] = weights[sig, j] != held[j]
                any_change = any_change or changed[j]
            if any_change:
                price = close[i] if fill_at_close else open_[i]
                eq = cash
                for j in range(m):
                    eq += units[j] * price[j]
                if eq <= 0.0:  # no equity left at the fill prices: ruin, liquidated after the loop
                    ruined = i
                    ruin_prices[:] = price
                    break
                fee_total = 0.0
                for _ in range(500):
                    nxt = 0.0
                    for j in range(m):
                        if changed[j]:
                            w = weights[sig, j]
                            new_units[j] = 0.0 if w == 0.0 else (w * (eq - fee_total)) / price[j]
                            nxt += abs(new_units[j] - units[j]) * price[j] * fee[j]
                    done = abs(nxt - fee_total) <= 1e-15 * abs(eq)
                    fee_total = nxt
                    if done:
                        break
                for j in range(m):
                    if changed[j]:
                        w = weights[sig, j]
                        new_units[j] = 0.0 if w == 0.0 else (w * (eq - fee_total)) / price[j]
                        delta = new_units[j] - units[j]
                        if delta != 0.0:
                            notional = abs(delta) * price[j]
                            paid = notional * fee[j]
                            cash = cash + (-(delta * price[j]) - paid)
                            traded[i, j] = notional
                            fees[i, j] = paid
                            n_fills[j] += 1
                            units[j] = new_units[j]
                        held[j] = w
                value = cash
                for j in range(m):
                    value += units[j] * price[j]
                if cash != 0.0 and abs(cash) <= 1e-12 * abs(value):
                    # rounding residue of an all-in rebalance: book it to the largest fee of the bar
                    jmax = 0
                    for j in range(m):
                        if fees[i, j] > fees[i, jmax]:
                            jmax = j
                    fees[i, jmax] += cash
                    cash = 0.0
        total = cash
        for j in range(m):
            total += units[j] * close[i, j]
            units_out[i, j] = units[j]
        if total <= 0.0:
            ruined = i
            ruin_prices[:] = close[i]
            break
        equity[i] = total
        cash_out[i] = cash
    shortfall = 0.0
    if ruined >= 0:
        i = ruined
        for j in range(m):  # liquidate every position at the ruin prices, fees paid
            if units[j] != 0.0:
                notional = abs(units[j]) * ruin_prices[j]
                paid = notional * fee[j]
                cash = cash + (units[j] * ruin_prices[j] - paid)
                traded[i, j] += notional
                fees[i, j] += paid
                n_fills[j] += 1
                units[j] = 0.0
        shortfall = -cash if cash < 0.0 else 0.0
        for k in range(i, n):
            equity[k] = 0.0
            cash_out[k] = 0.0
            for j in range(m):
                units_out[k, j] = 0.0
    return equity, cash_out, units_out, traded, fees, n_fills, ruined, ruin_prices, shortfall


def _fees(fees_bps: object, m: int) -> np.ndarray:
    if isinstance(fees_bps, numbers.Real) and not isinstance(fees_bps, bool):
        return np.full(m, fee_fraction(fees_bps) * 1e4)
    try:
        values = list(fees_bps)  # type: ignore[arg-type]
    except TypeError:
        raise FeeError(f"fees_bps: expected a number or one number per asset, got {fees_bps!r}") from None
    if len(values) != m:
        raise FeeError(f"fees_bps: expected one fee per asset ({m}), got {len(values)}")
    return np.array([fee_fraction(v, name=f"fees_bps[{j}]") * 1e4 for j, v in enumerate(values)])


def _weights(weights: object, panel: Panel) -> np.ndarray:
    try:
        w = np.ascontiguousarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"weights: not a numeric matrix ({exc})") from None
    if w.shape != (panel.n_bars, panel.n_assets):
        raise WeightsError(f"weights: expected shape (bars, assets) = {(panel.n_bars, panel.n_assets)}, got {w.shape}")
    finite = np.isfinite(w)
    if not finite.all():
        row, col = (int(v) for v in np.argwhere(~finite)[0])
        raise WeightsError(f"weights[{row}, {panel.symbols[col]}]: must be finite, got {w[row, col]}")
    big = np.abs(w) > MAX_ABS_TARGET
    if big.any():
        row, col = (int(v) for v in np.argwhere(big)[0])
        raise WeightsError(f"weights[{row}, {panel.symbols[col]}]: {w[row, col]} outside +-{MAX_ABS_TARGET:g}")
    gross = np.abs(w).sum(axis=1)
    if (gross > MAX_GROSS).any():
        row = int(np.flatnonzero(gross > MAX_GROSS)[0])
        raise WeightsError(f"weights[{row}]: gross exposure {gross[row]} above {MAX_GROSS:g}")
    return w + 0.0
