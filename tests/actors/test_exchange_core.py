"""The ExchangeActor's pure core: client ids, error verdicts, the unknown-outcome protocol, sequencing, parsing."""

from __future__ import annotations

import asyncio
import string

import pytest
from ccxt.base import errors as cx
from hypothesis import given
from hypothesis import strategies as st

from actors.exchange_core import (
    CLIENT_ID_PATTERN,
    ResolutionPolicy,
    SeqChecker,
    StreamLog,
    Verdict,
    answered_trades,
    bar_time_gap,
    classify_error,
    client_order_id,
    merge_recovered,
    parse_book,
    parse_fill,
    parse_order,
    place_order,
    resolve_unknown,
    trade_id_gap,
)
from actors.messages import GapDetected, MarketEvent, OrderIntent, OrderIntentError, OrderUpdate, TradeTick
from raytrader.errors import InputError

INTENT = OrderIntent("binance", "XRP/ETH", "buy", "limit", 10, "intent-1", 0.001)


# ------------------------------------------------------------------ client order ids
@given(st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=11),
       st.text(min_size=1, max_size=200))
def test_client_order_id_is_deterministic_and_valid_for_binance(namespace: str, intent_id: str) -> None:
    cid = client_order_id(namespace, intent_id)
    assert cid == client_order_id(namespace, intent_id)
    assert CLIENT_ID_PATTERN.match(cid) and len(cid) <= 36
    assert cid != client_order_id(namespace, intent_id + "x")


def test_client_order_ids_differ_across_namespaces_and_bad_namespaces_are_named() -> None:
    assert client_order_id("stratA", "1") != client_order_id("stratB", "1")
    assert client_order_id("rt", "1").startswith("rt-")
    for bad in ("", "has-dash", "twelve_chars", "sp ace"):
        with pytest.raises(InputError, match="namespace"):
            client_order_id(bad, "1")
    with pytest.raises(InputError, match="intent_id"):
        client_order_id("rt", "")


def test_order_intent_validation_names_the_field() -> None:
    with pytest.raises(OrderIntentError, match="price"):
        OrderIntent("binance", "XRP/ETH", "buy", "limit", 10, "i")
    with pytest.raises(OrderIntentError, match="price"):
        OrderIntent("binance", "XRP/ETH", "buy", "market", 10, "i", 0.1)
    with pytest.raises(OrderIntentError, match="amount"):
        OrderIntent("binance", "XRP/ETH", "buy", "market", float("nan"), "i")
    with pytest.raises(OrderIntentError, match="side"):
        OrderIntent("binance", "XRP/ETH", "hold", "market", 1, "i")
    with pytest.raises(OrderIntentError, match="symbol"):
        OrderIntent("binance", "XRPETH", "buy", "market", 1, "i")
    assert issubclass(OrderIntentError, InputError)


# ------------------------------------------------------------------ classification
@pytest.mark.parametrize(("exc", "verdict"), [
    (cx.InsufficientFunds('binance {"code":-2010,"msg":"Account has insufficient balance for requested action."}'),
     Verdict.REJECTED),
    (cx.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'), Verdict.REJECTED),
    (cx.BadSymbol("binance does not have market symbol DOGE/ETH"), Verdict.REJECTED),
    (cx.AuthenticationError('binance {"code":-2015,"msg":"Invalid API-key"}'), Verdict.REJECTED),
    (cx.PermissionDenied("no trading"), Verdict.REJECTED),
    (cx.InvalidNonce('binance {"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}'),
     Verdict.REJECTED),
    (cx.ExchangeError('binance {"code":-1111,"msg":"whatever"}'), Verdict.REJECTED),
    (cx.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), Verdict.DUPLICATE),
    (cx.DuplicateOrderId("dup"), Verdict.DUPLICATE),
    (cx.RequestTimeout("binance POST https://api.binance.com/api/v3/order request timed out"), Verdict.UNKNOWN),
    (cx.NetworkError("binance POST ... Server disconnected"), Verdict.UNKNOWN),
    (cx.ExchangeNotAvailable("binance 503 Service Unavailable"), Verdict.UNKNOWN),
    (cx.DDoSProtection("binance 429 Too Many Requests"), Verdict.UNKNOWN),
    (cx.RateLimitExceeded("slow down"), Verdict.UNKNOWN),
    (cx.BadResponse("not json"), Verdict.UNKNOWN),
    (asyncio.TimeoutError(), Verdict.UNKNOWN),
    (ConnectionResetError("reset by peer"), Verdict.UNKNOWN),
])
def test_classification_table(exc: BaseException, verdict: Verdict) -> None:
    assert classify_error(exc).verdict is verdict


