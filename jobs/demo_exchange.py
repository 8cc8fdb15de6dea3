"""Exchange demo: two emulated venues in two API dialects, one ExchangeActor per venue, through ccxt.

:func:`demo_exchange` (run inside a Ray job, Ray already initialised):

1. starts two emulators on free loopback ports in this process - ``binance``
   (Binance dialect, maker 10 / taker 10 bps) and ``coinbase`` (Coinbase
   Exchange dialect, maker 0 / taker 20 bps charged in the quote asset,
   prices 5 bps higher) - replaying the bundled XRP/ETH trades at ``speed`` x
   real time;
2. stores a throw-away API key pair (random secret) in a temporary encrypted
   key store and starts an :class:`actors.exchange.ExchangeActor` per venue,
   pinned to this node (the emulators and the key store live here);
3. streams trades, books and bars for ``stream_s`` seconds, checking that
   every stream's ``seq`` has no hole;
4. on each venue: a resting limit buy (then canceled), a market buy, and a
   marketable limit sell, all through the real ccxt client; collects fills.

Returns one JSON-able dict; finishes in well under 15 s on a 2-core machine.
Command line: ``python -m jobs.demo_exchange [--seconds 2] [--speed 300] --json``.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from raytrader.config import load_config
from raytrader.ports import free_ports
from raytrader.errors import InputError

__all__ = ["demo_exchange", "DemoExchangeRequest", "main"]

SYMBOL = "XRP/ETH"
#: venue -> (maker bps, taker bps, price offset bps)
VENUES = {"binance": ("10", "10", "0"), "coinbase": ("0", "20", "5")}
#: venue -> the ccxt exchange id whose API dialect its emulator speaks
DIALECT = {"binance": "binance", "coinbase": "coinbaseexchange"}


@dataclass(frozen=True)
class DemoExchangeRequest:
    """``stream_s``: seconds of streaming before trading (0.2..10); ``speed``: replay x real time (1..3600)."""

    stream_s: float = 2.0
    speed: float = 300.0

    def __post_init__(self) -> None:
        if not 0.2 <= self.stream_s <= 10:
            raise InputError(f"seconds: expected 0.2..10 seconds of streaming, got {self.stream_s}")
        if not 1 <= self.speed <= 3600:
            raise InputError(f"speed: expected 1..3600 x real time, got {self.speed}")


def _venue(name: str, api_key: str, secret: str, passphrase: str, bars: Any, trades: Any) -> Any:
    from market.emulator import (  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        ApiKey, FeeSchedule, Instrument, MarketSpec, ReplayConfig, Venue, VenueConfig)
    from market.emulator.coinbase import coinbase_venue_config  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    maker, taker, offset = VENUES[name]
    inst = Instrument(SYMBOL, tick_size=Decimal("0.00000001"), step_size=Decimal("1"), min_qty=Decimal("1"),
                      min_notional=Decimal("0.001"))
    config = VenueConfig(name=name, fees=FeeSchedule(Decimal(maker), Decimal(taker)),
                         replay=ReplayConfig(price_offset_bps=Decimal(offset)))
    venue = Venue([MarketSpec(inst, bars, trades)],
                  keys=[ApiKey(api_key, secret, "demo", passphrase=passphrase)],
                  config=coinbase_venue_config(config) if DIALECT[name] == "coinbaseexchange" else config,
                  deposits={"demo": {"ETH": Decimal("10"), "XRP": Decimal("20000")}})
    venue.advance_to(venue.start_ms + 30 * 60_000)  # a warm book and some bars before the demo starts
    return venue


def _order_row(update: Any) -> dict[str, Any]:
    return {"client_order_id": update.client_order_id, "side": update.side, "type": update.type,
            "amount": update.amount,
            "status": update.status, "filled": update.filled, "average": update.average,
            "fee": update.fee_cost, "fee_currency": update.fee_currency, "resolved_by": update.resolved_by}


def demo_exchange(request: DemoExchangeRequest = DemoExchangeRequest()) -> dict[str, Any]:
    """Run the demo (module docstring) on the Ray cluster this process is attached to; returns the summary."""
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from actors.exchange import ExchangeActor, ExchangeConfig  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from actors.exchange_core import SeqChecker  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from actors.keystore import Credentials, KeyStore  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from actors.messages import MarketEvent, OrderIntent, stream_name  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from market.emulator.coinbase import CoinbaseServer  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from market.emulator.server import EmulatorServer, ServerConfig  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from market.samples import load_sample, load_sample_frame  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter()
    marks: dict[str, float] = {}

    def mark(phase: str) -> None:
        marks[phase] = round(time.perf_counter() - started - sum(marks.values()), 3)

    # a base64 secret (Coinbase signs with its decoded bytes, Binance with the string) and a passphrase (Coinbase)
    api_key, secret = "demo" + secrets.token_hex(6), base64.b64encode(secrets.token_bytes(32)).decode()
    passphrase = secrets.token_hex(8)
    home = Path(tempfile.mkdtemp(prefix="rt-demo-keys-"))
    # distinct, and none the cluster's config promised to a server not bound yet (the API's replica ports)
    ports = dict(zip(VENUES, free_ports(len(VENUES), exclude=load_config().configured_ports())))
    servers = {name: CoinbaseServer if DIALECT[name] == "coinbaseexchange" else EmulatorServer for name in VENUES}
    actors: dict[str, Any] = {}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, home, True)
        KeyStore(home, env={}).add("demo", "binance", Credentials(api_key, secret, passphrase))
        # the actors' worker processes start while the venues load (the ports are chosen up front)
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        for name, port in ports.items():
            url = f"http://127.0.0.1:{port}"
            config = ExchangeConfig(venue=name, exchange_id=DIALECT[name], symbols=(SYMBOL,), base_url=url,
                                    ws_url=url.replace("http://", "ws://") + servers[name].STREAM_PATHS[0],
                                    key_name="demo", keystore_home=str(home), namespace="demo", rest_poll_s=0.5)
            actors[name] = ExchangeActor.options(scheduling_strategy=here).remote(config)
            stack.callback(ray.kill, actors[name])
        bars, trades = load_sample("XRP-ETH-1m"), load_sample_frame("XRP-ETH-trades")
        for name, port in ports.items():
            stack.enter_context(servers[name](_venue(name, api_key, secret, passphrase, bars, trades),
                                              ServerConfig(port=port, replay_speed=request.speed)))
        mark("venues_s")
        ray.get([a.start.remote() for a in actors.values()], timeout=60)
        stack.callback(lambda: ray.get([a.stop.remote() for a in actors.values()], timeout=30))
        mark("actors_s")
        time.sleep(request.stream_s)

        streams: dict[str, dict[str, Any]] = {}
        best_bid: dict[str, float] = {}
        for name, actor in actors.items():
            per: dict[str, Any] = {}
            for kind in ("trades", "book", "bars"):
                items = ray.get(actor.poll.remote(stream_name(kind, SYMBOL), 0, 5.0, 100_000))
                per[kind] = {"events": sum(isinstance(x, MarketEvent) for x in items),
                             "last_seq": items[-1].seq if items else 0,
                             "seq_holes": len(SeqChecker().check(items)),
                             "gaps": sum(type(x).__name__ == "GapDetected" for x in items)}
                if kind == "book":
                    best_bid[name] = next(x.book.bids[0][0] for x in reversed(items) if isinstance(x, MarketEvent))
            streams[name] = per
        mark("stream_s")

        def each(method: str, *args_of: Any) -> dict[str, Any]:
            """Call ``method`` on every venue's actor at once; ``args_of(name)`` gives its arguments."""
            refs = {n: getattr(a, method).remote(*(f(n) for f in args_of)) for n, a in actors.items()}
            return dict(zip(refs, ray.get(list(refs.values()), timeout=60)))

        rest = each("place", lambda n: OrderIntent(n, SYMBOL, "buy", "limit", 100, "rest-1",
                                                   round(best_bid[n] * 0.9, 8)))
        canceled = each("cancel", lambda n: rest[n].client_order_id, lambda n: SYMBOL)
        bought = each("place", lambda n: OrderIntent(n, SYMBOL, "buy", "market", 50, "buy-1"))
        sold = each("place", lambda n: OrderIntent(n, SYMBOL, "sell", "limit", 50, "sell-1",
                                                   round(best_bid[n] * 0.98, 8)))
        each("sync")
        fills, balances = each("fills"), each("balance")
        mark("orders_s")
        venues: dict[str, Any] = {}
        for name in actors:
            maker, taker, offset = VENUES[name]
            venues[name] = {
                "dialect": DIALECT[name],
                "fees_bps": {"maker": float(maker), "taker": float(taker)}, "price_offset_bps": float(offset),
                "streams": streams[name],
                "orders": [_order_row(u[name]) for u in (rest, bought, sold)],
                "canceled": [canceled[name].client_order_id] if canceled[name].status == "canceled" else [],
                "fills": [{"side": f.side, "price": f.price, "qty": f.amount, "fee": f.fee_cost,
                           "fee_currency": f.fee_currency, "maker": f.is_maker} for f in fills[name]],
                "balances": {b.asset: b.total for b in balances[name]},
            }
    return {"job": "demo_exchange", "symbol": SYMBOL, "speed": request.speed, "stream_s": request.stream_s,
            "venues": venues, "timings": marks, "seconds": round(time.perf_counter() - started, 3)}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds of market data before trading (0.2..10)")
    parser.add_argument("--speed", type=float, default=300.0, help="replay speed, x real time (default 300)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.demo_exchange``: one JSON object; exit 2 on bad input (before Ray starts)."""
    from jobs._entry import run_job_main  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    return run_job_main("demo_exchange", __doc__, _add_arguments,
                        lambda a: DemoExchangeRequest(stream_s=a.seconds, speed=a.speed), demo_exchange, argv)


if __name__ == "__main__":
    sys.exit(main())
