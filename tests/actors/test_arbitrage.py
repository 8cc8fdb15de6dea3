"""Cross-venue arbitrage decisions (actors.arbitrage): fees, margin, inventory limits; a property that a
decision never loses money at the touch prices."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.arbitrage import ArbError, Inventory, Touch, arbitrage

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