def test_classification_extracts_the_venue_code() -> None:
    got = classify_error(cx.InsufficientFunds('binance {"code":-2010,"msg":"Account has insufficient balance"}'))
    assert got.code == "-2010" and "insufficient balance" in got.reason
    assert classify_error(cx.RequestTimeout("timed out")).code == "RequestTimeout"


# ------------------------------------------------------------------ resolution protocol (scripted venue)
class Script:
    """A scripted venue for the query callable, with a fake clock that advances on sleep."""

    def __init__(self, answers: list) -> None:
        self.answers = list(answers)
        self.now = 100.0
        self.queries: list[float] = []
        self.sleeps: list[float] = []

    async def query(self) -> OrderUpdate:
        self.queries.append(self.now)
        answer = self.answers.pop(0) if self.answers else cx.OrderNotFound("gone")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s

    def clock(self) -> float:
        return self.now


def _venue_order(status: str = "open", filled: float = 0.0) -> OrderUpdate:
    return OrderUpdate("binance", "XRP/ETH", client_order_id("rt", "intent-1"), "77", status, "buy", "limit", 10.0,
                       filled, 10.0 - filled, None, 0.001, 0.0, None, 1)


POLICY = ResolutionPolicy(max_queries=10, backoff_s=0.2, max_backoff_s=2.0, recv_window_ms=5_000, clock_margin_s=1.0,
                          not_found_confirmations=2)


def run(coro):
    return asyncio.run(coro)


def test_found_after_network_errors_is_the_answer() -> None:
    s = Script([cx.RequestTimeout("t"), cx.ExchangeNotAvailable("503"), _venue_order("closed", 10.0)])
    res = run(resolve_unknown(s.query, failed_at=s.now, policy=POLICY, clock=s.clock, sleep=s.sleep))
    assert res.outcome == "found" and res.update.status == "closed" and res.queries == 3
    assert s.sleeps == [0.2, 0.4]  # exponential backoff


def test_not_found_right_after_the_error_is_not_trusted() -> None:
    # the venue's query service lags: not found twice, then the order shows up
    s = Script([cx.OrderNotFound("no"), cx.OrderNotFound("no"), _venue_order()])
    res = run(resolve_unknown(s.query, failed_at=s.now, policy=POLICY, clock=s.clock, sleep=s.sleep))
    assert res.outcome == "found" and res.not_found == 2


def test_absent_only_after_the_recv_window_horizon_and_confirmations() -> None:
    s = Script([])  # the venue never heard of it
    res = run(resolve_unknown(s.query, failed_at=s.now, policy=POLICY, clock=s.clock, sleep=s.sleep))
    assert res.outcome == "absent"
    horizon = 100.0 + 5.0 + 1.0
    assert s.queries[-1] >= horizon  # the deciding answer came after the horizon
    assert len(s.queries) >= 2 and all(q < horizon for q in s.queries[:-1])


def test_a_single_not_found_after_the_horizon_is_not_enough() -> None:
    s = Script([cx.RequestTimeout("t")] * 3)
    s.now = 100.0
    res = run(resolve_unknown(s.query, failed_at=90.0, policy=POLICY, clock=s.clock, sleep=s.sleep))
    # 3 timeouts, then not-found answers: the first already past the horizon, yet a second one is required
    assert res.outcome == "absent" and res.not_found == 2 and res.queries == 5


def test_attempts_run_out_leaves_unresolved() -> None:
    s = Script([cx.RequestTimeout("t")] * 20)
    res = run(resolve_unknown(s.query, failed_at=s.now, policy=POLICY, clock=s.clock, sleep=s.sleep))
    assert res.outcome == "unresolved" and res.queries == 10 and len(s.queries) == 10
    assert max(s.sleeps) == 2.0


