"""Single-asset backtest engine: target positions in, fills, equity and trades out.

Conventions (see ARCHITECTURE.md, "Contracts worth keeping stable"):

* ``target[t]`` is the desired position at the end of bar ``t`` as a
  fraction of equity, computed from data up to bar ``t``'s close. This slice
  supports long-only all-in targets: 0.0 (flat) or 1.0 (all equity long).
* ``fill="open"`` (default): ``target[t]`` fills at bar ``t + 1``'s open, so
  the last bar's target never fills. ``fill="close"``: it fills at bar
  ``t``'s close.
* The engine acts only when the target changes from the one last acted on;
  the start state is flat with all of ``cash``.
* Fees: ``f = fees_bps / 1e4`` of notional on each side. Buying with cash
  ``C`` at price ``p`` gives ``units = C / (p * (1 + f))`` and pays
  ``C - units * p = units * p * f``; selling ``u`` units gets
  ``u * p * (1 - f)``. The operation order is vectorbt's (``buy_nb`` /
  ``sell_nb`` with ``size=inf``), so results equal
  ``Portfolio.from_signals(size=inf, fees=f)`` at ``price=open`` with signals
  shifted one bar, to the last bit.
* Equity per bar is ``cash + units * close`` after that bar's fills. A
  position still open at the end is marked at the last close with no exit
  fee.

The loop keeps signed ``units`` so that shorts and fractional targets can be
added later without changing the result shape.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit

from backtest.errors import (
    BarsShapeError,
    CashError,
    FeeError,
    PriceError,
    TargetLengthError,
    TargetNaNError,
    TargetValueError,
    UnknownFillError,
)
from backtest.trades import Trade

__all__ = ["BacktestResult", "run_backtest", "FILL_MODES", "FillMode"]

FillMode = Literal["open", "close"]

#: supported fill modes; see the module docstring
FILL_MODES: tuple[str, ...] = ("open", "close")

#: target values this slice of the engine accepts
_SUPPORTED_TARGETS = (0.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class BacktestResult:
    """Outputs of :func:`run_backtest`; arrays are read-only, one value per bar.

    Attributes:
        timestamp: bar open times, int64 ms UTC.
        equity: ``cash + units * close`` at each bar's close, quote currency.
        units: signed base-currency position after the bar's fills
            (> 0 long, 0 flat).
        cash: quote-currency cash after the bar's fills.
        trades: round trips in entry order; the last may be open
            (``exit_time is None``).
        initial_cash: starting cash, quote currency (equity "before bar 0").
        fees_bps: fee per side, basis points of notional.
        fill: the fill mode used, ``"open"`` or ``"close"``.
    """

    timestamp: np.ndarray
    equity: np.ndarray
    units: np.ndarray
    cash: np.ndarray
    trades: tuple[Trade, ...]
    initial_cash: float
    fees_bps: float
    fill: FillMode

    @property
    def n_trades(self) -> int:
        """Number of trades, the open one included."""
        return len(self.trades)

    @property
    def final_equity(self) -> float:
        """Equity at the last bar's close (an open position marked at that close)."""
        return float(self.equity[-1])


def run_backtest(
    bars: object,
    target: np.ndarray,
    *,
    fees_bps: float = 0.0,
    fill: FillMode = "open",
    cash: float = 10_000.0,
) -> BacktestResult:
    """Simulate trading ``target`` on ``bars``; see the module docstring for the conventions.

    ``bars`` is anything with 1-D arrays ``timestamp`` (int64 ms UTC),
    ``open`` and ``close`` (float64, > 0) of equal length, such as
    ``market.bars.Bars``. ``fees_bps`` is per side in basis points of
    notional; ``cash`` the starting cash in quote currency.

    Raises:
        BarsShapeError, PriceError: unusable ``bars``.
        TargetLengthError: ``target`` is not one value per bar.
        TargetNaNError: ``target`` has a NaN/inf (first row named).
        TargetValueError: a target other than 0.0 or 1.0.
        FeeError: ``fees_bps`` < 0 or not finite.
        UnknownFillError: ``fill`` not in :data:`FILL_MODES`.
        CashError: ``cash`` not a finite number > 0.
    """
    if not isinstance(fill, str) or fill not in FILL_MODES:
        raise UnknownFillError(f"fill: unknown fill mode {fill!r}; expected one of {', '.join(FILL_MODES)}")
    fee = _fee_fraction(fees_bps)
    start_cash = _start_cash(cash)
    timestamp, open_, close = _bar_arrays(bars)
    tgt = _target_array(target, close.shape[0])

    (equity, units, cash_arr, entry_idx, exit_idx, entry_price, exit_price, size, pnl, ret, n_trades) = _simulate(
        open_, close, tgt, fee, fill == "close", start_cash
    )
    trades = tuple(
        Trade(
            entry_time=int(timestamp[entry_idx[k]]),
            exit_time=None if exit_idx[k] < 0 else int(timestamp[exit_idx[k]]),
            entry_price=float(entry_price[k]),
            exit_price=None if exit_idx[k] < 0 else float(exit_price[k]),
            side="long",
            units=float(size[k]),
            pnl=float(pnl[k]),
            return_pct=float(ret[k]) * 100.0,
        )
        for k in range(n_trades)
    )
    for arr in (timestamp, equity, units, cash_arr):
        arr.flags.writeable = False
    return BacktestResult(
        timestamp=timestamp,
        equity=equity,
        units=units,
        cash=cash_arr,
        trades=trades,
        initial_cash=start_cash,
        fees_bps=float(fees_bps),
        fill=fill,
    )


