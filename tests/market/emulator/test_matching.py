"""The matching engine: deterministic cases and hypothesis properties (no I/O)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.emulator.accounts import Ledger
from market.emulator.book import BUY, SELL, Instrument
from market.emulator.errors import (
    CancelRejected,
    FilterFailure,
    InsufficientBalance,
    VenueOrderRejected,
    UnknownOrder,
)
from market.emulator.matching import FeeSchedule, MatchingEngine

SYM = "XRP/ETH"
INST = Instrument(SYM, tick_size=D("0.00000001"), step_size=D("1"), min_qty=D("1"), min_notional=D("0.0001"))
ACCOUNTS = ("alice", "bob", "carol")


def engine(fees: FeeSchedule | None = None) -> MatchingEngine:
    fees = fees if fees is not None else FeeSchedule(D("10"), D("20"))
    e = MatchingEngine([INST], fees=fees)
    for acc in ACCOUNTS:
        e.ledger.deposit(acc, "ETH", D("10"))
        e.ledger.deposit(acc, "XRP", D("10000"))
    return e


def test_market_buy_walks_the_book_and_pays_worse_prices() -> None:
    e = engine()
    e.submit("bob", SYM, SELL, "LIMIT", qty=D(100), price=D("0.00150000"))
    e.submit("bob", SYM, SELL, "LIMIT", qty=D(100), price=D("0.00160000"))
    report = e.submit("alice", SYM, BUY, "MARKET", qty=D(150))
    assert [(f.price, f.qty) for f in report.fills] == [(D("0.0015"), D(100)), (D("0.0016"), D(50))]
    assert report.order.status == "FILLED"
    assert report.order.cumulative_quote_qty == D("0.23")
    # taker fee 20 bps on the base received; maker fee 10 bps on the quote received
    assert [f.commission for f in report.fills] == [D("0.2"), D("0.1")]
    assert e.ledger.free("alice", "XRP") == D(10000) + D(150) - D("0.3")
    assert e.ledger.free("alice", "ETH") == D(10) - D("0.23")
    assert e.ledger.locked("bob", "XRP") == D(50)
    maker = [f for f in e.fills("bob", SYM)]
    assert [f.commission for f in maker] == [D("0.00015"), D("0.00008")] and all(f.is_maker for f in maker)


def test_limit_order_rests_partially_fills_and_cancels_unlocking_the_rest() -> None:
    e = engine()
    buy = e.submit("alice", SYM, BUY, "LIMIT", qty=D(1000), price=D("0.00140000"), client_order_id="a-1")
    assert buy.order.status == "NEW" and not buy.fills
    assert e.ledger.locked("alice", "ETH") == D("1.4")
    sell = e.submit("bob", SYM, SELL, "LIMIT", qty=D(300), price=D("0.00130000"))
    assert sell.order.status == "FILLED" and sell.fills[0].price == D("0.0014")  # maker's price
    got = e.get_order("alice", SYM, client_order_id="a-1")
    assert got.status == "PARTIALLY_FILLED" and got.executed_qty == D(300)
    assert e.ledger.locked("alice", "ETH") == D("0.98")
    canceled = e.cancel("alice", SYM, client_order_id="a-1")
    assert canceled.status == "CANCELED" and e.ledger.locked("alice", "ETH") == 0
    with pytest.raises(CancelRejected) as info:
        e.cancel("alice", SYM, order_id=canceled.order_id)
    assert info.value.code == -2011
    with pytest.raises(UnknownOrder) as info2:
        e.get_order("bob", SYM, order_id=canceled.order_id)  # not bob's
    assert info2.value.code == -2013


def test_taker_buy_limit_gets_price_improvement_unlocked() -> None:
    e = engine()
    e.submit("bob", SYM, SELL, "LIMIT", qty=D(100), price=D("0.00100000"))
    r = e.submit("alice", SYM, BUY, "LIMIT", qty=D(200), price=D("0.00200000"))
    assert r.order.status == "PARTIALLY_FILLED"
    assert e.ledger.locked("alice", "ETH") == D("0.2")  # only the resting 100 @ 0.002
    assert e.ledger.free("alice", "ETH") == D(10) - D("0.1") - D("0.2")


def test_rejections_name_binance_codes_and_change_nothing() -> None:
    e = engine()
    with pytest.raises(FilterFailure, match="PRICE_FILTER") as a:
        e.submit("alice", SYM, BUY, "LIMIT", qty=D(10), price=D("0.000000015"))
    with pytest.raises(FilterFailure, match="LOT_SIZE"):
        e.submit("alice", SYM, BUY, "LIMIT", qty=D("1.5"), price=D("0.001"))
    with pytest.raises(FilterFailure, match="NOTIONAL"):
        e.submit("alice", SYM, BUY, "LIMIT", qty=D(1), price=D("0.00000001"))
    assert a.value.code == -1013
    with pytest.raises(InsufficientBalance) as b:
        e.submit("alice", SYM, BUY, "LIMIT", qty=D(100000), price=D("0.001"))
    assert b.value.code == -2010
    e.submit("alice", SYM, BUY, "LIMIT", qty=D(10), price=D("0.001"), client_order_id="x")
    with pytest.raises(VenueOrderRejected, match="Duplicate"):
        e.submit("alice", SYM, BUY, "LIMIT", qty=D(10), price=D("0.001"), client_order_id="x")
    e.submit("bob", SYM, BUY, "LIMIT", qty=D(10), price=D("0.001"), client_order_id="x")  # unique per account only
    with pytest.raises(VenueOrderRejected, match="immediately match"):
        e.submit("carol", SYM, SELL, "LIMIT_MAKER", qty=D(5), price=D("0.0009"))
    assert e.ledger.locked("carol", "XRP") == 0 and len(e.open_orders("alice")) == 1


def test_ioc_fok_and_market_without_liquidity_expire() -> None:
    e = engine()
    e.submit("bob", SYM, SELL, "LIMIT", qty=D(100), price=D("0.001"))
    fok = e.submit("alice", SYM, BUY, "LIMIT", qty=D(150), price=D("0.001"), time_in_force="FOK")
    assert fok.order.status == "EXPIRED" and not fok.fills
    ioc = e.submit("alice", SYM, BUY, "LIMIT", qty=D(150), price=D("0.001"), time_in_force="IOC")
    assert ioc.order.status == "EXPIRED" and ioc.order.executed_qty == D(100)
    assert e.ledger.locked("alice", "ETH") == 0
    empty = e.submit("alice", SYM, BUY, "MARKET", qty=D(10))
    assert empty.order.status == "EXPIRED" and not empty.fills


def test_market_buy_by_quote_budget_spends_at_most_the_budget() -> None:
    e = engine()
    e.submit("bob", SYM, SELL, "LIMIT", qty=D(100), price=D("0.003"))
    r = e.submit("alice", SYM, BUY, "MARKET", quote_qty=D("0.1"))
    assert r.order.executed_qty == D(33) and r.order.cumulative_quote_qty == D("0.099")
    assert e.ledger.locked("alice", "ETH") == 0 and e.ledger.free("alice", "ETH") == D(10) - D("0.099")


def test_tape_print_fills_only_orders_it_trades_through() -> None:
    e = engine()
    e.ledger.deposit("tape", "ETH", D(1000))
    e.ledger.deposit("tape", "XRP", D(10**7))
    e.submit("alice", SYM, BUY, "LIMIT", qty=D(100), price=D("0.00141"))
    e.submit("bob", SYM, BUY, "LIMIT", qty=D(100), price=D("0.00140"))
    e.submit("carol", SYM, BUY, "LIMIT", qty=D(100), price=D("0.00142"))
    fills = e.tape_print(SYM, aggressor=SELL, price=D("0.00140"), qty=D(150), counterparty="tape",
                         exclude=frozenset({"carol"}))
    assert [(f.account, f.price, f.qty) for f in fills] == [("alice", D("0.00141"), D(100))]
    assert e.trades(SYM)[-1].price == D("0.0014") and e.trades(SYM)[-1].buyer_is_maker


def test_trades_and_trades_after_read_the_tape_from_its_newest_end() -> None:
    e = engine()
    e.ledger.deposit("tape", "ETH", D(1000))
    e.ledger.deposit("tape", "XRP", D(10**7))
    for i in range(5):
        e.tape_print(SYM, aggressor=SELL, price=D("0.00140") + i * D("0.00001"), qty=D(10), counterparty="tape")
    tape = list(e._state(SYM).trades)
    ids = [t.trade_id for t in tape]
    assert len(tape) == 5 and ids == sorted(ids)
    assert e.trades(SYM) == tape and e.trades(SYM, 2) == tape[-2:] and e.trades(SYM, 0) == []
    assert e.trades(SYM, 99) == tape
    assert e.trades_after(SYM, 0) == tape and e.trades_after(SYM, ids[2]) == tape[3:]
    assert e.trades_after(SYM, ids[-1]) == []


# ---------------------------------------------------------------------------------------- properties
PRICES = st.integers(min_value=90, max_value=110).map(lambda t: D(t) * D("0.00001"))
op = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from(ACCOUNTS), st.sampled_from([BUY, SELL]), st.integers(1, 3000), PRICES,
              st.sampled_from(["GTC", "GTC", "IOC", "FOK"])),
    st.tuples(st.just("maker"), st.sampled_from(ACCOUNTS), st.sampled_from([BUY, SELL]), st.integers(1, 3000), PRICES),
    st.tuples(st.just("market"), st.sampled_from(ACCOUNTS), st.sampled_from([BUY, SELL]), st.integers(1, 5000)),
    st.tuples(st.just("quote"), st.sampled_from(ACCOUNTS), st.just(BUY), st.integers(1, 400).map(lambda c: D(c) / 100)),
    st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 10)),
    st.tuples(st.just("print"), st.sampled_from([BUY, SELL]), PRICES, st.integers(1, 3000)),
)
FEES = st.builds(FeeSchedule, st.integers(0, 50).map(D), st.integers(0, 50).map(D))


def _reserved(e: MatchingEngine, account: str, asset: str) -> D:
    total = D(0)
    for o in e.open_orders(account, SYM):
        if o.side == BUY and asset == "ETH":
            total += o.price * o.remaining_qty + e.fee_reserve(o.order_id)
        if o.side == SELL and asset == "XRP":
            total += o.remaining_qty
    return total


def _check_invariants(e: MatchingEngine, deposits: dict[str, D]) -> None:
    ledger: Ledger = e.ledger
    for acc in ledger.accounts():
        for asset in ("ETH", "XRP"):
            assert ledger.free(acc, asset) >= 0 and ledger.locked(acc, asset) >= 0
            assert ledger.locked(acc, asset) == _reserved(e, acc, asset)  # reservation == open orders
    for asset, amount in deposits.items():
        assert ledger.total(asset) == amount  # conservation incl. fees collected
    bid, ask = e.book(SYM).best(BUY), e.book(SYM).best(SELL)
    assert bid is None or ask is None or bid < ask  # never rests crossed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=40), fees=FEES, maker_fees=FEES,
       fee_asset=st.sampled_from(["received", "quote"]))
def test_properties_hold_for_any_order_flow(ops: list[tuple], fees: FeeSchedule, maker_fees: FeeSchedule,
                                            fee_asset: str) -> None:
    """Both fee rules (Binance: the asset received; Coinbase Exchange: always quote, from a reserve locked with the
    buy) keep conservation, reservation == open orders (+ their fee reserves) and price-time priority."""
    e = MatchingEngine([INST], fees=fees, account_fees={"carol": maker_fees}, fee_asset=fee_asset)
    for acc in ACCOUNTS:
        e.ledger.deposit(acc, "ETH", D("3"))
        e.ledger.deposit(acc, "XRP", D("3000"))
    e.ledger.deposit("tape", "ETH", D(1000))
    e.ledger.deposit("tape", "XRP", D(10**6))
    deposits = {"ETH": D(1009), "XRP": D(10**6 + 9000)}
    for item in ops:
        kind = item[0]
        # price-time priority: the makers hit must be a prefix of the book's priority order
        side = item[2] if kind in ("limit", "market", "quote") else None
        before = [(o.order_id, o.remaining_lots, o.price_ticks) for o in
                  e.book(SYM).matchable(side, None)] if side else []
        try:
            if kind == "limit":
                _, acc, side, qty, price, tif = item
                r = e.submit(acc, SYM, side, "LIMIT", qty=D(qty), price=price, time_in_force=tif)
                for f in r.fills:  # never outside the limit
                    assert (f.price <= price) if side == BUY else (f.price >= price)
                if tif == "FOK":
                    assert r.order.status in ("FILLED", "EXPIRED") and r.order.executed_qty in (0, D(qty))
            elif kind == "maker":
                _, acc, side, qty, price = item
                r = e.submit(acc, SYM, side, "LIMIT_MAKER", qty=D(qty), price=price)
                assert not r.fills
            elif kind == "market":
                _, acc, side, qty = item
                r = e.submit(acc, SYM, side, "MARKET", qty=D(qty))
            elif kind == "quote":
                _, acc, side, cost = item
                r = e.submit(acc, SYM, side, "MARKET", quote_qty=cost)
                assert r.order.cumulative_quote_qty <= cost
            elif kind == "cancel":
                _, acc, idx = item
                open_ = e.open_orders(acc, SYM)
                if open_:
                    e.cancel(acc, SYM, order_id=open_[idx % len(open_)].order_id)
                r = None
            else:
                _, aggressor, price, qty = item
                for f in e.tape_print(SYM, aggressor=aggressor, price=price, qty=D(qty), counterparty="tape"):
                    assert (f.price > price) if aggressor == SELL else (f.price < price)
                r = None
        except (InsufficientBalance, VenueOrderRejected, FilterFailure):
            r = None
        if r is not None and r.fills:
            consumed = []
            for f in r.fills:
                maker = next(m for acc in (*ACCOUNTS, "tape") for m in e.fills(acc, SYM)
                             if m.trade_id == f.trade_id and m.is_maker)
                consumed.append((maker.order_id, maker.qty))
            for i, (oid, qty) in enumerate(consumed):
                assert before[i][0] == oid  # strict priority order
                if i < len(consumed) - 1:
                    assert INST.qty(before[i][1]) == qty  # every maker but the last is exhausted
        _check_invariants(e, deposits)


def test_quote_fee_rule_charges_both_sides_in_quote_from_a_reserve_released_on_close() -> None:
    """Coinbase Exchange's rule: a buy locks notional + fee at the larger rate; fills charge the quote asset."""
    e = MatchingEngine([INST], fees=FeeSchedule(D("10"), D("20")), fee_asset="quote")
    for acc in ACCOUNTS:
        e.ledger.deposit(acc, "ETH", D("10"))
        e.ledger.deposit(acc, "XRP", D("10000"))
    buy = e.submit("alice", SYM, BUY, "LIMIT", qty=D(1000), price=D("0.00140000"))
    assert e.ledger.locked("alice", "ETH") == D("1.4") + D("0.0028")  # 20 bps reserve on 1.4 ETH
    sell = e.submit("bob", SYM, SELL, "MARKET", qty=D(400))
    [taker] = sell.fills
    assert (taker.commission, taker.commission_asset) == (D("0.00112"), "ETH")  # 20 bps of 0.56 ETH
    [maker] = [f for f in e.fills("alice", SYM)]
    assert (maker.commission, maker.commission_asset) == (D("0.00056"), "ETH")  # 10 bps of 0.56 ETH
    assert e.ledger.free("alice", "XRP") == D(10400)  # the buyer receives the whole quantity
    assert e.fee_reserve(buy.order.order_id) == D("0.0028") - D("0.00056")
    e.cancel("alice", SYM, order_id=buy.order.order_id)
    assert e.ledger.locked("alice", "ETH") == 0 and e.fee_reserve(buy.order.order_id) == 0
    assert e.ledger.free("alice", "ETH") == D(10) - D("0.56") - D("0.00056")
    with pytest.raises(InsufficientBalance):  # 9.43 ETH fits in alice's 9.43944 free, with its 20 bps reserve not
        e.submit("alice", SYM, BUY, "LIMIT", qty=D(1000), price=D("0.00943000"))
    e.submit("alice", SYM, BUY, "LIMIT", qty=D(1000), price=D("0.00940000"))  # 9.40 + 0.0188 fits