def test_place_order_outcomes() -> None:
    async def ok() -> OrderUpdate:
        return _venue_order()

    def raising(exc: BaseException):
        async def submit() -> OrderUpdate:
            raise exc
        return submit

    cid = client_order_id("rt", "intent-1")
    s = Script([])
    kw = {"policy": POLICY, "clock": s.clock, "sleep": s.sleep}
    assert run(place_order(INTENT, cid, submit=ok, query=s.query, **kw)).resolved_by == "response"
    rej = run(place_order(INTENT, cid, submit=raising(cx.InsufficientFunds('{"code":-2010,"msg":"no money"}')),
                          query=s.query, **kw))
    assert rej.status == "rejected" and rej.rejection.code == "-2010" and not s.queries  # a rejection is not queried
    lost = Script([_venue_order("open")])
    got = run(place_order(INTENT, cid, submit=raising(cx.NetworkError("closed")), query=lost.query,
                          policy=POLICY, clock=lost.clock, sleep=lost.sleep))
    assert got.status == "open" and got.resolved_by == "query" and got.order_id == "77"
    dup = Script([_venue_order("closed", 10.0)])
    got = run(place_order(INTENT, cid, submit=raising(cx.InvalidOrder('{"code":-2010,"msg":"Duplicate order sent."}')),
                          query=dup.query, policy=POLICY, clock=dup.clock, sleep=dup.sleep))
    assert got.status == "closed" and got.filled == 10.0 and got.resolved_by == "query"
    never = Script([])
    got = run(place_order(INTENT, cid, submit=raising(cx.RequestTimeout("t")), query=never.query, policy=POLICY,
                          clock=never.clock, sleep=never.sleep))
    assert got.status == "rejected" and got.resolved_by == "absent" and got.rejection.code == "ABSENT"
    dark = Script([cx.RequestTimeout("t")] * 20)
    got = run(place_order(INTENT, cid, submit=raising(cx.RequestTimeout("t")), query=dark.query, policy=POLICY,
                          clock=dark.clock, sleep=dark.sleep))
    assert got.status == "unknown" and got.resolved_by == "unresolved" and got.remaining == 10.0


# ------------------------------------------------------------------ sequencing and gaps
def _tick(stream: str, seq: int) -> MarketEvent:
    return MarketEvent("trade", stream, seq, "v", "XRP/ETH", trade=TradeTick(str(seq), 1.0, 1.0, "buy", seq))


def test_stream_log_numbers_each_stream_from_one_and_pages() -> None:
    log = StreamLog(capacity=5)
    for _ in range(7):
        log.publish("a", lambda seq: _tick("a", seq))
    log.publish("b", lambda seq: GapDetected("b", seq, "v", "XRP/ETH", "test", None))
    assert log.last_seq("a") == 7 and log.last_seq("b") == 1 and log.streams() == ["a", "b"]
    assert [i.seq for i in log.after("a", 0)] == [3, 4, 5, 6, 7]  # bounded: the two oldest are gone
    assert [i.seq for i in log.after("a", 4, limit=2)] == [5, 6]
    assert log.after("a", 7) == () and log.after("nope", 0) == ()
    with pytest.raises(InputError, match="seq"):
        log.publish("a", lambda seq: _tick("a", seq + 1))


def test_seq_checker_reports_holes_and_refuses_reordering() -> None:
    log = StreamLog(capacity=3)
    checker = SeqChecker()
    for _ in range(2):
        log.publish("a", lambda seq: _tick("a", seq))
    assert checker.check(log.after("a", 0)) == []
    for _ in range(5):
        log.publish("a", lambda seq: _tick("a", seq))
    assert checker.check(log.after("a", 2)) == [("a", 3, 4)]  # fell behind the buffer
    with pytest.raises(InputError, match="seq"):
        checker.check([_tick("a", 7)])


def test_upstream_gap_checks() -> None:
    assert trade_id_gap(None, [5, 6, 7]) is None
    assert trade_id_gap(4, [5, 6]) is None
    assert trade_id_gap(4, [3, 4, 5]) is None  # replays at or below the last id are ignored
    assert trade_id_gap(4, [8, 9]) == (5, 7)
    assert trade_id_gap(4, [5, 7]) == (6, 6)
    assert not bar_time_gap(None, 0, 60_000) and not bar_time_gap(0, 60_000, 60_000)
    assert bar_time_gap(0, 180_000, 60_000)


def test_merge_recovered_fills_holes_before_and_inside_the_live_batch_in_order() -> None:
    key = int
    # published up to 4; live brought 5, 9 (6..8 skipped) and a replayed 3; REST has 5..10
    got = merge_recovered([9, 5, 3], [5, 6, 7, 8, 9, 10], key, 4)
    assert got == [(5, False), (6, True), (7, True), (8, True), (9, False)]  # 10 is past the live edge: not yet
    assert merge_recovered([], [3, 5, 6], key, 4) == [(5, True), (6, True)]  # nothing live: all newer fetched
    assert merge_recovered([1, 2], [], key, None) == [(1, False), (2, False)]


