"""Market replay: real bars and trades drive the synthetic book and the tape (pure, no server)."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.emulator import (
    DepthProfile,
    FeeSchedule,
    Instrument,
    MarketReplay,
    MarketSpec,
    MatchingEngine,
    ReplayClock,
    ReplayConfig,
    Venue,
    VenueConfig,
)
from market.emulator.errors import BadParameter
from market.emulator.replay import to_decimal
from market.samples import load_sample

ETH_BTC = Instrument("ETH/BTC", tick_size=D("0.000001"), step_size=D("0.001"), min_qty=D("0.001"),
                     min_notional=D("0.0001"))
XRP_ETH = Instrument("XRP/ETH", min_notional=D("0.001"))


def test_clock_maps_wall_time_to_replay_time() -> None:
    real = ReplayClock(start_ms=1_000_000, wall0_s=50.0, speed=1.0)
    assert real.replay_ms(52.5) == 1_002_500 and real.wall_s(1_002_500) == 52.5
    fast = ReplayClock(start_ms=0, wall0_s=0.0, speed=60.0)
    assert fast.replay_ms(1.0) == 60_000 and fast.wall_s(120_000) == 2.0
    asap = ReplayClock(start_ms=0, wall0_s=3.0, speed=math.inf)
    assert asap.replay_ms(3.0) == math.inf and asap.wall_s(10**12) == 3.0
    with pytest.raises(BadParameter):
        ReplayClock(0, 0.0, speed=0)


def test_bars_replay_prints_the_ohlc_path_and_quotes_the_profile() -> None:
    bars = load_sample("ETH-BTC-5m").take(slice(0, 12))
    engine = MatchingEngine([ETH_BTC])
    profile = DepthProfile(levels=3, spread_bps=D(20), step_bps=D(10), level_qty=D("5"), growth=D(2))
    replay = MarketReplay(engine, ETH_BTC, bars, config=ReplayConfig(depth=profile))
    engine.clock = lambda: replay.now_ms
    t0 = int(bars.timestamp[0])
    replay.advance_to(t0 + bars.timeframe_ms - 1)  # exactly the first bar
    prints = engine.trades("ETH/BTC")
    o, h, low, c = (to_decimal(x) for x in (bars.open[0], bars.high[0], bars.low[0], bars.close[0]))
    path = [o, low, h, c] if c >= o else [o, h, low, c]
    tick = ETH_BTC.tick_size  # the 2018 bars carry 8 decimals; prints snap to the 1e-6 tick
    assert [t.price for t in prints] == [(p / tick).quantize(D(1), ROUND_HALF_EVEN) * tick for p in path]
    assert [t.time_ms - t0 for t in prints] == [0, 75_000, 150_000, 225_000]
    assert sum(t.qty for t in prints) == pytest.approx(D(str(bars.volume[0])), abs=D("0.004"))
    bids, asks = engine.depth("ETH/BTC")
    assert [q for _, q in bids] == [q for _, q in asks] == [D(5), D(10), D(20)]
    assert (asks[0][0] - bids[0][0]) / c == pytest.approx(D("0.002"), abs=2 * tick / c)  # 20 bps, within 2 ticks
    assert asks[1][0] - asks[0][0] == pytest.approx(c * D("0.001"), abs=D("0.000001"))  # 10 bps steps
    replay.advance_to(math.inf)
    assert replay.done and len(engine.trades("ETH/BTC", 100)) == 48
    for asset in ("ETH", "BTC"):  # the liquidity and tape accounts conserve every asset
        assert engine.ledger.total(asset) == engine.ledger.deposited[asset]


def test_trades_replay_reproduces_the_real_tape(xrp_eth_bars, xrp_eth_trades) -> None:
    engine = MatchingEngine([XRP_ETH])
    replay = MarketReplay(engine, XRP_ETH, xrp_eth_bars, xrp_eth_trades)
    engine.clock = lambda: replay.now_ms
    first = xrp_eth_trades.head(50)
    end = int(first["timestamp"].astype("datetime64[ms, UTC]").astype("int64").iloc[-1])
    replay.advance_to(end)
    tape = [t for t in engine.trades("XRP/ETH", 1000) if t.time_ms <= end]
    assert len(tape) >= 50
    tape = tape[:50]
    assert [t.price for t in tape] == [to_decimal(p) for p in first["price"]]
    assert [t.qty for t in tape] == [to_decimal(a) for a in first["amount"]]
    assert [t.buyer_is_maker for t in tape] == (first["side"] == "sell").tolist()


def test_a_resting_order_fills_only_when_prints_trade_through_it(xrp_eth_bars, xrp_eth_trades) -> None:
    engine = MatchingEngine([XRP_ETH])
    replay = MarketReplay(engine, XRP_ETH, xrp_eth_bars, xrp_eth_trades)
    engine.clock = lambda: replay.now_ms
    engine.ledger.deposit("u", "ETH", D(100))
    replay.advance_to(replay.now_ms + 60_000)
    ref = replay.last_price
    far = engine.submit("u", "XRP/ETH", "BUY", "LIMIT", qty=D(100), price=ref * D("0.5"))  # never reached
    assert far.order.status == "NEW"
    # a bid above the market rests through requotes: the synthetic book leaves crossing levels out
    best_ask = engine.depth("XRP/ETH", 1)[1][0][0]
    bid = engine.submit("u", "XRP/ETH", "BUY", "LIMIT", qty=D(5), price=best_ask - D("0.00000001"))
    replay.step(1)
    start = replay.now_ms
    replay.advance_to(start + 3_600_000)
    got = engine.get_order("u", "XRP/ETH", order_id=bid.order.order_id)
    fills = engine.fills("u", "XRP/ETH")
    assert got.executed_qty > 0 and all(f.price == bid.order.price and f.is_maker for f in fills)
    assert engine.get_order("u", "XRP/ETH", order_id=far.order.order_id).status == "NEW"


def test_two_venues_with_a_price_dislocation_and_different_fees(xrp_eth_bars, xrp_eth_trades) -> None:
    cheap = Venue([MarketSpec(XRP_ETH, xrp_eth_bars, xrp_eth_trades)],
                  config=VenueConfig("cheap", FeeSchedule(D(10), D(10))), deposits={"arb": {"ETH": D(10)}})
    rich = Venue([MarketSpec(XRP_ETH, xrp_eth_bars, xrp_eth_trades)],
                 config=VenueConfig("rich", FeeSchedule(D(2), D(4)), ReplayConfig(price_offset_bps=D(40))),
                 deposits={"arb": {"XRP": D(10000)}})
    t = cheap.start_ms + 10 * 60_000
    cheap.advance_to(t)
    rich.advance_to(t)
    ask_cheap = cheap.engine.depth("XRP/ETH", 1)[1][0][0]
    bid_rich = rich.engine.depth("XRP/ETH", 1)[0][0][0]
    assert bid_rich > ask_cheap  # 40 bps dislocation beats the 10 bps spreads
    buy = cheap.engine.submit("arb", "XRP/ETH", "BUY", "MARKET", qty=D(1000))
    sell = rich.engine.submit("arb", "XRP/ETH", "SELL", "MARKET", qty=D(1000))
    assert buy.fills[0].commission == D("1")  # taker 10 bps of 1000 XRP on the cheap venue
    assert sell.fills[0].commission == (sell.order.cumulative_quote_qty * D("0.0004")).quantize(
        D("1e-8"), ROUND_DOWN)  # taker 4 bps on the rich venue, rounded down to 8 decimals
    pnl = sell.order.cumulative_quote_qty - sell.fills[0].commission - buy.order.cumulative_quote_qty
    assert pnl > 0


def test_depth_profile_validation() -> None:
    with pytest.raises(BadParameter, match="levels"):
        DepthProfile(levels=0)
    with pytest.raises(BadParameter, match="step_bps"):
        DepthProfile(step_bps=D(0))


@settings(max_examples=3000)
@given(st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, 2.0, 1e16, 9.999999999999998e15, 1e-05, 5e-324,
                                                     1.7976931348623157e308, 123456789.0, 0.1 + 0.2]))
def test_to_decimal_is_numpys_shortest_positional_decimal(x: float) -> None:
    """The fast path (``repr``) gives the reference's digits and exponent: numpy's shortest positional string."""
    import numpy as np

    want = D(np.format_float_positional(x, unique=True, trim="-"))
    got = to_decimal(x)
    assert got.as_tuple() == want.as_tuple() and str(got) == str(want), (x, got, want)


def test_last_bar_is_the_last_of_the_resampled_history_at_every_venue_time(xrp_eth_bars, xrp_eth_trades) -> None:
    """The kline feed's ``Venue.last_bar`` (only the last bin's base bars) equals the last bar of ``Venue.bars``
    (the whole closed history resampled) for the base interval and coarser ones, at venue times on, just after
    and just before bin edges; an invalid interval fails the same way."""
    from market.bars import OHLCV_COLUMNS
    from tests.market.emulator.conftest import make_venue

    venue = make_venue(xrp_eth_bars, xrp_eth_trades)
    start = venue.now_ms
    for offset_min in (0, 1, 4, 5, 6, 14, 59, 60, 61, 200, 719, 1441):
        venue.advance_to(start + offset_min * 60_000 + 30_000)
        for interval in ("1m", "3m", "5m", "15m", "1h", "1d"):
            whole, last = venue.bars("XRP/ETH", interval), venue.last_bar("XRP/ETH", interval)
            assert len(last) == 1 and last.timeframe == whole.timeframe == interval
            for column in OHLCV_COLUMNS:
                assert getattr(last, column)[0] == getattr(whole, column)[-1], (offset_min, interval, column)
    for bad in ("30s", "7x"):  # finer than the base bars; not an interval
        with pytest.raises(BadParameter):
            venue.last_bar("XRP/ETH", bad)
