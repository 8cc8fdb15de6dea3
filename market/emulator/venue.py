"""A venue: instruments, one matching engine, the replays that drive it, and API keys.

Pure (no I/O, no wall clock): the HTTP server in :mod:`market.emulator.server`
wraps one :class:`Venue` and owns time, sockets and threads.

Time: the venue clock (:attr:`Venue.now_ms`, UTC ms) is the replay time of
the history being replayed; every order, fill and trade timestamp is venue
time. All replays of a venue advance together, so the markets of one venue
should cover the same period (build one venue per period otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from market.bars import Bars
from market.emulator.book import Instrument
from market.emulator.errors import BadParameter, UnknownSymbol
from market.emulator.matching import FeeAsset, FeeSchedule, MatchingEngine
from market.emulator.replay import MarketReplay, ReplayConfig
from raytrader.errors import InputError
from market.resample import resample
from market.timeframe import parse_timeframe

__all__ = ["MarketSpec", "ApiKey", "VenueConfig", "Venue", "Ticker24h"]

_DAY_MS = 86_400_000


@dataclass(frozen=True)
class MarketSpec:
    """One listed market: its filters, the bars it replays and (optionally) the real trades behind them."""

    instrument: Instrument
    bars: Bars
    trades: pd.DataFrame | None = None


@dataclass(frozen=True)
class ApiKey:
    """An API key pair bound to one account. Never log ``secret`` or ``passphrase``.

    ``passphrase``: the third credential of the Coinbase Exchange dialect (``CB-ACCESS-PASSPHRASE``);
    ``secret`` is then base64 (the HMAC key is its decoded bytes). The Binance dialect ignores it.
    """

    key: str
    secret: str = field(repr=False)
    account: str
    passphrase: str = field(default="", repr=False)


@dataclass(frozen=True)
class VenueConfig:
    """Venue-wide settings.

    Attributes:
        name: venue id for people and logs.
        fees: maker/taker fees (bps) of every user account.
        replay: the synthetic book and print rules, shared by the markets.
        fee_asset: ``received`` (Binance) or ``quote`` (Coinbase Exchange): see :mod:`market.emulator.matching`.
    """

    name: str = "emulator"
    fees: FeeSchedule = FeeSchedule()
    replay: ReplayConfig = ReplayConfig()
    fee_asset: FeeAsset = "received"


@dataclass(frozen=True)
class Ticker24h:
    """Rolling 24 h statistics at venue time (prices quote units, volume base units, times UTC ms)."""

    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    volume: Decimal
    quote_volume: Decimal
    open_time: int
    close_time: int
    first_trade_id: int
    last_trade_id: int
    count: int


def _dec(x: float) -> Decimal:
    return Decimal(np.format_float_positional(float(x), unique=True, trim="-"))


class Venue:
    """Markets + engine + replays + keys (see the module docstring)."""

    def __init__(self, markets: list[MarketSpec], keys: list[ApiKey] = (), config: VenueConfig = VenueConfig(),
                 deposits: dict[str, dict[str, Decimal]] | None = None) -> None:
        if not markets:
            raise BadParameter("a venue needs at least one market")
        self.config = config
        self.markets = {m.instrument.symbol: m for m in markets}
        self.by_id = {m.instrument.market_id: m.instrument.symbol for m in markets}
        rcfg = config.replay
        zero = FeeSchedule(Decimal(0), Decimal(0))
        self.engine = MatchingEngine(
            [m.instrument for m in markets], fees=config.fees,
            account_fees={rcfg.maker_account: zero, rcfg.tape_account: zero}, clock=lambda: self.now_ms,
            fee_asset=config.fee_asset)
        self._now = min(int(m.bars.timestamp[0]) for m in markets)
        self.replays = {m.instrument.symbol: MarketReplay(self.engine, m.instrument, m.bars, m.trades, rcfg)
                        for m in markets}
        self.keys = {k.key: k for k in keys}
        for account, assets in (deposits or {}).items():
            for asset, amount in assets.items():
                self.engine.ledger.deposit(account, asset, amount)

    # --------------------------------------------------------------- time
    @property
    def now_ms(self) -> int:
        return self._now

    @property
    def start_ms(self) -> int:
        return min(int(m.bars.timestamp[0]) for m in self.markets.values())

    @property
    def end_ms(self) -> int:
        return max(int(m.bars.timestamp[-1]) + m.bars.timeframe_ms for m in self.markets.values())

    @property
    def done(self) -> bool:
        return all(r.done for r in self.replays.values())

    def next_event_ms(self) -> int | None:
        times = [t for t in (r.next_event_ms for r in self.replays.values()) if t is not None]
        return min(times) if times else None

    def advance_to(self, time_ms: int | float, max_events: int | None = None) -> int:
        """Apply every replay event up to ``time_ms`` in time order (at most ``max_events``); returns how many."""
        applied = 0
        while max_events is None or applied < max_events:
            due = [(r.next_event_ms, s) for s, r in self.replays.items()
                   if r.next_event_ms is not None and r.next_event_ms <= time_ms]
            if not due:
                if not math.isinf(time_ms):
                    self._now = max(self._now, int(time_ms))  # everything due is applied: the clock reaches time_ms
                break
            t, symbol = min(due)
            self._now = max(self._now, t)
            applied += self.replays[symbol].step(1)
        for r in self.replays.values():
            r.now_ms = max(r.now_ms, self._now)
        return applied

    # --------------------------------------------------------------- lookups
    def symbol(self, market_id: str) -> str:
        """Unified symbol of a Binance market id (``XRPETH`` -> ``XRP/ETH``); UnknownSymbol (-1121)."""
        symbol = self.by_id.get(market_id)
        if symbol is None:
            raise UnknownSymbol("Invalid symbol.")
        return symbol

    def account_for(self, api_key: str) -> ApiKey | None:
        return self.keys.get(api_key)

    def bars(self, symbol: str, interval: str) -> Bars:
        """Bars of ``symbol`` at ``interval`` known at venue time: no lookahead.

        Only base bars already *closed* (``open + timeframe <= now``) are
        served; a coarser ``interval`` is resampled from them, so its last bar
        is the one still forming (like Binance's in-progress kline).
        BadParameter (``-1120``) for an interval that is not a multiple of the base.
        """
        return self._bars(symbol, interval, last_only=False)

    def last_bar(self, symbol: str, interval: str) -> Bars:
        """The last bar of :meth:`bars` (no bar when there is none), without resampling the whole history: a
        coarser interval's bins are epoch-aligned and independent, so its last bar aggregates only the base bars
        from its bin's left edge (what a kline feed polls 20 times a second; the whole history took ~9 ms per poll
        for 5m over a day of 1m bars). Same errors as :meth:`bars`."""
        return self._bars(symbol, interval, last_only=True)

    def _bars(self, symbol: str, interval: str, *, last_only: bool) -> Bars:
        base = self.markets[symbol].bars
        closed = base.slice(None, self.now_ms - base.timeframe_ms + 1)
        if interval == base.timeframe:
            return closed.take(slice(-1, None)) if last_only else closed
        try:
            tf = parse_timeframe(interval)
        except InputError:
            raise BadParameter("Invalid interval.", code=-1120) from None
        if tf.ms <= base.timeframe_ms or tf.ms % base.timeframe_ms:
            raise BadParameter("Invalid interval.", code=-1120)
        if not len(closed):
            return closed.with_meta(timeframe=interval)
        if last_only:
            last = int(closed.timestamp[-1])
            closed = closed.slice(last - (last - tf.origin_ms) % tf.ms, None)
        return resample(closed, interval)

    def ticker_24h(self, symbol: str) -> Ticker24h:
        """24 h statistics ending at venue time, from the bars; ``last`` is the last print when there is one."""
        bars = self.bars(symbol, self.markets[symbol].bars.timeframe).slice(self.now_ms - _DAY_MS + 1, None)
        replay = self.replays[symbol]
        trades = self.engine.trades(symbol, 5000)
        if len(bars):
            o, h, low = _dec(bars.open[0]), _dec(bars.high.max()), _dec(bars.low.min())
            vol = _dec(bars.volume.sum())
            qvol = _dec(float((bars.volume * bars.close).sum()))
            last = replay.last_price if replay.last_price is not None else _dec(bars.close[-1])
            open_time = int(bars.timestamp[0])
        else:
            first = self.markets[symbol].bars
            o = h = low = last = _dec(first.open[0])
            vol = qvol = Decimal(0)
            open_time = self.now_ms
        return Ticker24h(symbol, o, max(h, last), min(low, last), last, vol, qvol, open_time, self.now_ms,
                         trades[0].trade_id if trades else -1, trades[-1].trade_id if trades else -1, len(trades))
