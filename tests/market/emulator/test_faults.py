"""Fault injection: the seeded, scripted injector, and each fault kind as the real ccxt client meets it."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Iterator

import aiohttp
import ccxt
import pytest

from market.emulator.client import ccxt_config, point_at
from market.emulator.errors import BadParameter
from market.emulator.faults import FAULT_KINDS, FaultInjector, RandomFaults
from market.emulator.server import EmulatorServer, FaultConfig, ServerConfig
from tests.market.emulator.conftest import make_venue

SYM = "XRP/ETH"
ORDER = ("POST", "/api/v3/order")


# ---------------------------------------------------------------- the injector alone
def test_random_faults_are_seeded_and_near_their_rate() -> None:
    def run(seed: int) -> list[str | None]:
        inj = FaultInjector(RandomFaults(rate=0.05, seed=seed, kinds=FAULT_KINDS))
        return [inj.decide("GET", "/api/v3/depth") for _ in range(4000)]

    first, again, other = run(11), run(11), run(12)
    assert first == again and first != other
    hits = [k for k in first if k is not None]
    assert 120 <= len(hits) <= 280  # binomial(4000, 0.05): mean 200, sd 14
    assert set(hits) == set(FAULT_KINDS)  # every kind is drawn


def test_scripted_rules_come_first_in_order_and_match_method_and_path() -> None:
    inj = FaultInjector(RandomFaults(rate=1.0, seed=0, kinds=("429",), paths=("/api/v3/depth",)))
    inj.script("lost_response", *ORDER, times=2)
    inj.script("5xx", "GET", "/api/v3/order")
    assert inj.pending() == 3
    assert inj.decide("GET", "/api/v3/ping") is None           # no rule, outside the random filter
    assert inj.decide("GET", "/api/v3/order") == "5xx"
    assert inj.decide("GET", "/api/v3/order") is None           # used up
    assert [inj.decide(*ORDER) for _ in range(3)] == ["lost_response", "lost_response", None]
    assert inj.decide("GET", "/api/v3/depth") == "429"          # random, rate 1 on that path only
    assert inj.injected == Counter({"lost_response": 2, "5xx": 1, "429": 1}) and inj.pending() == 0
    inj.script("timeout", times=5)
    inj.clear()
    assert inj.pending() == 0


@pytest.mark.parametrize("bad", [dict(rate=1.5), dict(rate=-0.1), dict(kinds=("nope",)), dict(kinds=())])
def test_bad_random_fault_settings_are_refused(bad: dict) -> None:
    with pytest.raises(BadParameter):
        RandomFaults(**bad)
    with pytest.raises(BadParameter):
        FaultInjector().script("nope")


# ---------------------------------------------------------------- each kind, end to end
@pytest.fixture(scope="module")
def faulty(xrp_eth_bars, xrp_eth_trades) -> Iterator[EmulatorServer]:
    config = ServerConfig(faults=FaultConfig(hang_ms=1500))
    with EmulatorServer(make_venue(xrp_eth_bars, xrp_eth_trades), config) as srv:
        yield srv


def client(server: EmulatorServer, **extra) -> ccxt.binance:
    ex = point_at(ccxt.binance(ccxt_config("alice-key", "alice-secret", **extra)), server.url)
    ex.load_markets()
    return ex


def at_venue(server: EmulatorServer, cid: str) -> list:
    with server.lock:
        return [o for o in server.venue.engine.orders("alice", SYM) if o.client_order_id == cid]


def place(ex: ccxt.binance, cid: str) -> None:
    ex.create_order(SYM, "limit", "buy", 100, 0.001, {"clientOrderId": cid})


@pytest.mark.parametrize("kind,error,executed", [
    ("5xx", ccxt.ExchangeNotAvailable, False),
    ("429", ccxt.DDoSProtection, False),
    ("5xx_executed", ccxt.ExchangeNotAvailable, True),
    ("lost_response", ccxt.NetworkError, True),
])
def test_each_fault_kind_on_an_order(faulty: EmulatorServer, kind: str, error: type, executed: bool) -> None:
    ex = client(faulty)
    cid = f"fault-{kind}"
    faulty.faults.script(kind, *ORDER)
    with pytest.raises(error):
        place(ex, cid)
    assert len(at_venue(faulty, cid)) == (1 if executed else 0)
    assert faulty.faults.pending() == 0
    if executed:  # what really happened is there to be found by client order id
        assert ex.fetch_order(None, SYM, {"origClientOrderId": cid})["status"] == "open"
        ex.cancel_order(None, SYM, {"origClientOrderId": cid})


def test_a_held_request_is_processed_late_unless_its_signature_went_stale(faulty: EmulatorServer) -> None:
    # held 1.5 s: the client (0.5 s timeout) gives up either way; with a 1 s recvWindow the venue then
    # refuses it as stale, with a 5 s one it executes after the client gave up
    for recv_window, executed in ((1000, False), (5000, True)):
        ex = client(faulty, timeout=500, options={"recvWindow": recv_window})
        cid = f"held-{recv_window}"
        faulty.faults.script("timeout", *ORDER)
        with pytest.raises(ccxt.RequestTimeout):
            place(ex, cid)
        if executed:
            deadline = time.monotonic() + 15
            while not at_venue(faulty, cid) and time.monotonic() < deadline:
                time.sleep(0.1)
        else:
            time.sleep(2.5)  # past the 1.5 s hold: the venue has processed (and refused) it by now
        assert len(at_venue(faulty, cid)) == (1 if executed else 0)
        if executed:
            ex.cancel_order(None, SYM, {"origClientOrderId": cid})


def test_drop_ws_closes_every_stream_and_answers_the_request(faulty: EmulatorServer) -> None:
    async def scenario() -> tuple[int, object]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(faulty.ws_url) as ws:
                await asyncio.sleep(0.2)
                faulty.faults.script("drop_ws", "GET", "/api/v3/ping")
                loop = asyncio.get_running_loop()
                status = await loop.run_in_executor(
                    None, lambda: urllib.request.urlopen(faulty.url + "/api/v3/ping").status)
                msg = await asyncio.wait_for(ws.receive(), 10)
                return status, msg.type

    status, msg_type = asyncio.run(scenario())
    assert status == 200
    assert msg_type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


def _statuses(server: EmulatorServer, n: int) -> list[int]:
    out = []
    for _ in range(n):
        try:
            with urllib.request.urlopen(server.url + "/api/v3/ping") as resp:
                out.append(resp.status)
        except urllib.error.HTTPError as err:
            out.append(err.code)
    return out


def test_random_faults_at_five_percent_reproduce_with_the_seed(xrp_eth_bars, xrp_eth_trades) -> None:
    runs = []
    for _ in range(2):
        faults = FaultConfig(random=RandomFaults(rate=0.05, seed=5, kinds=("5xx", "429")))
        with EmulatorServer(make_venue(xrp_eth_bars, xrp_eth_trades), ServerConfig(faults=faults)) as srv:
            runs.append(_statuses(srv, 400))
            assert srv.faults.injected["5xx"] + srv.faults.injected["429"] == sum(s != 200 for s in runs[-1])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503, 429}
    assert 5 <= sum(s != 200 for s in runs[0]) <= 40  # binomial(400, 0.05): mean 20, sd 4.4
