"""An order's time in force through ccxt, per dialect, as the ExchangeActor sends it: the real ccxt client (sync;
``binance`` and ``coinbaseexchange``) against each dialect's emulator on 127.0.0.1, with the params
:func:`actors.exchange_config.time_in_force_params` builds for an :class:`~actors.messages.OrderIntent` and our
client id, read back with :func:`actors.exchange_core.parse_order` (the OrderUpdate the OMS gets).

On both dialects: a GTC buy above the touch's size rests its remainder (open); an IOC one fills the touch and the
venue expires the rest (our status ``canceled``, nothing left at the venue); a FOK one that cannot fill in full
fills nothing. No Ray: this is the parameter path, the OMS side of IOC is in tests/actors/test_parent_orders.py."""

from __future__ import annotations

import itertools
from decimal import Decimal as D
from typing import Any, Iterator

import ccxt
import pytest

from actors.exchange_config import dialect_of, time_in_force_params, venue_client_id
from actors.exchange_core import client_order_id, parse_order
from actors.messages import OrderIntent
from market.emulator import MarketSpec, Venue
from market.emulator.client import ccxt_config, coinbase_config, point_at
from market.emulator.coinbase import CoinbaseRateLimits, CoinbaseServer, coinbase_venue_config
from market.emulator.server import EmulatorServer, ServerConfig
from market.samples import load_sample, load_sample_frame
from tests.market.emulator.conftest import KEYS, WARMUP_MS, XRP_ETH
from tests.market.emulator.test_coinbase_ccxt import KEYS as CB_KEYS
from tests.market.emulator.test_coinbase_ccxt import SECRET as CB_SECRET

SYM = "XRP/ETH"
NS = "tif"
#: enough of both assets for several orders the size of the top of the replayed book
DEPOSITS = {"alice": {"ETH": D("1000"), "XRP": D("1000000")}}
_ids = itertools.count()


class Side:
    """One dialect: its emulator, a ccxt client on it, and the dialect table's entry."""

    def __init__(self, exchange_id: str, venue: Venue, server: Any, client: Any) -> None:
        self.exchange_id, self.venue, self.server, self.client = exchange_id, venue, server, client
        self.dialect = dialect_of(exchange_id)

    def place(self, tif: str, qty: float, price: float) -> tuple[Any, Any]:
        """A buy limit ``qty`` at ``price`` with ``tif``, sent as the ExchangeActor sends it: (our OrderUpdate,
        the venue's own order)."""
        intent = OrderIntent(self.exchange_id, SYM, "buy", "limit", qty, f"tif-{next(_ids)}", price, time_in_force=tif)
        venue_cid = venue_client_id(self.dialect, client_order_id(NS, intent.intent_id))
        params = {self.dialect.create_client_id: venue_cid, **time_in_force_params(self.dialect, intent)}
        update = parse_order(self.exchange_id, self.client.create_order(SYM, "limit", "buy", qty, price, params))
        with self.server.lock:
            at_venue = self.venue.engine.get_order("alice", SYM, client_order_id=venue_cid)
        return update, at_venue

    def touch(self) -> tuple[float, float]:
        """(best ask, its size) as ccxt reads the book."""
        price, size = self.client.fetch_order_book(SYM)["asks"][0][:2]
        return float(price), float(size)


@pytest.fixture(scope="module", params=["binance", "coinbaseexchange"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    spec = MarketSpec(XRP_ETH, load_sample("XRP-ETH-1m"), load_sample_frame("XRP-ETH-trades"))
    if request.param == "binance":
        venue = Venue([spec], keys=KEYS, deposits=DEPOSITS)
        venue.advance_to(venue.start_ms + WARMUP_MS)
        with EmulatorServer(venue, ServerConfig()) as server:
            client = point_at(ccxt.binance(ccxt_config("alice-key", "alice-secret")), server.url)
            client.load_markets()
            yield Side("binance", venue, server, client)
    else:
        venue = Venue([spec], keys=CB_KEYS, deposits=DEPOSITS, config=coinbase_venue_config())
        venue.advance_to(venue.start_ms + WARMUP_MS)
        with CoinbaseServer(venue, ServerConfig(), limits=CoinbaseRateLimits(1000, 1000)) as server:
            client = point_at(ccxt.coinbaseexchange(coinbase_config("alice-key", CB_SECRET, "alice-pass")), server.url)
            client.load_markets()
            yield Side("coinbaseexchange", venue, server, client)


def test_gtc_rests_ioc_expires_its_remainder_fok_fills_all_or_nothing(side: Side) -> None:
    price, size = side.touch()
    qty = size + 50  # more than the touch holds at its price: the rest can only rest or expire
    gtc, at_venue = side.place("GTC", qty, price)
    assert (gtc.status, gtc.filled) == ("open", size) and at_venue.time_in_force == "GTC" and at_venue.is_open
    side.client.cancel_order(gtc.order_id, SYM)  # give the touch back to the next two orders: the replay is frozen

    price, size = side.touch()
    ioc, at_venue = side.place("IOC", size + 50, price)
    assert at_venue.time_in_force == "IOC" and at_venue.status == "EXPIRED" and not at_venue.is_open
    assert (ioc.status, ioc.filled) == ("canceled", size) and float(at_venue.executed_qty) == size
    assert ioc.order_id not in {o["id"] for o in side.client.fetch_open_orders(SYM)}

    price, size = side.touch()
    fok, at_venue = side.place("FOK", size + 50, price)
    assert at_venue.time_in_force == "FOK" and at_venue.status == "EXPIRED"
    assert (fok.status, fok.filled) == ("canceled", 0.0)
    filled, _ = side.place("FOK", size, price)  # what the touch holds: all of it
    assert (filled.status, filled.filled) == ("closed", size)


def test_a_value_the_dialect_does_not_serve_is_named_unsent(side: Side) -> None:
    from dataclasses import replace

    from actors.exchange_config import ExchangeConfigError

    narrow = replace(side.dialect, time_in_force=("GTC",))
    intent = OrderIntent(side.exchange_id, SYM, "buy", "limit", 1, "tif-x", 0.001, time_in_force="IOC")
    with pytest.raises(ExchangeConfigError, match="time_in_force 'IOC'"):
        time_in_force_params(narrow, intent)
    market = OrderIntent(side.exchange_id, SYM, "buy", "market", 1, "tif-y")
    assert time_in_force_params(side.dialect, market) == {}  # a market order sends none