# ------------------------------------------------------------------ parsing
def test_parse_order_and_book_from_ccxt_unified_dicts() -> None:
    order = {"id": "12", "clientOrderId": "rt-abc", "symbol": "XRP/ETH", "status": "closed", "side": "sell",
             "type": "market", "amount": 10.0, "filled": 10.0, "remaining": 0.0, "average": 0.0014, "price": 0.0014,
             "timestamp": 5, "fees": [{"cost": 0.00001, "currency": "ETH"}, {"cost": 0.00002, "currency": "ETH"}]}
    up = parse_order("binance", order)
    assert (up.order_id, up.status, up.filled, up.fee_currency) == ("12", "closed", 10.0, "ETH")
    assert up.fee_cost == pytest.approx(0.00003)
    assert parse_order("binance", {**order, "status": "expired", "fees": None}).status == "canceled"
    book = parse_book({"bids": [[2.0, 1.0], [1.0, 3.0]], "asks": [[3.0, 1.0]], "nonce": 9, "timestamp": None}, 1)
    assert book.bids == ((2.0, 1.0),) and book.asks == ((3.0, 1.0),) and book.nonce == 9


def test_answered_trades_are_the_orders_fills_only_when_complete() -> None:
    """Binance FULL: the answer's fills become the order's fills when each has an id, amount and fee and they sum
    to the filled amount; what ccxt leaves off an answer's fill (order, side, taker, time) comes from the order."""
    order = {"id": "12", "side": "buy", "timestamp": 7, "trades": [
        {"id": "1", "price": 0.0014, "amount": 4.0, "fee": {"cost": 0.004, "currency": "XRP"}},
        {"id": "2", "price": 0.0015, "amount": 6.0, "fee": {"cost": 0.006, "currency": "XRP"}, "timestamp": 8}]}
    trades = answered_trades("XRP/ETH", order, 10.0)
    assert trades is not None and [t["id"] for t in trades] == ["1", "2"]
    fills = [parse_fill("binance", t, "rt-abc") for t in trades]
    assert [(f.order_id, f.side, f.is_maker, f.timestamp_ms, f.symbol) for f in fills] == [
        ("12", "buy", False, 7, "XRP/ETH"), ("12", "buy", False, 8, "XRP/ETH")]
    assert [f.fee_cost for f in fills] == [0.004, 0.006] and order["trades"][0].get("order") is None  # not mutated
    assert answered_trades("XRP/ETH", order, 11.0) is None  # a fill is missing: fetch over REST
    no_fee = {**order, "trades": [{**order["trades"][0], "fee": None}, order["trades"][1]]}
    assert answered_trades("XRP/ETH", no_fee, 10.0) is None
    assert answered_trades("XRP/ETH", {**order, "trades": []}, 10.0) is None


# ------------------------------------------------------------------ purity and config
def test_core_and_messages_do_not_import_ray() -> None:
    import subprocess
    import sys

    code = "import sys, actors.exchange_core, actors.messages; sys.exit('ray' in sys.modules)"
    from tests.conftest import REPO

    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_exchange_config_names_the_bad_field() -> None:
    from actors.exchange import ExchangeConfig, ExchangeConfigError

    ok = ExchangeConfig(venue="binance", symbols=("XRP/ETH",))
    assert ok.base_url is None and "secret" not in repr(ok).lower()
    for kwargs, field in [({"venue": ""}, "venue"), ({"symbols": "XRP/ETH"}, "symbols"),
                          ({"streams": ("trades", "quotes")}, "streams"), ({"key_name": "k"}, "keystore_home"),
                          ({"base_url": "http://127.0.0.1:1"}, "ws_url"),
                          ({"exchange_id": "not an id"}, "exchange_id")]:
        with pytest.raises(InputError, match=field):
            ExchangeConfig(**{"venue": "binance", "symbols": ("XRP/ETH",), **kwargs})
    with pytest.raises(InputError, match="namespace"):
        ExchangeConfig(venue="binance", namespace="bad-ns")
    assert issubclass(ExchangeConfigError, InputError)


def test_unknown_update_keeps_the_last_known_fields_and_guesses_nothing() -> None:
    from actors.exchange_core import unknown_update
    from actors.messages import OrderUpdate

    last = OrderUpdate(venue="v", symbol="XRP/ETH", client_order_id="c1", order_id="9", status="open", side="sell",
                       type="limit", amount=10.0, filled=4.0, remaining=6.0, average=0.002, price=0.002,
                       fee_cost=0.01, fee_currency="ETH", timestamp_ms=5)
    u = unknown_update("v", "XRP/ETH", "c1", last, "no answer")
    assert (u.status, u.resolved_by, u.rejection.code) == ("unknown", "unresolved", "UNRESOLVED")
    assert (u.order_id, u.side, u.filled, u.remaining) == ("9", "sell", 4.0, 6.0)
    blank = unknown_update("v", "XRP/ETH", "c2", None, "no answer")
    assert blank.status == "unknown" and blank.order_id is None and blank.amount == blank.filled == 0.0
