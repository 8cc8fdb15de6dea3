"""Order round trip to ack, per API dialect: the real ccxt client vs a raw signed aiohttp request.

Two emulated venues replay the bundled ``XRP-ETH-1m`` bars, each in its own
child process (as in a paper session, where the venues live in the job's
process and ccxt in each ExchangeActor's): one speaks the Binance dialect
(:class:`market.emulator.server.EmulatorServer`, ``POST /api/v3/order``), one
the Coinbase Exchange dialect (:class:`market.emulator.coinbase.CoinbaseServer`,
``POST /orders``), both on 127.0.0.1, their book paused (no replay while
timing). Their rate limits are raised out of reach and ccxt's
``enableRateLimit`` is off: what is timed is the round trip, not a throttle.

Per dialect and client, sequentially: a limit buy at 80 % of the mid (far
from the touch: it rests) with a fresh client order id -> the venue's ack
(the order comes back ``open``/``NEW``; anything else stops the run), then
its cancel (timed apart). Clients:

* **ccxt** - the client the ExchangeActor uses (``ccxt.async_support.binance`` /
  ``coinbaseexchange``, pointed at the emulator with
  :func:`market.emulator.client.point_at`): ``create_order`` -> ack,
  ``cancel_order`` -> answer; its parsing into a unified order included;
* **raw** - the floor without ccxt: one ``aiohttp`` session, the request signed
  by hand as the venue documents it (Binance: HMAC-SHA256 of the form body,
  ``X-MBX-APIKEY``; Coinbase: ``CB-ACCESS-SIGN`` over timestamp + method + path
  + JSON body with the base64-decoded secret), the JSON answer decoded.

``--rounds`` rounds alternate every (dialect, client) with ``--orders /
--rounds`` orders each, after ``--warmup`` untimed orders per client (first
connection, ``load_markets``). p50 / p99 are over all timed orders of a
(dialect, client); the median of the per-round p50s is shown beside them.
The client and the emulators share the machine's cores.

Reproduce: ``.venv/bin/python -m benchmarks.round_trip`` (writes the
``round-trip`` section of ``benchmarks/RESULTS.md``; ``--no-write`` prints only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import time
import uuid
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlencode

from benchmarks._results import machine_line, write_section

__all__ = ["main"]

SAMPLE = "XRP-ETH-1m"
DIALECTS = ("binance", "coinbase")
CLIENTS = ("ccxt", "raw")


# ---------------------------------------------------------------- the venues (child processes)
def _serve(dialect: str, key: str, secret: str, passphrase: str, conn: Any) -> None:
    """Run one venue until the parent says stop; send its URL and order terms first."""
    from market.emulator.coinbase import CoinbaseRateLimits, CoinbaseServer, coinbase_venue_config
    from market.emulator.instruments import instrument_for
    from market.emulator.matching import FeeSchedule
    from market.emulator.server import EmulatorServer, RateLimitConfig, ServerConfig
    from market.emulator.venue import ApiKey, MarketSpec, Venue, VenueConfig
    from market.samples import load_sample

    bars = load_sample(SAMPLE)
    inst = instrument_for(bars)
    config = VenueConfig(name=dialect, fees=FeeSchedule(Decimal(10), Decimal(10)))
    if dialect == "coinbase":
        config = coinbase_venue_config(config)
    base, quote = bars.symbol.split("/")
    venue = Venue([MarketSpec(inst, bars)], keys=[ApiKey(key, secret, "bench", passphrase=passphrase)],
                  config=config, deposits={"bench": {base: Decimal(10) ** 9, quote: Decimal(10) ** 9}})
    venue.advance_to(venue.start_ms + 60 * bars.timeframe_ms)
    bids, asks = venue.engine.depth(bars.symbol, 1)
    mid = (bids[0][0] + asks[0][0]) / 2
    price = (mid * Decimal("0.8") / inst.tick_size).to_integral_value(ROUND_FLOOR) * inst.tick_size
    amount = max(inst.min_qty, ((inst.min_notional * 2 / price) / inst.step_size).to_integral_value() * inst.step_size)
    server_config = ServerConfig(port=0, replay_speed=None, rate_limit=RateLimitConfig(weight_per_minute=10**9))
    server = (CoinbaseServer(venue, server_config, limits=CoinbaseRateLimits(10**9, 10**9))
              if dialect == "coinbase" else EmulatorServer(venue, server_config))
    with server:
        conn.send({"url": server.url, "symbol": bars.symbol, "market_id": inst.symbol.replace("/", ""),
                   "price": str(price), "amount": str(amount), "pid": os.getpid()})
        conn.recv()


# ---------------------------------------------------------------- clients
class _Ccxt:
    """The real ccxt client, as the ExchangeActor builds it (without its rate limiter)."""

    def __init__(self, dialect: str, venue: dict[str, Any], key: str, secret: str, passphrase: str) -> None:
        import ccxt.async_support as ccxt_async

        from market.emulator.client import ccxt_config, coinbase_config, point_at

        if dialect == "binance":
            self.ex = ccxt_async.binance(ccxt_config(api_key=key, secret=secret, enableRateLimit=False))
        else:
            self.ex = ccxt_async.coinbaseexchange(coinbase_config(key, secret, passphrase, enableRateLimit=False))
        point_at(self.ex, venue["url"])
        self.dialect, self.v = dialect, venue

    async def open(self) -> None:
        await self.ex.load_markets()

    async def place(self, cid: str) -> None:
        order = await self.ex.create_order(self.v["symbol"], "limit", "buy", float(self.v["amount"]),
                                           float(self.v["price"]), {"clientOrderId": cid})
        if order.get("status") != "open":
            raise RuntimeError(f"ccxt {self.dialect}: the order came back {order.get('status')!r}, not open")
        self.last_id = order["id"]

    async def cancel(self, cid: str) -> None:
        await self.ex.cancel_order(self.last_id, self.v["symbol"])

    async def close(self) -> None:
        await self.ex.close()


class _Raw:
    """A hand-signed aiohttp request to the same endpoint: the floor without ccxt."""

    def __init__(self, dialect: str, venue: dict[str, Any], key: str, secret: str, passphrase: str) -> None:
        self.dialect, self.v, self.key, self.secret, self.passphrase = dialect, venue, key, secret, passphrase

    async def open(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()

    def _binance(self, params: dict[str, str]) -> str:
        body = urlencode({**params, "timestamp": str(int(time.time() * 1000)), "recvWindow": "10000"})
        sig = hmac.new(self.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        return f"{body}&signature={sig}"

    def _coinbase(self, method: str, path: str, body: str) -> dict[str, str]:
        ts = f"{time.time():.3f}"
        sig = hmac.new(base64.b64decode(self.secret), (ts + method + path + body).encode(), hashlib.sha256)
        return {"CB-ACCESS-KEY": self.key, "CB-ACCESS-SIGN": base64.b64encode(sig.digest()).decode(),
                "CB-ACCESS-TIMESTAMP": ts, "CB-ACCESS-PASSPHRASE": self.passphrase,
                "Content-Type": "application/json"}

    async def place(self, cid: str) -> None:
        url = self.v["url"]
        if self.dialect == "binance":
            body = self._binance({"symbol": self.v["market_id"], "side": "BUY", "type": "LIMIT",
                                  "timeInForce": "GTC", "quantity": self.v["amount"], "price": self.v["price"],
                                  "newClientOrderId": cid})
            async with self.session.post(f"{url}/api/v3/order", data=body, headers={
                    "X-MBX-APIKEY": self.key, "Content-Type": "application/x-www-form-urlencoded"}) as r:
                answer = json.loads(await r.read())
            if answer.get("status") != "NEW":
                raise RuntimeError(f"raw binance: {r.status} {answer}")
        else:
            body = json.dumps({"product_id": self.v["symbol"].replace("/", "-"), "side": "buy", "type": "limit",
                               "price": self.v["price"], "size": self.v["amount"], "client_oid": cid})
            async with self.session.post(f"{url}/orders", data=body, headers=self._coinbase("POST", "/orders",
                                                                                           body)) as r:
                answer = json.loads(await r.read())
            if answer.get("status") not in ("open", "pending"):
                raise RuntimeError(f"raw coinbase: {r.status} {answer}")

    async def cancel(self, cid: str) -> None:
        url = self.v["url"]
        if self.dialect == "binance":
            query = self._binance({"symbol": self.v["market_id"], "origClientOrderId": cid})
            async with self.session.delete(f"{url}/api/v3/order?{query}",
                                           headers={"X-MBX-APIKEY": self.key}) as r:
                answer = json.loads(await r.read())
            ok = answer.get("status") == "CANCELED"
        else:
            path = f"/orders/client:{cid}?product_id={self.v['symbol'].replace('/', '-')}"
            async with self.session.delete(url + path, headers=self._coinbase("DELETE", path, "")) as r:
                answer = json.loads(await r.read())
            ok = r.status == 200
        if not ok:
            raise RuntimeError(f"raw {self.dialect} cancel: {r.status} {answer}")

    async def close(self) -> None:
        await self.session.close()


def _cid(dialect: str, n: int) -> str:
    return str(uuid.uuid4()) if dialect == "coinbase" else f"rt{n}x{secrets.token_hex(6)}"


async def _run(venues: dict[str, dict[str, Any]], creds: dict[str, tuple[str, str, str]], orders: int,
               rounds: int, warmup: int) -> dict[tuple[str, str], dict[str, list]]:
    clients = {(d, c): (_Ccxt if c == "ccxt" else _Raw)(d, venues[d], *creds[d]) for d in DIALECTS for c in CLIENTS}
    out: dict[tuple[str, str], dict[str, list]] = {k: {"ack": [], "cancel": [], "round_p50": []} for k in clients}
    n = 0
    try:
        for client in clients.values():
            await client.open()
        for (d, _), client in clients.items():
            for _ in range(warmup):
                n += 1
                cid = _cid(d, n)
                await client.place(cid)
                await client.cancel(cid)
        per = max(1, orders // rounds)
        for _ in range(rounds):
            for (d, c), client in clients.items():
                acks = []
                for _ in range(per):
                    n += 1
                    cid = _cid(d, n)
                    t0 = time.perf_counter()
                    await client.place(cid)
                    t1 = time.perf_counter()
                    await client.cancel(cid)
                    t2 = time.perf_counter()
                    acks.append((t1 - t0) * 1000)
                    out[(d, c)]["cancel"].append((t2 - t1) * 1000)
                out[(d, c)]["ack"] += acks
                out[(d, c)]["round_p50"].append(statistics.median(acks))
    finally:
        for client in clients.values():
            await client.close()
    return out


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.round_trip", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="timed orders per dialect and client (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the orders are split into (default 5)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed orders per client first (default 20)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--orders and --rounds must be >= 1, --warmup >= 0")
    ctx = mp.get_context("spawn")
    creds = {d: ("bench" + secrets.token_hex(6), base64.b64encode(secrets.token_bytes(32)).decode(),
                 secrets.token_hex(8)) for d in DIALECTS}
    procs, conns, venues = [], {}, {}
    load0 = os.getloadavg()[0]
    try:
        for d in DIALECTS:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_serve, args=(d, *creds[d], child), daemon=True)
            p.start()
            procs.append(p)
            conns[d] = parent
        for d in DIALECTS:
            if not conns[d].poll(120):
                raise RuntimeError(f"the {d} emulator did not start within 120 s")
            venues[d] = conns[d].recv()
        t0 = time.perf_counter()
        res = asyncio.run(_run(venues, creds, args.orders, args.rounds, args.warmup))
        wall = time.perf_counter() - t0
    finally:
        for c in conns.values():
            try:
                c.send("stop")
            except (BrokenPipeError, OSError):
                pass
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
    load1 = os.getloadavg()[0]
    rows = []
    for d in DIALECTS:
        for c in CLIENTS:
            r = res[(d, c)]
            rows.append((d, c, len(r["ack"]), statistics.median(r["ack"]), _pct(r["ack"], 0.99),
                         statistics.median(r["round_p50"]), statistics.median(r["cancel"]), _pct(r["cancel"], 0.99)))
    lines = ["## Order round trip to ack, per dialect (`benchmarks/round_trip.py`)", "",
             f"{machine_line()}; 1-minute load average {load0:.1f} at the start, {load1:.1f} at the end; "
             f"{wall:.1f} s of timing.", "",
             "A limit buy far from the touch (it rests) -> the venue's ack, then its cancel; sequential, one "
             "order in flight; the emulators in their own processes on 127.0.0.1 (book paused, rate limits out "
             "of reach, ccxt's rate limiter off). `ccxt`: the real ccxt async client the ExchangeActor uses; "
             "`raw`: the same request signed by hand with aiohttp (the floor without ccxt).", "",
             "| dialect | client | orders | ack p50 (ms) | ack p99 (ms) | median of round p50s (ms) | "
             "cancel p50 (ms) | cancel p99 (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for d, c, n, p50, p99, rp50, c50, c99 in rows:
        lines.append(f"| {d} | {c} | {n} | {p50:.2f} | {p99:.2f} | {rp50:.2f} | {c50:.2f} | {c99:.2f} |")
    lines.append("")
    for d in DIALECTS:
        cc, raw = res[(d, "ccxt")], res[(d, "raw")]
        lines.append(f"- {d}: ccxt adds {statistics.median(cc['ack']) - statistics.median(raw['ack']):.2f} ms "
                     f"to the ack p50 over the raw request "
                     f"({statistics.median(cc['ack']) / statistics.median(raw['ack']):.1f}x).")
    lines += ["", f"Reproduce: `.venv/bin/python -m benchmarks.round_trip --orders {args.orders} --rounds "
                  f"{args.rounds}`."]
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    if not args.no_write:
        write_section("round-trip", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
