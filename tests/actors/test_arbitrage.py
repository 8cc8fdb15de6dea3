"""Cross-venue arbitrage decisions (actors.arbitrage): fees, margin, inventory limits; a property that a
decision never loses money at the touch prices."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.arbitrage import (
    ArbDecision,
    ArbError,
    EdgeConfirmation,
    Inventory,
    Touch,
    arb_report,
    arbitrage,
    best_edge_bps,
    fresh_touches,
    journaled_pairs,
    leg_intents,
    pair_id,
    pair_of,
    spare_limits,
    touch_from_book,
)
from actors.messages import BookSnapshot, Fill, OrderIntent

RICH = {"a": Inventory(base=100, quote=1_000), "b": Inventory(base=100, quote=1_000)}


def test_a_dislocation_beyond_both_fees_and_the_margin_is_taken_the_right_way_round() -> None:
    a = Touch("a", bid=99.9, bid_qty=5, ask=100.0, ask_qty=3, taker_bps=10)
    b = Touch("b", bid=100.5, bid_qty=2, ask=100.6, ask_qty=9, taker_bps=10)
    d = arbitrage([a, b], RICH, margin_bps=5, max_qty=10, step=1)
    assert (d.buy_venue, d.sell_venue, d.qty) == ("a", "b", 2)  # limited by b's bid size
    edge = 100.5 * 0.999 - 100.0 * 1.001
    assert d.edge_bps == pytest.approx(edge / 100.0 * 1e4) and d.expected_pnl == pytest.approx(2 * edge)


def test_no_trade_when_fees_or_the_margin_eat_the_spread() -> None:
    a = Touch("a", bid=99.9, bid_qty=5, ask=100.0, ask_qty=3, taker_bps=10)
    b = Touch("b", bid=100.15, bid_qty=5, ask=100.3, ask_qty=3, taker_bps=10)  # 15 bps gross, 20 bps of fees
    assert arbitrage([a, b], RICH, margin_bps=0, max_qty=10, step=1) is None
    b2 = Touch("b", bid=100.3, bid_qty=5, ask=100.4, ask_qty=3, taker_bps=10)  # ~10 bps net: below a 12 bps margin
    assert arbitrage([a, b2], RICH, margin_bps=12, max_qty=10, step=1) is None
    assert arbitrage([a, b2], RICH, margin_bps=5, max_qty=10, step=1) is not None


def test_inventory_limits_the_size_on_each_side() -> None:
    a = Touch("a", bid=99.9, bid_qty=50, ask=100.0, ask_qty=50, taker_bps=0)
    b = Touch("b", bid=101.0, bid_qty=50, ask=101.1, ask_qty=50, taker_bps=0)
    poor_quote = {"a": Inventory(base=0, quote=250), "b": Inventory(base=100, quote=0)}
    assert arbitrage([a, b], poor_quote, 0, 100, step=1).qty == 2  # 250 quote buys 2 at 100
    little_base = {"a": Inventory(base=0, quote=10_000), "b": Inventory(base=3, quote=0)}
    assert arbitrage([a, b], little_base, 0, 100, step=1).qty == 3  # b can deliver 3
    capped = {"a": Inventory(base=8, quote=10_000, max_base=10), "b": Inventory(base=100, quote=0)}
    assert arbitrage([a, b], capped, 0, 100, step=1).qty == 2  # a may hold 2 more at most
    full = {"a": Inventory(base=10, quote=10_000, max_base=10), "b": Inventory(base=100, quote=0)}
    assert arbitrage([a, b], full, 0, 100, step=1) is None


@pytest.mark.parametrize("call", [
    lambda: Touch("a", bid=101, bid_qty=1, ask=100, ask_qty=1, taker_bps=0),
    lambda: Touch("a", bid=-1, bid_qty=1, ask=100, ask_qty=1, taker_bps=0),
    lambda: arbitrage([Touch("a", 1, 1, 2, 1, 0)], {}, 0, 1),
    lambda: arbitrage([], {}, -1, 1),
    lambda: arbitrage([], {}, 0, 0),
])
def test_bad_inputs_are_named(call) -> None:
    with pytest.raises(ArbError):
        call()


PRICE = st.integers(9_800, 10_200).map(lambda c: c / 100)


@given(pa=PRICE, pb=PRICE, sa=st.integers(1, 30), sb=st.integers(1, 30), fa=st.integers(0, 30), fb=st.integers(0, 30))
def test_a_decision_never_loses_at_the_touch_prices(pa, pb, sa, sb, fa, fb) -> None:
    a = Touch("a", bid=pa, bid_qty=5, ask=pa + sa / 100, ask_qty=5, taker_bps=fa)
    b = Touch("b", bid=pb, bid_qty=5, ask=pb + sb / 100, ask_qty=5, taker_bps=fb)
    d = arbitrage([a, b], RICH, margin_bps=1, max_qty=10, step=1)
    if d is not None:
        paid = d.qty * d.buy_price * (1 + (fa if d.buy_venue == "a" else fb) / 1e4)
        got = d.qty * d.sell_price * (1 - (fb if d.sell_venue == "b" else fa) / 1e4)
        assert got - paid == pytest.approx(d.expected_pnl) and got > paid
        assert math.isclose(d.edge_bps, (got - paid) / (d.qty * d.buy_price) * 1e4, rel_tol=1e-9) and d.edge_bps > 1


# ---------------------------------------------------------------- around the decision: books, legs, the report

def test_a_touch_is_read_from_the_best_levels_and_refused_when_a_side_is_missing_or_crossed() -> None:
    book = BookSnapshot(bids=((99.0, 3.0), (98.0, 5.0)), asks=((101.0, 2.0), (102.0, 9.0)), nonce=1, timestamp_ms=0)
    assert touch_from_book("a", book, 10) == Touch("a", 99.0, 3.0, 101.0, 2.0, 10)
    assert touch_from_book("a", BookSnapshot((), ((101.0, 2.0),), None, None), 10) is None
    assert touch_from_book("a", BookSnapshot(((101.0, 1.0),), ((101.0, 2.0),), None, None), 10) is None  # locked
    assert touch_from_book("a", BookSnapshot(((102.0, 1.0),), ((101.0, 2.0),), None, None), 10) is None  # crossed


def test_touches_come_only_from_every_venues_book_and_none_older_than_stale_s() -> None:
    a = BookSnapshot(((99.0, 3.0),), ((101.0, 2.0),), None, None)
    b = BookSnapshot(((100.0, 1.0),), ((100.5, 4.0),), None, None)
    books = {"b": (b, 98.0), "a": (a, 100.0)}  # arrived at 98 s and 100 s
    assert fresh_touches(books, ("a", "b"), (10.0, 20.0), now=100.0, stale_s=2.0) == ([
        Touch("a", 99.0, 3.0, 101.0, 2.0, 10.0), Touch("b", 100.0, 1.0, 100.5, 4.0, 20.0)], "")  # venues' order
    assert fresh_touches(books, ("a", "b"), (10.0, 20.0), now=100.001, stale_s=2.0) == (None, "stale")  # b: 2.001 s
    assert fresh_touches(books, ("a", "b"), (10.0, 20.0), now=100.001, stale_s=30.0)[0] is not None
    assert fresh_touches({"a": (a, 100.0)}, ("a", "b"), (10.0, 20.0), now=100.0, stale_s=2.0) == (None, "no book")
    crossed = BookSnapshot(((102.0, 1.0),), ((101.0, 2.0),), None, None)
    assert fresh_touches({**books, "b": (crossed, 100.0)}, ("a", "b"), (10.0, 20.0), now=100.0,
                         stale_s=2.0) == (None, "unpriced")


def test_the_best_edge_is_reported_whatever_its_sign() -> None:
    a = Touch("a", bid=99.9, bid_qty=5, ask=100.0, ask_qty=3, taker_bps=10)
    b = Touch("b", bid=100.15, bid_qty=5, ask=100.3, ask_qty=3, taker_bps=20)
    a_to_b = (100.15 * 0.998 - 100.0 * 1.001) / 100.0 * 1e4  # buy a, sell b: -14.7 bps
    b_to_a = (99.9 * 0.999 - 100.3 * 1.002) / 100.3 * 1e4
    assert best_edge_bps([a, b]) == pytest.approx(max(a_to_b, b_to_a)) and best_edge_bps([a, b]) < 0
    assert best_edge_bps([a]) is None


def test_both_legs_share_the_pair_id_and_trade_at_the_touch_prices() -> None:
    a = Touch("a", bid=99.9, bid_qty=5, ask=100.0, ask_qty=3, taker_bps=10)
    b = Touch("b", bid=100.5, bid_qty=2, ask=100.6, ask_qty=9, taker_bps=10)
    d = arbitrage([a, b], RICH, margin_bps=5, max_qty=10, step=1)
    pair = pair_id("arb", 1_700_000_000_000, 7)
    buy, sell = leg_intents(pair, d, "X/Q")
    assert (buy.venue, buy.side, buy.type, buy.price, buy.amount) == ("a", "buy", "limit", 100.0, 2)
    assert (sell.venue, sell.side, sell.type, sell.price, sell.amount) == ("b", "sell", "limit", 100.5, 2)
    assert buy.time_in_force == sell.time_in_force == "IOC"  # the venue expires what does not fill at once
    assert pair_of(buy.intent_id, "arb") == pair_of(sell.intent_id, "arb") == pair == "arb:1700000000000:7"
    assert pair_of("strategy:sma_cross:X/Q@a#123", "arb") is None
    assert pair_of(buy.intent_id, "other") is None
    with pytest.raises(ArbError):
        pair_id("a:b", 0, 1)


def _fill(venue: str, tid: str, cid: str | None, side: str, price: float, amount: float, fee: float, cur: str,
          symbol: str = "X/Q") -> Fill:
    return Fill(venue, symbol, tid, "o" + tid, cid, side, price, amount, fee, cur, False, 0)


def test_the_report_counts_pairs_and_legs_and_books_pnl_net_of_fees_at_one_mark() -> None:
    p1, p2 = "arb:1:1", "arb:1:2"
    intents = [OrderIntent("a", "X/Q", "buy", "limit", 2, f"{p1}:buy", price=10),
               OrderIntent("b", "X/Q", "sell", "limit", 2, f"{p1}:sell", price=11),
               OrderIntent("a", "X/Q", "buy", "limit", 1, f"{p2}:buy", price=10),
               OrderIntent("b", "X/Q", "sell", "limit", 1, f"{p2}:sell", price=11),  # never filled
               OrderIntent("a", "X/Q", "buy", "market", 5, "strategy:other#1")]  # not a leg
    fills = [_fill("a", "1", f"c-{p1}:buy", "buy", 10, 2, 0.002, "X"),  # fee in the base asset (Binance)
             _fill("a", "1", f"c-{p1}:buy", "buy", 10, 2, 0.002, "X"),  # the same trade again: counted once
             _fill("b", "1", f"c-{p1}:sell", "sell", 11, 2, 0.044, "Q"),  # fee in the quote asset (Coinbase)
             _fill("a", "2", f"c-{p2}:buy", "buy", 10, 1, 0.001, "X"),
             _fill("a", "9", None, "buy", 3, 1, 0, "X", symbol="Y/Q")]  # another symbol: not ours here
    r = arb_report(intents, fills, lambda i: "c-" + i, "arb", "X/Q", mark=10.0, venues=["a", "b"])
    assert (r.pairs_opened, r.pairs_complete, r.pairs_unbalanced, r.legs_sent, r.legs_filled) == (2, 1, 1, 4, 3)
    assert r.base_change == pytest.approx({"a": 2.997, "b": -2.0})
    assert r.quote_change == pytest.approx({"a": -30.0, "b": 21.956})
    assert r.fees_quote == pytest.approx({"a": 0.03, "b": 0.044})
    assert r.pnl_by_venue == pytest.approx({"a": -0.03, "b": 1.956})
    assert r.pnl_total == pytest.approx(1.926) and r.imbalance_base == pytest.approx(1.0)
    with pytest.raises(ArbError, match="fee in 'BNB'"):
        arb_report([], [_fill("a", "3", None, "buy", 10, 1, 0.1, "BNB")], str, "arb", "X/Q", 10.0, ["a"])
    with pytest.raises(ArbError, match="mark"):
        arb_report([], [], str, "arb", "X/Q", 0.0, ["a"])


def test_an_edge_is_confirmed_only_by_snapshots_of_every_venue_received_after_it_was_seen() -> None:
    c = EdgeConfirmation()
    assert not c.observe(True, {"a": 5, "b": 3})  # seen: a's feed showed a jump, b's still the old price
    assert not c.observe(True, {"a": 6, "b": 3})  # a again, b not yet
    assert not c.observe(False, {"a": 6, "b": 4})  # b's next snapshot: the edge is gone - it was b's lag
    assert c.stats == {"seen": 1, "vanished": 1, "confirmed": 0}
    assert not c.observe(True, {"a": 7, "b": 4})  # a real dislocation appears...
    assert c.observe(True, {"a": 8, "b": 5})  # ...and both venues show it again: act
    assert not c.observe(True, {"a": 8, "b": 5})  # the next edge starts a new confirmation
    assert c.observe(True, {"a": 9, "b": 6})
    assert c.stats == {"seen": 3, "vanished": 1, "confirmed": 2}


@given(pa=PRICE, pb=PRICE, sa=st.integers(1, 30), sb=st.integers(1, 30), fa=st.integers(0, 30), fb=st.integers(0, 30),
       margin=st.integers(0, 20))
def test_spare_limits_give_room_and_still_make_the_margin_at_the_worst_prices(pa, pb, sa, sb, fa, fb, margin) -> None:
    a = Touch("a", bid=pa, bid_qty=5, ask=pa + sa / 100, ask_qty=5, taker_bps=fa)
    b = Touch("b", bid=pb, bid_qty=5, ask=pb + sb / 100, ask_qty=5, taker_bps=fb)
    d = arbitrage([a, b], RICH, margin_bps=margin, max_qty=10, step=1)
    if d is None:
        return
    f_buy, f_sell = (fa, fb) if d.buy_venue == "a" else (fb, fa)
    buy, sell = spare_limits(d, f_buy, f_sell, margin, tick=0.01)
    assert buy >= d.buy_price and sell <= d.sell_price  # room, never less than the touches
    worst = sell * (1 - f_sell / 1e4) - buy * (1 + f_buy / 1e4)  # both legs filled at their limits, fees paid
    assert worst / buy * 1e4 >= margin - 1e-6
    # and the room is used: one more tick on both limits would break the margin
    up, down = buy + 0.01, sell - 0.01
    assert (down * (1 - f_sell / 1e4) - up * (1 + f_buy / 1e4)) / up * 1e4 < margin + 1e-6


def test_spare_limits_of_a_wide_dislocation_by_hand() -> None:
    d = ArbDecision("a", "b", 1.0, buy_price=100.0, sell_price=101.0, edge_bps=0, expected_pnl=0)
    buy, sell = spare_limits(d, 0, 0, 0, tick=0.01)  # no fees, no margin: meet in the middle
    assert (buy, sell) == (pytest.approx(100.49), pytest.approx(100.50))  # both meet at 100.4975, then ticks
    with pytest.raises(ArbError):
        spare_limits(d, 0, 0, 0, tick=0)


def test_a_restarted_runner_rebuilds_its_pairs_legs_states_and_fills_from_the_journal() -> None:
    d = arbitrage([Touch("a", 99.9, 5, 100.0, 3, 10), Touch("b", 100.5, 2, 100.6, 9, 10)], RICH, margin_bps=5,
                  max_qty=10, step=1)
    first, second = pair_id("arb", 1, 1), pair_id("arb", 1, 2)
    legs = [*leg_intents(first, d, "X/Q"), leg_intents(second, d, "X/Q")[0]]  # died between pair 2's sends
    other = [OrderIntent("a", "X/Q", "buy", "market", 1, "strategy:x#1"),  # not a leg
             *leg_intents(pair_id("arb", 1, 3), d, "Y/Q")]  # another symbol
    cid = {i.intent_id: "c-" + i.intent_id for i in legs + other}
    states = {cid[legs[0].intent_id]: "FILLED", cid[legs[1].intent_id]: "CANCELED"}
    filled = {cid[legs[0].intent_id]: 2.0, cid[legs[1].intent_id]: 1.0}
    pairs = journaled_pairs(legs + other, states, filled, cid.__getitem__, "arb", "X/Q")
    assert [p["pair"] for p in pairs] == [first, second] and all(p["rebuilt"] for p in pairs)
    assert (pairs[0]["buy_venue"], pairs[0]["sell_venue"], pairs[0]["qty"]) == ("a", "b", 2)
    assert pairs[0]["buy"] == {"client_order_id": cid[legs[0].intent_id], "state": "FILLED", "filled": 2.0}
    assert pairs[0]["sell"]["state"] == "CANCELED" and pairs[0]["sell"]["filled"] == 1.0  # IOC: 1 of 2, rest expired
    assert pairs[1]["buy"]["state"] == "SUBMITTED" and "sell" not in pairs[1] and pairs[1]["sell_venue"] is None
