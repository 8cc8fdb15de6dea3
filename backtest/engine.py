"""Single-asset backtest engine: target weights in, fills, equity and trades out.

Conventions (see docs/ARCHITECTURE.md, "Contracts"):

* **Targets.** ``target[t]`` is the desired position at the end of bar ``t``
  as a signed fraction of equity, computed from data up to bar ``t``'s
  close: 1.0 all equity long, 0.5 half, 0.0 flat, -1.0 short one equity's
  worth; ``|target| <= MAX_ABS_TARGET`` (leverage above 1 is allowed).
* **Fill time.** ``fill="open"`` (default): ``target[t]`` fills at bar
  ``t + 1``'s open, so the last bar's target never fills. ``fill="close"``:
  it fills at bar ``t``'s close.
* **Rebalance only on change.** The engine trades only when the target
  differs from the one it last acted on (a stop exit does not reset that:
  after a stop the position stays flat until the target changes). Between
  changes the position is held in units and drifts with the price. Start:
  flat with all of ``cash``.
* **Sizing.** A fill at price ``p`` (after slippage) moves the position from
  ``u`` to ``u'`` so that ``u' * p = w * (E - fee)``, where
  ``E = cash + u * p`` is equity marked at ``p`` and ``fee = |u' - u| * p * f``.
  Solved exactly: ``u' = w (E + u p f) / (p (1 + w f))`` for a buy and
  ``u' = w (E - u p f) / (p (1 - w f))`` for a sell. From flat to ``w = 1``
  that is ``u' = (cash / (1 + f)) / p``, vectorbt's ``buy_nb`` with
  ``size=inf`` to the last bit; ``w = 0`` sells everything. Cash may go
  negative (leverage, paid for by nothing: no interest, no margin calls)
  and a short's proceeds are cash. A cash residue below 1e-12 of equity
  after a fill is rounding; it is set to 0 and booked to the fee.
* **Ruin (liquidation).** The floor is equity 0 (no maintenance margin):
  the account is ruined on the first bar where its equity ``cash + units *
  p`` is <= 0 at a price ``p`` the engine looks at: the reference price of
  any fill it is about to make (a target change or a stop), or the bar's
  close after the bar's fills. (Prices in between, such as an intrabar
  high against a short, are not checked, as backtesting.py does not.) The
  position is then closed at that price (slippage and fee like any fill;
  the trade ends with ``exit_reason`` ``"liquidation"``, its pnl the whole
  loss) and, from that bar on, equity, cash and units are 0 and nothing
  trades. Losses beyond the account are not carried (limited liability,
  as an exchange's insurance fund takes them): the amount the account
  could not pay is :attr:`BacktestResult.ruin_shortfall`, and
  :attr:`BacktestResult.ruined_at` is the bar index. Only a short or a
  levered long (``target > 1``) can be ruined; fully-funded longs cannot.
* **Fees.** ``f = fees_bps / 1e4`` of fill notional on each side.
* **Slippage** (:mod:`backtest.costs`): fills move against the order by
  ``s = (slippage_bps + slippage_k_bps * min(order_units / volume, 1)) / 1e4``
  of the reference price; the volume is the fill bar's.
* **Stops** (fractions of the trade's average entry *fill* price, slippage
  included; ``None`` = off),
  checked on bar high/low for every bar the position is held, starting with
  the entry bar for ``fill="open"`` (the whole bar trades after its open)
  and the bar after entry for ``fill="close"``:

  - long: stop-loss at ``entry * (1 - stop_loss)``; trailing stop at
    ``peak * (1 - trailing_stop)`` with ``peak`` the highest high since entry
    *up to the previous bar* (the entry price on the first bar checked; a
    bar's own high raises the trail only from the next bar, since it is not
    known whether the high came before the low); take-profit at
    ``entry * (1 + take_profit)``. Shorts mirror this (lowest low, levels
    above/below swapped).
  - the effective stop is the nearer of stop-loss and trailing stop; if the
    open is already through it (a gap), the exit fills at the open,
    otherwise at the stop level if the bar's low (short: high) reaches it.
  - take-profit fills at the open when the open gaps past it, otherwise at
    its level if the high (short: low) reaches it.
  - both rules are :func:`market.triggers.bar_trigger_price`, the trigger
    rule the exchange emulator's stop orders follow (a long's stop is a SELL
    STOP_LOSS, its take-profit a SELL TAKE_PROFIT; a short's mirror them).
  - **conservative order**: if the stop and the take-profit are both
    touched in one bar, the stop is assumed to have filled first.
  - a stop exit closes the whole position, pays fees and slippage like any
    sell/buy, and ends the trade with ``exit_reason`` ``"stop_loss"``,
    ``"trailing_stop"`` or ``"take_profit"`` (``"liquidation"`` when the
    account's equity at the stop price is already <= 0; see "Ruin").
  - within a bar: with ``fill="open"`` the target fill happens at the open,
    then the stops are checked on that bar; with ``fill="close"`` the stops
    are checked on the bar first, then the target fills at its close.
* **Equity** per bar is ``cash + units * close`` after that bar's fills. A
  position still open at the end is marked at the last close with no exit
  fee.
* **Trades.** A trade runs from the fill that opens a position (from flat,
  or the far side of a flip) to the fill that brings it back to zero or
  flips it; a flip closes one trade and opens the next in one fill, the fee
  split pro rata. Resizing in between adds to the trade: ``entry_price`` and
  ``exit_price`` are unit-weighted averages of the adding and reducing
  fills, ``units`` the total units added, and ``pnl`` is realised over all
  of them after every fee.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

from backtest.costs import fee_fraction, slippage_fraction, slippage_fractions, slipped_price
from backtest.errors import StopError, TargetLengthError, TargetNaNError, TargetValueError
from backtest.inputs import FILL_MODES, FillMode, bar_arrays, check_fill, extra_field, start_cash
from backtest.trades import EXIT_REASONS, Trade
from market.triggers import DOWN as _DOWN
from market.triggers import UP as _UP
from market.triggers import bar_trigger_price

__all__ = ["BacktestResult", "run_backtest", "FILL_MODES", "FillMode", "MAX_ABS_TARGET", "TRADE_RECORD_DTYPE"]

#: the largest absolute target weight accepted (10x leverage, long or short)
MAX_ABS_TARGET = 10.0

#: one row per trade in :attr:`BacktestResult.trade_records`: times in ms UTC (``exit_time`` -1 while
#: open), average fill prices (``exit_price`` = last close while open), ``side`` +1 long / -1 short,
#: ``units`` added, ``pnl`` after fees (quote currency), ``ret`` = pnl / entry notional (a fraction),
#: ``exit_reason`` an index into :data:`backtest.trades.EXIT_REASONS`
TRADE_RECORD_DTYPE = np.dtype([
    ("entry_time", np.int64), ("exit_time", np.int64), ("entry_price", np.float64), ("exit_price", np.float64),
    ("side", np.int8), ("units", np.float64), ("pnl", np.float64), ("ret", np.float64), ("exit_reason", np.int8),
])

# exit reason codes used inside the numba kernel; index into EXIT_REASONS
_SIGNAL, _STOP_LOSS, _TAKE_PROFIT, _TRAILING, _OPEN, _LIQUIDATION = 0, 1, 2, 3, 4, 5

#: the one trigger rule of stops (market.triggers), compiled for the bar loop
_bar_trigger = njit(cache=True)(bar_trigger_price)


@dataclass(frozen=True, kw_only=True)
class BacktestResult:
    """Outputs of :func:`run_backtest`; arrays are read-only, one value per bar.

    Attributes:
        timestamp: bar open times, int64 ms UTC.
        equity: ``cash + units * close`` at each bar's close, quote currency.
        units: signed base-currency position after the bar's fills
            (> 0 long, < 0 short, 0 flat).
        cash: quote-currency cash after the bar's fills (< 0 when levered).
        traded: notional traded on the bar, quote currency at fill prices
            (sum over the bar's fills, >= 0).
        fees: fees paid on the bar, quote currency.
        trade_records: the trades as a read-only structured array
            (:data:`TRADE_RECORD_DTYPE`), in entry order; the last may be open.
            :attr:`trades` gives the same as :class:`Trade` objects, built on
            first access.
        initial_cash: starting cash, quote currency (equity "before bar 0").
        fees_bps: fee per side, basis points of notional.
        fill: the fill mode used, ``"open"`` or ``"close"``.
        slippage_bps, slippage_k_bps: the slippage settings, basis points.
        stop_loss, take_profit, trailing_stop: stop settings as fractions, or
            ``None`` when off.
        ruined_at: index of the bar on which the account was liquidated
            (equity 0 from there on; see "Ruin" in the module docstring), or
            ``None``.
        ruin_shortfall: quote currency the ruined account could not pay
            (``-(cash after the liquidation)``, >= 0); 0.0 when not ruined.
    """

    timestamp: np.ndarray
    equity: np.ndarray
    units: np.ndarray
    cash: np.ndarray
    traded: np.ndarray
    fees: np.ndarray
    trade_records: np.ndarray
    initial_cash: float
    fees_bps: float
    fill: FillMode
    slippage_bps: float = 0.0
    slippage_k_bps: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    ruined_at: int | None = None
    ruin_shortfall: float = 0.0

    @property
    def ruined_at_ms(self) -> int | None:
        """Timestamp (ms UTC) of the bar of ruin, or ``None``."""
        return None if self.ruined_at is None else int(self.timestamp[self.ruined_at])

    @cached_property
    def trades(self) -> tuple[Trade, ...]:
        """Round trips in entry order as :class:`Trade`; the last may be open (``exit_time is None``)."""
        return _trades_from_records(self.trade_records)

    @property
    def n_trades(self) -> int:
        """Number of trades, the open one included."""
        return int(self.trade_records.shape[0])

    @property
    def final_equity(self) -> float:
        """Equity at the last bar's close (an open position marked at that close)."""
        return float(self.equity[-1])

    @property
    def fees_paid(self) -> float:
        """Total fees over the run, quote currency."""
        return float(np.sum(self.fees))


def run_backtest(
    bars: object,
    target: np.ndarray,
    *,
    fees_bps: float = 0.0,
    fill: FillMode = "open",
    cash: float = 10_000.0,
    slippage_bps: float = 0.0,
    slippage_k_bps: float = 0.0,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    trailing_stop: float | None = None,
) -> BacktestResult:
    """Simulate trading ``target`` on ``bars``; see the module docstring for every convention.

    ``bars`` is anything with 1-D arrays ``timestamp`` (int64 ms UTC),
    ``open`` and ``close`` (float64, > 0) of equal length, such as
    ``market.bars.Bars``; stops also need ``high`` and ``low``, and
    ``slippage_k_bps > 0`` needs ``volume`` (base units, >= 0).
    ``fees_bps`` is per side in basis points of notional; ``slippage_bps``
    a fixed adverse move in bps; ``slippage_k_bps`` bps per unit of
    participation in the bar's volume; ``cash`` the starting cash in quote
    currency. ``stop_loss`` and ``trailing_stop`` are fractions in (0, 1),
    ``take_profit`` a fraction > 0 (< 1 so a short's level stays > 0).

    Raises:
        BarsShapeError, BarsFieldMissingError, PriceError: unusable ``bars``.
        TargetLengthError: ``target`` is not one value per bar.
        TargetNaNError: ``target`` has a NaN/inf (first row named).
        TargetValueError: ``|target| > MAX_ABS_TARGET``.
        FeeError, SlippageError, StopError: bad cost or stop settings.
        UnknownFillError: ``fill`` not in :data:`FILL_MODES`.
        CashError: ``cash`` not a finite number > 0.
    """
    check_fill(fill)
    fee = fee_fraction(fees_bps)
    slip_fixed, slip_k = slippage_fractions(slippage_bps, slippage_k_bps)
    sl = _stop("stop_loss", stop_loss)
    tp = _stop("take_profit", take_profit)
    tsl = _stop("trailing_stop", trailing_stop)
    cash0 = start_cash(cash)
    timestamp, open_, close = bar_arrays(bars)
    stops_on = sl > 0.0 or tp > 0.0 or tsl > 0.0
    high = extra_field(bars, "high", close.shape[0], "stops") if stops_on else close
    low = extra_field(bars, "low", close.shape[0], "stops") if stops_on else close
    volume = extra_field(bars, "volume", close.shape[0], "slippage_k_bps", allow_zero=True) if slip_k > 0 else close
    tgt = _target_array(target, close.shape[0])

    # a trade opens only on a target-change fill (stop exits never open one), so this bounds the trade count
    cap = int(np.count_nonzero(np.diff(tgt, prepend=0.0))) + 2
    out = _simulate(open_, high, low, close, volume, tgt, fee, fill == "close", cash0,
                    slip_fixed, slip_k, sl, tp, tsl, cap)
    (equity, units, cash_arr, traded, fees, entry_idx, exit_idx, side, entry_price, exit_price, size, pnl, ret,
     reason, n_trades, ruined, shortfall) = out
    records = np.empty(n_trades, dtype=TRADE_RECORD_DTYPE)
    records["entry_time"] = timestamp[entry_idx]
    records["exit_time"] = np.where(exit_idx >= 0, timestamp[np.maximum(exit_idx, 0)], -1)
    records["entry_price"] = entry_price
    records["exit_price"] = exit_price
    records["side"] = side
    records["units"] = size
    records["pnl"] = pnl
    records["ret"] = ret
    records["exit_reason"] = reason
    records.flags.writeable = False
    for arr in (timestamp, equity, units, cash_arr, traded, fees):
        arr.flags.writeable = False
    return BacktestResult(
        timestamp=timestamp, equity=equity, units=units, cash=cash_arr, traded=traded, fees=fees, trade_records=records,
        initial_cash=cash0, fees_bps=float(fees_bps), fill=fill, slippage_bps=float(slippage_bps),
        slippage_k_bps=float(slippage_k_bps), stop_loss=None if sl == 0.0 else sl,
        take_profit=None if tp == 0.0 else tp, trailing_stop=None if tsl == 0.0 else tsl,
        ruined_at=None if ruined < 0 else int(ruined), ruin_shortfall=float(shortfall),
    )


@njit(cache=True)
def _target_units(units, cash, w, price, fee):
    """Units after a fill at ``price`` that leaves ``w`` of (equity after fee) in the position; see the docstring."""
    if w == 0.0:
        return 0.0
    equity = cash + units * price
    if w * equity - units * price > 0.0:  # buy
        return (w * (equity + units * price * fee) / (1.0 + w * fee)) / price
    return (w * (equity - units * price * fee) / (1.0 - w * fee)) / price


@njit(cache=True)
def _simulate(open_, high, low, close, volume, target, fee, fill_at_close, cash0,
              slip_fixed, slip_k, sl, tp, tsl, cap):
    """The bar loop (numba). Returns per-bar arrays, per-trade arrays, the trade count, the ruin bar and shortfall.

    Per-trade arrays: entry/exit bar index (exit -1 while open), side (+1/-1),
    average entry/exit fill price (exit = last close while open), units
    added, pnl after fees, return as a fraction of the entry notional, and
    the exit reason code. The ruin bar is -1 when the account survived;
    the liquidation itself runs once, after the loop (the loop only
    detects it: one comparison per bar and one per fill).
    """
    n = close.shape[0]
    equity = np.empty(n)
    units_out = np.empty(n)
    cash_out = np.empty(n)
    traded = np.zeros(n)
    fees = np.zeros(n)
    # ``cap`` bounds the trade count: trades open only on target-change fills
    entry_idx = np.empty(cap, dtype=np.int64)
    exit_idx = np.full(cap, -1, dtype=np.int64)
    side = np.zeros(cap)
    in_units = np.zeros(cap)
    in_value = np.zeros(cap)
    avg_in = np.zeros(cap)
    out_units = np.zeros(cap)
    out_value = np.zeros(cap)
    avg_out = np.zeros(cap)
    tfees = np.zeros(cap)
    reason = np.zeros(cap, dtype=np.int64)
    n_trades = 0

    cash = cash0
    units = 0.0
    held = 0.0  # the target last acted on
    extreme = 0.0  # highest high (long) / lowest low (short) since entry, for the trailing stop
    stop_from = 0  # first bar on which the current position's stops are checked
    stops_on = sl > 0.0 or tp > 0.0 or tsl > 0.0
    ruined = -1  # bar of ruin
    liq_ref = 0.0  # reference price of the liquidation

    for i in range(n):
        for phase in range(3):
            # phase 0: target fill at the open (fill="open"); 1: stops on the bar; 2: target fill at the close
            want_fill = False
            w = 0.0
            ref = 0.0
            code = _SIGNAL
            if phase == 0 and not fill_at_close:
                if i >= 1 and target[i - 1] != held:
                    want_fill = True
                    w = target[i - 1]
                    held = w
                    ref = open_[i]
            elif phase == 2 and fill_at_close:
                if target[i] != held:
                    want_fill = True
                    w = target[i]
                    held = w
                    ref = close[i]
            elif phase == 1 and stops_on and units != 0.0 and i >= stop_from:
                k = n_trades - 1
                entry = avg_in[k]
                if units > 0.0:
                    stop_lvl = -1.0
                    stop_code = _STOP_LOSS
                    if sl > 0.0:
                        stop_lvl = entry * (1.0 - sl)
                    if tsl > 0.0 and extreme * (1.0 - tsl) > stop_lvl:
                        stop_lvl = extreme * (1.0 - tsl)
                        stop_code = _TRAILING
                    tp_lvl = entry * (1.0 + tp) if tp > 0.0 else np.inf
                    # the shared trigger rule (market.triggers): a long's stop is a SELL stop-loss (DOWN),
                    # its take-profit a SELL take-profit (UP); the stop is checked first (conservative order)
                    sl_px = _bar_trigger(_DOWN, stop_lvl, open_[i], high[i], low[i])
                    tp_px = _bar_trigger(_UP, tp_lvl, open_[i], high[i], low[i])
                    if not math.isnan(sl_px):
                        want_fill, ref, code = True, sl_px, stop_code
                    elif not math.isnan(tp_px):
                        want_fill, ref, code = True, tp_px, _TAKE_PROFIT
                    elif high[i] > extreme:
                        extreme = high[i]
                else:
                    stop_lvl = np.inf
                    stop_code = _STOP_LOSS
                    if sl > 0.0:
                        stop_lvl = entry * (1.0 + sl)
                    if tsl > 0.0 and extreme * (1.0 + tsl) < stop_lvl:
                        stop_lvl = extreme * (1.0 + tsl)
                        stop_code = _TRAILING
                    tp_lvl = entry * (1.0 - tp) if tp > 0.0 else -1.0
                    # a short's stop is a BUY stop-loss (UP), its take-profit a BUY take-profit (DOWN)
                    sl_px = _bar_trigger(_UP, stop_lvl, open_[i], high[i], low[i])
                    tp_px = _bar_trigger(_DOWN, tp_lvl, open_[i], high[i], low[i])
                    if not math.isnan(sl_px):
                        want_fill, ref, code = True, sl_px, stop_code
                    elif not math.isnan(tp_px):
                        want_fill, ref, code = True, tp_px, _TAKE_PROFIT
                    elif low[i] < extreme:
                        extreme = low[i]
                w = 0.0
            if not want_fill:
                continue
            if cash + units * ref <= 0.0:  # no equity left at this price: ruin, liquidated after the loop
                ruined = i
                liq_ref = ref
                break

            # size at the reference price, apply slippage, size again at the fill price
            naive = _target_units(units, cash, w, ref, fee)
            direction = naive - units
            if direction == 0.0:
                continue
            slip = slippage_fraction(direction, volume[i], slip_fixed, slip_k)
            price = slipped_price(ref, direction, slip)
            new_units = _target_units(units, cash, w, price, fee)
            delta = new_units - units
            if delta == 0.0 or (delta > 0.0) != (direction > 0.0):
                continue  # slippage reversed a tiny order: drop it
            notional = abs(delta) * price
            fee_paid = notional * fee
            new_cash = cash + (-(delta * price) - fee_paid)
            eq_after = new_cash + new_units * price
            if new_cash != 0.0 and abs(new_cash) <= 1e-12 * abs(eq_after):
                fee_paid += new_cash
                new_cash = 0.0
            traded[i] += notional
            fees[i] += fee_paid

            # trade bookkeeping
            if units != 0.0 and (new_units == 0.0 or (new_units > 0.0) != (units > 0.0)):
                # close the open trade (and maybe open the flipped one)
                k = n_trades - 1
                closing = abs(units)
                fee_close = fee_paid * (closing / abs(delta))
                avg_out[k] = price if out_units[k] == 0.0 else (
                    (avg_out[k] * out_units[k] + price * closing) / (out_units[k] + closing))
                out_units[k] += closing
                out_value[k] += closing * price
                tfees[k] += fee_close
                exit_idx[k] = i
                reason[k] = code
                if new_units != 0.0:
                    k = n_trades
                    n_trades += 1
                    entry_idx[k] = i
                    side[k] = 1.0 if new_units > 0.0 else -1.0
                    in_units[k] = abs(new_units)
                    in_value[k] = abs(new_units) * price
                    avg_in[k] = price
                    tfees[k] = fee_paid - fee_close
                    extreme = price
                    stop_from = i + 1 if fill_at_close else i
            elif units == 0.0:
                k = n_trades
                n_trades += 1
                entry_idx[k] = i
                side[k] = 1.0 if new_units > 0.0 else -1.0
                in_units[k] = abs(new_units)
                in_value[k] = abs(new_units) * price
                avg_in[k] = price
                tfees[k] = fee_paid
                extreme = price
                stop_from = i + 1 if fill_at_close else i
            else:
                k = n_trades - 1
                step = abs(delta)
                if abs(new_units) > abs(units):  # adding to the position
                    avg_in[k] = (avg_in[k] * in_units[k] + price * step) / (in_units[k] + step)
                    in_units[k] += step
                    in_value[k] += step * price
                else:  # reducing it
                    avg_out[k] = price if out_units[k] == 0.0 else (
                        (avg_out[k] * out_units[k] + price * step) / (out_units[k] + step))
                    out_units[k] += step
                    out_value[k] += step * price
                tfees[k] += fee_paid
            units = new_units
            cash = new_cash
        eq = cash + units * close[i]
        if eq <= 0.0 or ruined >= 0:
            if ruined < 0:
                ruined = i
                liq_ref = close[i]
            break
        equity[i] = eq
        units_out[i] = units
        cash_out[i] = cash

    shortfall = 0.0
    if ruined >= 0:
        i = ruined
        if units != 0.0:  # liquidate: close the whole position at liq_ref, like a stop exit
            direction = -units
            price = slipped_price(liq_ref, direction, slippage_fraction(direction, volume[i], slip_fixed, slip_k))
            closing = abs(units)
            notional = closing * price
            fee_paid = notional * fee
            cash = cash + (units * price - fee_paid)
            traded[i] += notional
            fees[i] += fee_paid
            k = n_trades - 1
            avg_out[k] = price if out_units[k] == 0.0 else (
                (avg_out[k] * out_units[k] + price * closing) / (out_units[k] + closing))
            out_units[k] += closing
            out_value[k] += closing * price
            tfees[k] += fee_paid
            exit_idx[k] = i
            reason[k] = _LIQUIDATION
            units = 0.0
        shortfall = -cash if cash < 0.0 else 0.0
        for j in range(i, n):
            equity[j] = 0.0
            units_out[j] = 0.0
            cash_out[j] = 0.0

    pnl = np.empty(n_trades)
    ret = np.empty(n_trades)
    last = close[n - 1]
    for k in range(n_trades):
        if exit_idx[k] < 0:
            # still open: mark the remaining units at the last close, no exit fee
            remaining = in_units[k] - out_units[k]
            value_out = out_value[k] + remaining * last
            avg_out[k] = last
            reason[k] = _OPEN
        else:
            value_out = out_value[k]
        pnl[k] = side[k] * (value_out - in_value[k]) - tfees[k]
        ret[k] = pnl[k] / in_value[k]
    return (equity, units_out, cash_out, traded, fees, entry_idx[:n_trades], exit_idx[:n_trades], side[:n_trades],
            avg_in[:n_trades], avg_out[:n_trades], in_units[:n_trades], pnl, ret, reason[:n_trades], n_trades,
            ruined, shortfall)


def _trades_from_records(records: np.ndarray) -> tuple[Trade, ...]:
    """:class:`Trade` objects from trade records (via Python lists: numpy scalars make this several times slower)."""
    cols = [records[name].tolist() for name in TRADE_RECORD_DTYPE.names]
    return tuple(
        Trade(
            entry_time=et,
            exit_time=None if xt < 0 else xt,
            entry_price=ep,
            exit_price=None if xt < 0 else xp,
            side="long" if sd > 0 else "short",
            units=un,
            pnl=pl,
            return_pct=rt * 100.0,
            exit_reason=EXIT_REASONS[rs],
        )
        for et, xt, ep, xp, sd, un, pl, rt, rs in zip(*cols, strict=True)
    )


def _stop(name: str, value: object) -> float:
    """A stop fraction as float, 0.0 meaning off; must lie in (0, 1)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise StopError(f"{name}: expected a fraction in (0, 1) or None, got {value!r}")
    if not 0.0 < value < 1.0:
        raise StopError(f"{name}: expected a fraction in (0, 1) (0.05 = 5 %) or None, got {value}")
    return float(value)


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
    too_big = np.abs(tgt) > MAX_ABS_TARGET
    if too_big.any():
        row = int(np.flatnonzero(too_big)[0])
        raise TargetValueError(
            f"target[{row}]: {tgt[row]} is outside [-{MAX_ABS_TARGET:g}, {MAX_ABS_TARGET:g}] (fraction of equity)"
        )
    return tgt + 0.0  # -0.0 -> 0.0
