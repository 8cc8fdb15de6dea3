"""Market replay: real bars (and, where bundled, real trades) drive a venue's book.

For each instrument a :class:`MarketReplay` turns history into a time-ordered
list of events and applies them to a :class:`~market.emulator.matching.MatchingEngine`:

* **quote** - the synthetic liquidity account replaces its orders with a
  fresh L2 book around a reference price (:meth:`MatchingEngine.requote`:
  what cancelling and re-submitting every level gives, cheaply): ``levels`` per side, best bid and
  ask ``spread_bps / 2`` from the reference, each further level ``step_bps``
  out, sizes ``level_qty x growth**i`` (base units). Quotes are posted as
  ``LIMIT_MAKER``: a level that would cross a user's resting order is left
  out, so the synthetic book never fills user orders by itself;
* **print** - a historical trade (``qty @ price``, aggressor side) is written
  to the public tape and fills user limit orders it trades *through* (strictly
  better than the print; ``through_only=False`` also fills orders at the
  print price), at their limit prices, up to the print's quantity
  (:meth:`MatchingEngine.tape_print`).

With trades (``XRP-ETH-trades`` behind ``XRP-ETH-1m``) every trade is a
print followed by a quote around its price. With bars only, each bar of
length T becomes four prints of ``volume / 4`` along open -> high -> low ->
close (open -> low -> high -> close when the bar closed up) at ``t, t + T/4,
t + T/2, t + 3T/4``, each followed by a quote.

Time: the replay owns the venue clock (``now_ms``, UTC ms of the history).
:class:`ReplayClock` maps wall time to replay time for a driver (real time
``speed=1``, ``speed=N`` for N x, ``speed=inf`` as fast as possible); this
module never sleeps or reads the wall clock itself.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import pandas as pd

from market.bars import Bars
from market.emulator.book import BUY, SELL, Instrument, Side
from market.emulator.errors import BadParameter
from market.emulator.matching import MatchingEngine

__all__ = ["DepthProfile", "ReplayConfig", "ReplayClock", "ReplayEvent", "MarketReplay", "to_decimal"]


def to_decimal(x: float) -> Decimal:
    """The shortest decimal that round-trips the float64 ``x`` (no binary noise), in positional form: the same
    digits and exponent as ``Decimal(np.format_float_positional(x, unique=True, trim="-"))``.

    Python's ``repr`` is that same shortest round-trip string, ~2.6x faster to get; it differs only in spelling:
    ``2.0`` (positional ``2``) and, from 1e16 up, ``1e+16`` (positional ``10000000000000000``, which numpy
    writes) - and nan/inf, which numpy spells too.
    """
    s = repr(float(x))
    if "e+" in s or "n" in s:
        return Decimal(np.format_float_positional(float(x), unique=True, trim="-"))
    return Decimal(s[:-2] if s.endswith(".0") else s)


@dataclass(frozen=True)
class DepthProfile:
    """Shape of the synthetic L2 book.

    Attributes:
        levels: price levels per side (>= 1).
        spread_bps: best ask minus best bid, in bps of the reference price (>= 0;
            at least one tick is kept between them).
        step_bps: distance between neighbouring levels, bps of the reference (> 0; at least one tick).
        level_qty: base units at the best level.
        growth: size multiplier per level further out (>= 1 gives a deeper book away from the touch).
    """

    levels: int = 10
    spread_bps: Decimal = Decimal("10")
    step_bps: Decimal = Decimal("5")
    level_qty: Decimal = Decimal("2000")
    growth: Decimal = Decimal("1.5")

    def __post_init__(self) -> None:
        if not isinstance(self.levels, int) or self.levels < 1:
            raise BadParameter(f"DepthProfile.levels must be an int >= 1, got {self.levels!r}")
        for name, low in (("spread_bps", 0), ("step_bps", 0), ("level_qty", 0), ("growth", 0)):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < low or (name != "spread_bps" and value == 0):
                raise BadParameter(f"DepthProfile.{name} must be a positive Decimal, got {value!r}")


@dataclass(frozen=True)
class ReplayConfig:
    """How a replay runs.

    Attributes:
        depth: the synthetic book's shape.
        maker_account: account owning the synthetic liquidity (funded with ``funding`` of each asset).
        tape_account: counterparty of historical prints (funded the same way).
        funding: base and quote units given to each of the two accounts above.
        through_only: prints fill orders strictly better than the print price only.
        price_offset_bps: shift every historical price by this many bps (a venue dislocation).
    """

    depth: DepthProfile = DepthProfile()
    maker_account: str = "__liquidity__"
    tape_account: str = "__tape__"
    funding: Decimal = Decimal(10) ** 12
    through_only: bool = True
    price_offset_bps: Decimal = Decimal(0)


@dataclass(frozen=True)
class ReplayClock:
    """Maps wall seconds to replay ms: ``replay = start_ms + (wall - wall0) * 1000 * speed``.

    ``speed`` is replay seconds per wall second (1 = real time); ``math.inf``
    means as fast as possible (every event is due at once).
    """

    start_ms: int
    wall0_s: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not (self.speed > 0):
            raise BadParameter(f"ReplayClock.speed must be > 0 (math.inf = as fast as possible), got {self.speed!r}")

    def replay_ms(self, wall_s: float) -> float:
        if math.isinf(self.speed):
            return math.inf
        return self.start_ms + (wall_s - self.wall0_s) * 1000.0 * self.speed

    def wall_s(self, replay_ms: int) -> float:
        """Wall time at which ``replay_ms`` is due (``wall0_s`` when as fast as possible)."""
        if math.isinf(self.speed):
            return self.wall0_s
        return self.wall0_s + (replay_ms - self.start_ms) / 1000.0 / self.speed


@dataclass(frozen=True)
class ReplayEvent:
    """``kind`` is ``"quote"`` (around ``price``) or ``"print"`` (``qty @ price`` by ``aggressor``); time UTC ms."""

    time_ms: int
    kind: str
    price: Decimal
    qty: Decimal = Decimal(0)
    aggressor: Side = BUY


class MarketReplay:
    """Replays ``bars`` (and optionally ``trades``) of one instrument into ``engine``.

    ``trades`` is a frame with ``timestamp, side, price, amount`` (the
    ``trades`` sample kind; ``side`` is the aggressor). Call
    :meth:`advance_to` / :meth:`step`; :attr:`now_ms` is the replay time,
    which the venue uses as its clock.
    """

    def __init__(self, engine: MatchingEngine, instrument: Instrument, bars: Bars,
                 trades: pd.DataFrame | None = None, config: ReplayConfig = ReplayConfig()) -> None:
        if len(bars) == 0:
            raise BadParameter("MarketReplay needs at least one bar")
        self.engine = engine
        self.instrument = instrument
        self.config = config
        self.bars = bars
        self._scale = 1 + config.price_offset_bps / Decimal(10000)
        self.events: list[ReplayEvent] = self._events_from_trades(trades) if trades is not None else self._events_from_bars()
        self._times = [e.time_ms for e in self.events]
        self.cursor = 0
        self.now_ms = int(bars.timestamp[0])
        self.last_price: Decimal | None = None
        self._quoted: list[int] = []  # the liquidity's order ids resting from the last quote
        ledger = engine.ledger
        for account in (config.maker_account, config.tape_account):
            for asset in (instrument.base, instrument.quote):
                if ledger.free(account, asset) == 0 and ledger.locked(account, asset) == 0:
                    ledger.deposit(account, asset, config.funding)

    # ------------------------------------------------------------ events
    def _px(self, x: float | Decimal) -> Decimal:
        return (to_decimal(x) if not isinstance(x, Decimal) else x) * self._scale

    def _events_from_bars(self) -> list[ReplayEvent]:
        b = self.bars
        tf = b.timeframe_ms
        out: list[ReplayEvent] = []
        for i in range(len(b)):
            t = int(b.timestamp[i])
            o, h, low, c = (self._px(v) for v in (b.open[i], b.high[i], b.low[i], b.close[i]))
            path = (o, low, h, c) if c >= o else (o, h, low, c)
            qty = max(to_decimal(b.volume[i]) / 4, self.instrument.step_size)
            prev = path[0]
            for k, price in enumerate(path):
                aggressor: Side = BUY if price > prev or (k == 0 and c >= o) else SELL
                out.append(ReplayEvent(t + k * tf // 4, "print", price, qty, aggressor))
                out.append(ReplayEvent(t + k * tf // 4, "quote", price))
                prev = price
        return out

    def _events_from_trades(self, trades: pd.DataFrame) -> list[ReplayEvent]:
        ts = trades["timestamp"]
        ms = (ts.astype("datetime64[ms, UTC]").astype("int64") if hasattr(ts, "dt") else ts.astype("int64")).to_numpy()
        out: list[ReplayEvent] = []
        last: Decimal | None = None
        first_bar = int(self.bars.timestamp[0])
        if len(trades):
            out.append(ReplayEvent(first_bar, "quote", self._px(trades["price"].iloc[0])))
        for t, side, price, amount in zip(ms, trades["side"].to_numpy(), trades["price"].to_numpy(),
                                          trades["amount"].to_numpy()):
            px = self._px(price)
            out.append(ReplayEvent(int(t), "print", px, to_decimal(amount), BUY if side == "buy" else SELL))
            if px != last:
                out.append(ReplayEvent(int(t), "quote", px))
                last = px
        out.sort(key=lambda e: e.time_ms)  # stable: print before its quote
        return out

    # ------------------------------------------------------------ driving
    @property
    def done(self) -> bool:
        return self.cursor >= len(self.events)

    @property
    def next_event_ms(self) -> int | None:
        return None if self.done else self.events[self.cursor].time_ms

    def step(self, n: int = 1) -> int:
        """Apply the next ``n`` events; returns how many were applied."""
        applied = 0
        while applied < n and not self.done:
            event = self.events[self.cursor]
            self.now_ms = max(self.now_ms, event.time_ms)
            self._apply(event)
            self.cursor += 1
            applied += 1
        return applied

    def advance_to(self, time_ms: int | float) -> int:
        """Apply every event with ``time_ms <= time_ms``; the clock moves to ``time_ms`` (never backwards)."""
        stop = bisect.bisect_right(self._times, time_ms) if not math.isinf(time_ms) else len(self.events)
        applied = self.step(max(0, stop - self.cursor))
        if not math.isinf(time_ms):
            self.now_ms = max(self.now_ms, int(time_ms))
        return applied

    def _apply(self, event: ReplayEvent) -> None:
        cfg = self.config
        if event.kind == "print":
            self.last_price = event.price
            self.engine.tape_print(
                self.instrument.symbol, aggressor=event.aggressor, price=event.price, qty=event.qty,
                counterparty=cfg.tape_account, exclude=frozenset({cfg.maker_account}),
                through_only=cfg.through_only,
            )
        else:
            self.quote(event.price)

    def quote(self, ref: Decimal) -> None:
        """Replace the synthetic book with the profile's levels around ``ref`` (quote units).

        The result is that of cancelling every quote and submitting each level
        as a ``LIMIT_MAKER`` again (bid then ask, level by level from the
        touch); :meth:`MatchingEngine.requote` gets there without re-placing
        a level that has not moved.
        """
        inst = self.instrument
        self._quoted = self.engine.requote(self.config.maker_account, inst.symbol, self._quoted, self.levels(ref))

    def levels(self, ref: Decimal) -> list[tuple[Side, int, int]]:
        """The profile's levels around ``ref``: ``(side, price ticks, lots)``, bid then ask per level from the touch.

        A level priced below the instrument's ``min_price`` is left out; the
        other filters (PRICE_FILTER's maximum, NOTIONAL) raise FilterFailure
        as a submitted order would.
        """
        inst, prof = self.instrument, self.config.depth
        tick = inst.tick_size
        half = ref * prof.spread_bps / Decimal(20000)
        step = max(ref * prof.step_bps / Decimal(10000), tick)
        best_bid = int(((ref - half) / tick).to_integral_value(ROUND_FLOOR))
        best_ask = int(((ref + half) / tick).to_integral_value(ROUND_CEILING))
        if best_ask <= best_bid:
            best_ask = best_bid + 1
        out: list[tuple[Side, int, int]] = []
        for i, lots in enumerate(self._level_lots):
            offset = int(((step * i) / tick).to_integral_value(ROUND_FLOOR))
            for side, ticks in ((BUY, best_bid - offset), (SELL, best_ask + offset)):
                price = inst.price(ticks)
                if price < inst.min_price:
                    continue
                inst.price_ticks(price)
                inst.check_notional(ticks, lots)
                out.append((side, ticks, lots))
        return out

    @functools.cached_property
    def _level_lots(self) -> list[int]:
        """Lots per level (``level_qty x growth**i`` rounded down to the step, at least ``min_qty``): LOT_SIZE checked."""
        inst, prof = self.instrument, self.config.depth
        out = []
        for i in range(prof.levels):
            size = (prof.level_qty * prof.growth ** i / inst.step_size).to_integral_value(ROUND_FLOOR) * inst.step_size
            out.append(inst.qty_lots(max(size, inst.min_qty)))
        return out
