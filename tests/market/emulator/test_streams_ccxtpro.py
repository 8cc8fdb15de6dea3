"""ccxt.pro (the real async client) watching the emulator's WebSocket streams."""

from __future__ import annotations

import asyncio

import ccxt.pro as ccxtpro
import pytest
from ccxt.base.errors import NetworkError

from market.emulator.client import ccxt_config, point_at
from market.emulator.server import EmulatorServer
from market.emulator.replay import to_decimal
from tests.market.emulator.conftest import make_venue

SYM = "XRP/ETH"


def pro_client(srv: EmulatorServer) -> ccxtpro.binance:
    return point_at(ccxtpro.binance(ccxt_config("alice-key", "alice-secret")), srv.url, srv.ws_url)


def test_watch_trades_order_book_and_ohlcv_follow_the_replay(xrp_eth_bars, xrp_eth_trades) -> None:
    venue = make_venue(xrp_eth_bars, xrp_eth_trades)
    t0 = venue.now_ms

    async def main() -> None:
        ex = pro_client(srv)
        try:
            await ex.load_markets()
            book = await ex.watch_order_book(SYM)  # REST snapshot + diff stream
            trades_task = asyncio.ensure_future(ex.watch_trades(SYM))
            await asyncio.sleep(0.2)  # the trade subscription is live before the market moves
            with srv.lock:
                venue.advance_to(t0 + 5 * 60_000)
                expected_ids = [t.trade_id for t in venue.engine.trades(SYM, 5000) if t.time_ms > t0]
                target_nonce = venue.engine.update_id
                bids, asks = venue.engine.depth(SYM, 10)
            while book["nonce"] < target_nonce:
                book = await asyncio.wait_for(ex.watch_order_book(SYM), 10)
            assert book["nonce"] == target_nonce
            assert [(to_decimal(p), to_decimal(q)) for p, q in book["bids"][:10]] == bids
            assert [(to_decimal(p), to_decimal(q)) for p, q in book["asks"][:10]] == asks
            await asyncio.wait_for(trades_task, 10)
            for _ in range(100):  # the client's trade cache holds every streamed print
                seen = [int(t["id"]) for t in ex.trades.get(SYM, [])]
                if seen and seen[-1] >= expected_ids[-1]:
                    break
                await asyncio.sleep(0.05)
            assert [i for i in seen if i in set(expected_ids)] == expected_ids  # every print, in order
            candles = await asyncio.wait_for(ex.watch_ohlcv(SYM, "1m"), 10)
            last_closed = venue.bars(SYM, "1m")
            assert candles[-1][0] == int(last_closed.timestamp[-1])
            assert candles[-1][4] == float(last_closed.close[-1])
        finally:
            await ex.close()

    with EmulatorServer(venue) as srv:
        asyncio.run(asyncio.wait_for(main(), 30))


def test_a_dropped_stream_surfaces_and_the_client_resubscribes(xrp_eth_bars, xrp_eth_trades) -> None:
    venue = make_venue(xrp_eth_bars, xrp_eth_trades)

    async def main() -> None:
        ex = pro_client(srv)
        try:
            await ex.load_markets()
            await ex.watch_order_book(SYM)
            pending = asyncio.ensure_future(ex.watch_order_book(SYM))
            await asyncio.sleep(0.1)
            assert await asyncio.get_running_loop().run_in_executor(None, srv.drop_streams) == 1
            with pytest.raises(NetworkError):
                await asyncio.wait_for(pending, 10)
            again = asyncio.ensure_future(ex.watch_order_book(SYM))
            await asyncio.sleep(0.2)
            with srv.lock:
                venue.advance_to(venue.now_ms + 60_000)
                target = venue.engine.update_id
            book = await asyncio.wait_for(again, 10)
            while book["nonce"] < target:
                book = await asyncio.wait_for(ex.watch_order_book(SYM), 10)
            assert book["bids"][0][0] < book["asks"][0][0]
        finally:
            await ex.close()

    with EmulatorServer(venue) as srv:
        asyncio.run(asyncio.wait_for(main(), 30))