def test_closed_orders_are_forgotten_per_account_not_by_another_accounts_churn() -> None:
    """``max_closed_orders`` counts each account's closed orders: a liquidity account quoting and canceling
    thousands of orders must not evict a user's order (the venue's order list is what the paper crash test
    compares with the journal)."""
    e = MatchingEngine([INST], fees=FeeSchedule(D("10"), D("20")), max_closed_orders=3)
    for acc in ACCOUNTS:
        e.ledger.deposit(acc, "ETH", D("10"))
        e.ledger.deposit(acc, "XRP", D("10000"))
    mine = e.submit("alice", SYM, BUY, "LIMIT", qty=D(10), price=D("0.00100000"), client_order_id="keep-me")
    e.cancel("alice", SYM, client_order_id="keep-me")
    for i in range(10):  # bob's churn: 10 closed orders, far over the limit of 3
        e.submit("bob", SYM, SELL, "LIMIT", qty=D(10), price=D("0.00200000"), client_order_id=f"q{i}")
        e.cancel("bob", SYM, client_order_id=f"q{i}")
    assert [o.client_order_id for o in e.orders("alice", SYM)] == ["keep-me"]
    assert e.get_order("alice", SYM, client_order_id="keep-me").order_id == mine.order.order_id
    assert [o.client_order_id for o in e.orders("bob", SYM)] == ["q7", "q8", "q9"]  # bob forgets his own oldest
    with pytest.raises(UnknownOrder):
        e.get_order("bob", SYM, client_order_id="q0")
