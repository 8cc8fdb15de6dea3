"""A Binance-dialect exchange emulator: a real matching engine replaying real data, served on loopback.

Layers (pure cores, thin server):

* :mod:`market.emulator.book` - ``Instrument`` (filters, ticks/lots) and the price-time ``OrderBook``.
* :mod:`market.emulator.accounts` - ``Ledger``: free/locked balances per account, fee pool, conservation.
* :mod:`market.emulator.matching` - ``MatchingEngine``: orders, fills, fees, reservations, cancels.
* :mod:`market.emulator.replay` - ``MarketReplay``: bars/trades -> synthetic L2 book + prints; ``ReplayClock``.
* :mod:`market.emulator.venue` - ``Venue``: markets + engine + replays + API keys.
* :mod:`market.emulator.server` - ``EmulatorServer``: aiohttp on 127.0.0.1, Binance Spot REST subset.
* :mod:`market.emulator.errors` - named errors carrying Binance error codes.
* :mod:`market.emulator.client` - ``ccxt_config`` / ``point_at``: aim a real ccxt (or ccxt.pro) client at it.
* ``_binance`` (REST JSON shapes) and ``_ws`` (WebSocket trade/depth/kline streams) serve the server;
  ``_binance_user`` (listen keys, ``executionReport``/``outboundAccountPosition`` by difference) and
  ``_binance_user_ws`` (listen-key streams, the WebSocket API subscription) its user-data stream.

Everything except ``server`` is pure (no I/O, no wall clock, no ray).
"""

from market.emulator.accounts import Balance, Ledger
from market.emulator.book import Instrument, OrderBook
from market.emulator.errors import (
    BadParameter,
    CancelRejected,
    EmulatorError,
    FilterFailure,
    InsufficientBalance,
    VenueOrderRejected,
    UnknownOrder,
    UnknownSymbol,
)
from market.emulator.matching import ExecutionReport, FeeSchedule, MatchingEngine, Order, Trade, VenueFill
from market.emulator.replay import DepthProfile, MarketReplay, ReplayClock, ReplayConfig
from market.emulator.venue import ApiKey, MarketSpec, Venue, VenueConfig

__all__ = [
    "Balance", "Ledger", "Instrument", "OrderBook", "MatchingEngine", "FeeSchedule", "Order", "VenueFill", "Trade",
    "ExecutionReport", "DepthProfile", "ReplayConfig", "ReplayClock", "MarketReplay", "ApiKey", "MarketSpec",
    "Venue", "VenueConfig", "EmulatorError", "FilterFailure", "InsufficientBalance", "VenueOrderRejected",
    "UnknownOrder", "CancelRejected", "UnknownSymbol", "BadParameter",
]