@njit(cache=True)
def _simulate(open_, close, target, fee, fill_at_close, cash0):  # noqa: ANN001, ANN202 (numba kernel)
    """The bar loop. Returns per-bar (equity, units, cash) and per-trade arrays plus the trade count.

    Per-trade arrays: entry/exit bar index (exit -1 while open), entry/exit
    fill price (exit = last close while open), units, pnl after fees, and
    return as a fraction of ``units * entry_price``.
    """
    n = close.shape[0]
    equity = np.empty(n)
    units_out = np.empty(n)
    cash_out = np.empty(n)
    entry_idx = np.empty(n, dtype=np.int64)
    exit_idx = np.full(n, -1, dtype=np.int64)
    entry_price = np.empty(n)
    exit_price = np.empty(n)
    size = np.empty(n)
    entry_fee = np.empty(n)
    pnl = np.empty(n)
    ret = np.empty(n)
    n_trades = 0

    cash = cash0
    units = 0.0  # signed base units held
    held = 0.0  # the target last acted on
    for i in range(n):
        if fill_at_close:
            signal_bar = i
            price = close[i]
        else:
            signal_bar = i - 1
            price = open_[i]
        if signal_bar >= 0 and target[signal_bar] != held:
            want = target[signal_bar]
            if units > 0.0:
                # close the long: vectorbt sell_nb with size = position
                acquired = units * price
                fee_paid = acquired * fee
                cash = cash + (acquired - fee_paid)
                k = n_trades - 1
                exit_idx[k] = i
                exit_price[k] = price
                entry_val = size[k] * entry_price[k]
                pnl[k] = (size[k] * price - entry_val) - entry_fee[k] - fee_paid
                ret[k] = pnl[k] / entry_val
                units = 0.0
            if want > 0.0:
                # all-in long: vectorbt buy_nb with size = inf
                spendable = cash / (1.0 + fee)
                bought = spendable / price
                k = n_trades
                entry_idx[k] = i
                entry_price[k] = price
                size[k] = bought
                entry_fee[k] = cash - spendable
                n_trades += 1
                cash = 0.0
                units = bought
            held = want
        equity[i] = cash + units * close[i]
        units_out[i] = units
        cash_out[i] = cash

    if n_trades > 0 and exit_idx[n_trades - 1] < 0:
        # still open: mark at the last close, no exit fee
        k = n_trades - 1
        last = close[n - 1]
        exit_price[k] = last
        entry_val = size[k] * entry_price[k]
        pnl[k] = (size[k] * last - entry_val) - entry_fee[k]
        ret[k] = pnl[k] / entry_val
    return equity, units_out, cash_out, entry_idx, exit_idx, entry_price, exit_price, size, pnl, ret, n_trades


def _fee_fraction(fees_bps: object) -> float:
    if isinstance(fees_bps, bool) or not isinstance(fees_bps, numbers.Real) or not math.isfinite(fees_bps):
        raise FeeError(f"fees_bps: expected a finite number of basis points, got {fees_bps!r}")
    if fees_bps < 0:
        raise FeeError(f"fees_bps: must be >= 0, got {fees_bps}")
    return float(fees_bps) / 1e4


def _start_cash(cash: object) -> float:
    if isinstance(cash, bool) or not isinstance(cash, numbers.Real) or not math.isfinite(cash) or cash <= 0:
        raise CashError(f"cash: expected a finite amount > 0, got {cash!r}")
    return float(cash)


def _bar_arrays(bars: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamp int64, open float64, close float64), validated."""
    arrays = {}
    for name in ("timestamp", "open", "close"):
        if not hasattr(bars, name):
            raise BarsShapeError(f"bars.{name}: missing; expected an object with 1-D arrays timestamp, open, close")
        arr = np.asarray(getattr(bars, name))
        if arr.ndim != 1:
            raise BarsShapeError(f"bars.{name}: expected a 1-D array, got shape {arr.shape}")
        arrays[name] = arr
    n = arrays["close"].shape[0]
    for name, arr in arrays.items():
        if arr.shape[0] != n:
            raise BarsShapeError(f"bars.{name}: length {arr.shape[0]} differs from bars.close length {n}")
    if n == 0:
        raise BarsShapeError("bars: no bars to backtest")
    if not np.issubdtype(arrays["timestamp"].dtype, np.integer):
        raise BarsShapeError(f"bars.timestamp: expected int64 ms since the epoch, got dtype {arrays['timestamp'].dtype}")
    timestamp = arrays["timestamp"].astype(np.int64, copy=True)
    prices = []
    for name in ("open", "close"):
        arr = np.ascontiguousarray(arrays[name], dtype=np.float64)
        bad = ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise PriceError(f"bars.{name}[{row}]: price must be finite and > 0, got {arr[row]}")
        prices.append(arr)
    return timestamp, prices[0], prices[1]


def _target_array(target: object, n_bars: int) -> np.ndarray:
    try:
        tgt = np.ascontiguousarray(target, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TargetLengthError(f"target: not a numeric array ({exc})") from None
    if tgt.ndim != 1 or tgt.shape[0] != n_bars:
        raise TargetLengthError(f"target: expected one value per bar ({n_bars}), got shape {tgt.shape}")
    finite = np.isfinite(tgt)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise TargetNaNError(f"target[{row}]: must be finite, got {tgt[row]}")
    unsupported = ~np.isin(tgt, _SUPPORTED_TARGETS)
    if unsupported.any():
        row = int(np.flatnonzero(unsupported)[0])
        raise TargetValueError(
            f"target[{row}]: {tgt[row]} is not supported; this engine takes long-only all-in targets 0.0 or 1.0"
        )
    return tgt
