"""Smart order routing (actors.routing): the split is checked against an exhaustive search over every
lot-sized split, on hand-made dislocated books and on generated ones."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.routing import ParentOrder, RoutingError, VenueBook, balance_cap, best_single_venue, route, walk_cost


def brute_force(books: list[VenueBook], side: str, qty: int, caps: dict[str, float] | None = None) -> tuple[int, float]:
    """(most lots fillable, best cost for it) over every integer split of ``qty`` lots (lot 1)."""
    best: tuple[int, float] | None = None
    ranges = [range(0, qty + 1) for _ in books]
    for split in itertools.product(*ranges):
        if sum(split) > qty:
            continue
        if caps and any(q > caps[b.venue] + 1e-9 for q, b in zip(split, books)):
            continue
        filled, cost = 0, 0.0
        for q, b in zip(split, books):
            taken, _, c = walk_cost(b, side, q)
            if taken < q:  # more than the venue shows
                break
            filled += q
            cost += c
        else:
            better = (best is None or filled > best[0] or
                      (filled == best[0] and (cost < best[1] if side == "buy" else cost > best[1])))
            if better:
                best = (filled, cost)
    assert best is not None
    return best


A = VenueBook("binance", ((100.0, 4.0), (100.2, 4.0), (100.6, 10.0)), taker_bps=10, step=1)
B = VenueBook("coinbase", ((99.7, 3.0), (100.1, 5.0), (100.8, 10.0)), taker_bps=25, step=1)


def test_on_two_dislocated_venues_the_routed_fill_beats_the_best_single_venue() -> None:
    parent = ParentOrder("buy", 12)
    plan = route([A, B], parent)
    single = best_single_venue([A, B], parent)
    assert plan.qty == single.qty == 12 and len(plan.children) == 2
    filled, best_cost = brute_force([A, B], "buy", 12)
    assert filled == 12 and plan.net_price * 12 == pytest.approx(best_cost)  # the optimum of every split
    gain_bps = (single.net_price - plan.net_price) / single.net_price * 1e4
    assert gain_bps > 5  # the dislocation is worth several bps net of both fees
    assert {c.venue: c.qty for c in plan.children} == {"binance": 8.0, "coinbase": 4.0}


def test_fees_decide_between_equal_prices_and_the_limit_bounds_every_level() -> None:
    cheap_fee = VenueBook("a", ((100.0, 5.0),), taker_bps=1, step=1)
    dear_fee = VenueBook("b", ((99.95, 5.0),), taker_bps=20, step=1)  # lower price, but 99.95 x 1.002 > 100 x 1.0001
    plan = route([cheap_fee, dear_fee], ParentOrder("buy", 5))
    assert [(c.venue, c.qty) for c in plan.children] == [("a", 5.0)]
    limited = route([A, B], ParentOrder("buy", 30, limit=100.2))
    assert limited.unfilled == 30 - 16 and all(c.avg_price <= 100.2 for c in limited.children)


def test_sell_side_takes_the_dearest_bids_net_of_fees() -> None:
    bids_a = VenueBook("a", ((101.0, 2.0), (100.0, 5.0)), taker_bps=10, step=1)
    bids_b = VenueBook("b", ((100.5, 3.0), (99.0, 5.0)), taker_bps=10, step=1)
    plan = route([bids_a, bids_b], ParentOrder("sell", 6))
    filled, best = brute_force([bids_a, bids_b], "sell", 6)
    assert plan.qty == filled == 6 and plan.net_price * 6 == pytest.approx(best)


def test_participation_caps_each_child_at_a_share_of_the_visible_book() -> None:
    plan = route([A, B], ParentOrder("buy", 30), participation=0.5)
    visible = {"binance": 18.0, "coinbase": 18.0}
    assert all(c.qty <= 0.5 * visible[c.venue] for c in plan.children)
    assert plan.qty == 18 and plan.unfilled == 12


def test_an_order_too_small_to_split_goes_whole_to_the_cheapest_venue() -> None:
    a = VenueBook("a", ((100.0, 1.0), (100.5, 10.0)), taker_bps=10, step=1, min_qty=2)
    b = VenueBook("b", ((100.2, 10.0),), taker_bps=10, step=1, min_qty=2)
    plan = route([a, b], ParentOrder("buy", 3))
    # the best split (1 at a, 2 at b) is refused by a's minimum of 2; whole at b (100.2) beats whole at a
    assert [(c.venue, c.qty) for c in plan.children] == [("b", 3.0)]


@pytest.mark.parametrize("make", [
    lambda: VenueBook("", ((1.0, 1.0),)),
    lambda: VenueBook("a", ((0.0, 1.0),)),
    lambda: VenueBook("a", ((1.0, 1.0),), step=0),
    lambda: ParentOrder("hold", 1),
    lambda: ParentOrder("buy", 0),
    lambda: ParentOrder("buy", 1, limit=-1),
    lambda: route([A, B], ParentOrder("buy", 1), participation=1.5),
    lambda: route([A, A], ParentOrder("buy", 1)),
    lambda: route([A, B], ParentOrder("buy", 1), caps={"binance": -1.0}),
    lambda: route([A, B], ParentOrder("buy", 1), caps={"binance": float("nan")}),
    lambda: balance_cap(A, "buy", float("inf")),
])
def test_bad_inputs_name_the_field(make) -> None:
    with pytest.raises(RoutingError):
        make()


def test_free_balance_caps_bound_each_venue_and_the_plan_names_the_capped_one() -> None:
    parent = ParentOrder("buy", 12)
    free = {"binance": 100.0, "coinbase": 2.0}  # coinbase can pay for 2 units only: the rest moves to binance
    plan = route([A, B], parent, caps=free)
    assert {c.venue: c.qty for c in plan.children} == {"binance": 10.0, "coinbase": 2.0}
    filled, best = brute_force([A, B], "buy", 12, caps=free)
    assert plan.qty == filled == 12 and plan.net_price * 12 == pytest.approx(best)
    assert plan.capped == ("coinbase",)  # binance's cap (100) is above all it could take: not named
    uncapped = route([A, B], parent)
    assert uncapped.capped == () and uncapped.net_price < plan.net_price  # the cap costs: coinbase was cheaper
    single = best_single_venue([A, B], parent, caps={"binance": 5.0, "coinbase": 2.0})
    assert [(c.venue, c.qty) for c in single.children] == [("binance", 5.0)]
    nothing = route([A, B], parent, caps={"binance": 0.0, "coinbase": 0.0})
    assert nothing.children == () and nothing.unfilled == 12 and nothing.capped == ("binance", "coinbase")


def test_a_balance_cap_is_what_the_free_balance_pays_at_the_limit_or_along_the_book_with_the_fee() -> None:
    assert balance_cap(A, "sell", 7.5) == 7.5 and balance_cap(A, "sell", -1.0) == 0.0  # a sell spends base
    fee = 1 + A.taker_bps / 1e4
    assert balance_cap(A, "buy", 1000.0, limit=100.2) == pytest.approx(1000.0 / (100.2 * fee))
    # the walk: 4 at 100.0, then 2.5 of the 4 at 100.2, fees included
    quote = (4 * 100.0 + 2.5 * 100.2) * fee
    assert balance_cap(A, "buy", quote) == pytest.approx(6.5)
    beyond = (4 * 100.0 + 4 * 100.2 + 10 * 100.6) * fee + 3 * 100.6 * fee  # past the book: at the last level
    assert balance_cap(A, "buy", beyond) == pytest.approx(21.0)


@given(a=st.lists(st.tuples(st.integers(9900, 10100), st.integers(0, 4)), min_size=1, max_size=4),
       b=st.lists(st.tuples(st.integers(9900, 10100), st.integers(0, 4)), min_size=1, max_size=4),
       ca=st.integers(0, 9), cb=st.integers(0, 9), qty=st.integers(1, 9))
def test_the_capped_split_is_the_optimum_of_every_lot_split_within_the_caps(a, b, ca, cb, qty) -> None:
    books = [_book("a", a, 10), _book("b", b, 20)]
    caps = {"a": float(ca), "b": float(cb)}
    plan = route(books, ParentOrder("buy", qty), caps=caps)
    filled, best = brute_force(books, "buy", qty, caps=caps)
    assert plan.qty == filled and all(c.qty <= caps[c.venue] for c in plan.children)
    if filled:
        assert plan.net_price * plan.qty == pytest.approx(best, rel=1e-12)


LEVELS = st.lists(st.tuples(st.integers(9900, 10100), st.integers(0, 4)), min_size=1, max_size=4)


def _book(name: str, levels: list[tuple[int, int]], bps: int) -> VenueBook:
    ordered = sorted({p: q for p, q in levels}.items())
    return VenueBook(name, tuple((p / 100, float(q)) for p, q in ordered), taker_bps=bps, step=1)


@given(a=LEVELS, b=LEVELS, fa=st.integers(0, 30), fb=st.integers(0, 30), qty=st.integers(1, 9))
def test_the_split_is_the_optimum_of_every_lot_split(a, b, fa, fb, qty) -> None:
    books = [_book("a", a, fa), _book("b", b, fb)]
    plan = route(books, ParentOrder("buy", qty))
    filled, best = brute_force(books, "buy", qty)
    assert plan.qty == filled
    if filled:
        assert plan.net_price * plan.qty == pytest.approx(best, rel=1e-12)
        single = best_single_venue(books, ParentOrder("buy", qty))
        assert single.qty < plan.qty or plan.net_price <= single.net_price + 1e-12
