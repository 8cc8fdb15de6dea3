"""The backtest engine's stops and the emulator's stop orders agree on the same bars: same trigger bar, and a
gap triggers at the bar's open in both.

The engine exits a long at its stop-loss / take-profit, a short at its stop-loss (fees and slippage off, so the
exit price is the trigger price). The emulator replays the same bars (four prints per bar) and holds the
Binance order the engine's stop stands for: a SELL STOP_LOSS_LIMIT, a SELL TAKE_PROFIT_LIMIT, a BUY
STOP_LOSS_LIMIT, placed right after the entry bar's open print at the engine's level. The emulator's levels
are on the price grid (1e-8 ETH); the engine's level is set a quarter tick on the triggering side of it, so
for prices on the grid "reaches the engine level" and "reaches the emulator stop" are the same statement.
"""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from backtest.engine import run_backtest
from market.emulator import MarketSpec, Venue
from market.emulator.book import BUY, SELL
from tests.market.emulator.conftest import XRP_ETH

TICK = 1e-8
N_BARS = 240


@pytest.fixture(scope="module")
def bars(xrp_eth_bars):
    return xrp_eth_bars.slice(None, int(xrp_eth_bars.timestamp[N_BARS - 1]) + 1)


@pytest.mark.parametrize(
    ("target", "kind", "side", "otype", "falls", "offset_ticks"),
    [
        (1.0, "stop_loss", SELL, "STOP_LOSS_LIMIT", True, -60),      # a long's stop-loss: SELL, below the entry
        (1.0, "take_profit", SELL, "TAKE_PROFIT_LIMIT", False, 60),  # a long's take-profit: SELL, above it
        (-1.0, "stop_loss", BUY, "STOP_LOSS_LIMIT", False, 60),      # a short's stop-loss: BUY, above it
        # further out: the open of a later bar gaps through the level (12, 26) or its range reaches it (28)
        (1.0, "take_profit", SELL, "TAKE_PROFIT_LIMIT", False, 150),
        (1.0, "take_profit", SELL, "TAKE_PROFIT_LIMIT", False, 250),
        (-1.0, "stop_loss", BUY, "STOP_LOSS_LIMIT", False, 200),
    ],
)
def test_same_bars_same_trigger_bar_and_gap_price(bars, target: float, kind: str, side: str, otype: str,
                                                  falls: bool, offset_ticks: int) -> None:
    entry = float(bars.open[1])  # target[0] fills at bar 1's open
    stop = D(round(entry / TICK) + offset_ticks) * D("0.00000001")  # the emulator's stop, on the grid
    # the engine's level a quarter tick on the far side of the stop: a grid price reaches one iff it reaches the other
    level = float(stop) + TICK / 4 if falls else float(stop) - TICK / 4
    fraction = abs(level / entry - 1.0)
    result = run_backtest(bars, np.full(len(bars), target), **{kind: fraction})
    records = result.trade_records
    assert len(records) >= 1 and records[0]["exit_time"] > 0, "the level must be reached in the window"
    exit_bar = int(np.searchsorted(bars.timestamp, records[0]["exit_time"]))
    engine_gap = records[0]["exit_price"] == bars.open[exit_bar]

    venue = Venue([MarketSpec(XRP_ETH, bars)], deposits={"alice": {"ETH": D("10"), "XRP": D("10000")}})
    venue.advance_to(int(bars.timestamp[1]))  # bar 1's open print: the engine's entry
    limit = stop * (D("0.9") if side == SELL else D("1.1"))
    order = venue.engine.submit("alice", XRP_ETH.symbol, side, otype, qty=D(10),  # type: ignore[arg-type]
                                price=limit.quantize(D("0.00000001")), stop_price=stop).order
    triggered_bar = None
    for i in range(1, len(bars)):
        venue.advance_to(int(bars.timestamp[i]) + bars.timeframe_ms - 1)
        now = venue.engine.get_order("alice", XRP_ETH.symbol, order_id=order.order_id)
        if now.is_working:
            triggered_bar = int(np.searchsorted(bars.timestamp, now.working_time_ms, side="right")) - 1
            emulator_gap = now.working_time_ms == int(bars.timestamp[triggered_bar])
            break
    assert triggered_bar == exit_bar
    assert emulator_gap == engine_gap
    if not engine_gap:  # triggered inside the bar: the engine exits at its level (the stop, within a tick)
        assert abs(records[0]["exit_price"] - float(stop)) <= TICK / 2
    assert now.status == "FILLED"  # a marketable limit after the trigger takes the synthetic book
