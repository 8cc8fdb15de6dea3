"""Fixtures for the emulator tests: a venue replaying the real XRP/ETH bars and trades."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Iterator

import pytest

from market.emulator import ApiKey, Instrument, MarketSpec, Venue
from market.emulator.server import EmulatorServer, ServerConfig
from market.samples import load_sample, load_sample_frame

XRP_ETH = Instrument("XRP/ETH", tick_size=D("0.00000001"), step_size=D("1"), min_qty=D("1"),
                     min_notional=D("0.001"))
KEYS = [ApiKey("alice-key", "alice-secret", "alice"), ApiKey("bob-key", "bob-secret", "bob")]
DEPOSITS = {"alice": {"ETH": D("10"), "XRP": D("20000")}, "bob": {"ETH": D("5"), "XRP": D("5000")}}
WARMUP_MS = 30 * 60_000  # replay half an hour before tests start trading


@pytest.fixture(scope="session")
def xrp_eth_bars():
    return load_sample("XRP-ETH-1m")


@pytest.fixture(scope="session")
def xrp_eth_trades():
    return load_sample_frame("XRP-ETH-trades")


def make_venue(bars, trades, **kwargs) -> Venue:
    venue = Venue([MarketSpec(XRP_ETH, bars, trades)], keys=KEYS, deposits=DEPOSITS, **kwargs)
    venue.advance_to(venue.start_ms + WARMUP_MS)
    return venue


@pytest.fixture(scope="module")
def server(xrp_eth_bars, xrp_eth_trades) -> Iterator[EmulatorServer]:
    with EmulatorServer(make_venue(xrp_eth_bars, xrp_eth_trades), ServerConfig()) as srv:
        yield srv
