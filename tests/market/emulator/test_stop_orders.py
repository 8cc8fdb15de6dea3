"""Stop-limit, take-profit-limit and OCO orders in the matching engine (no I/O).

The trigger rule is market.triggers' (tests/market/test_triggers.py); here: orders wait off the book with
their funds locked, trades trigger them, they then match as limit orders, and an OCO's first activation
expires its sibling in the same step.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from market.emulator.book import BUY, SELL, Instrument
from market.emulator.errors import BadParameter, CancelRejected, InsufficientBalance, VenueOrderRejected
from market.emulator.matching import FeeSchedule, MatchingEngine, OcoLeg

SYM = "XRP/ETH"
INST = Instrument(SYM, tick_size=D("0.00000001"), step_size=D("1"), min_qty=D("1"), min_notional=D("0.0001"))
TAPE = "__tape__"
ZERO_FEES = FeeSchedule(D(0), D(0))


def engine(fees: FeeSchedule = ZERO_FEES, fee_asset: str = "received") -> MatchingEngine:
    e = MatchingEngine([INST], fees=fees, fee_asset=fee_asset)  # type: ignore[arg-type]
    for acc in ("alice", "bob"):
        e.ledger.deposit(acc, "ETH", D("10"))
        e.ledger.deposit(acc, "XRP", D("10000"))
    e.ledger.deposit(TAPE, "ETH", D("1000000"))
    e.ledger.deposit(TAPE, "XRP", D("1000000000"))
    return e


def trade(e: MatchingEngine, price: str, aggressor: str = SELL, qty: int = 1) -> None:
    """A public print at ``price`` (fills no user order unless it trades through one)."""
    e.tape_print(SYM, aggressor=aggressor, price=D(price), qty=D(qty), counterparty=TAPE)  # type: ignore[arg-type]


def test_stop_loss_sell_waits_off_the_book_with_its_funds_locked_then_triggers_and_fills() -> None:
    e = engine()
    trade(e, "0.00150000")
    e.submit("bob", SYM, BUY, "LIMIT", qty=D(500), price=D("0.00139000"))  # the bid the stop will sell into
    report = e.submit("alice", SYM, SELL, "STOP_LOSS_LIMIT", qty=D(100), price=D("0.00138000"),
                      stop_price=D("0.00140000"), client_order_id="sl-1")
    order = report.order
    assert order.status == "NEW" and not order.is_working and report.fills == ()
    assert order.stop_price == D("0.0014") and order.working_time_ms is None
    assert e.ledger.locked("alice", "XRP") == D(100)
    assert [o.order_id for o in e.open_orders("alice", SYM)] == [order.order_id]
    asks = e.depth(SYM)[1]
    assert asks == []  # not on the book while it waits
    trade(e, "0.00140001")  # one tick above the stop: nothing
    assert not e.get_order("alice", SYM, order_id=order.order_id).is_working
    trade(e, "0.00140000")  # touching triggers (last price <= stopPrice)
    done = e.get_order("alice", SYM, order_id=order.order_id)
    assert done.is_working and done.status == "FILLED" and done.type == "STOP_LOSS_LIMIT"
    fills = e.fills("alice", SYM)
    assert [(f.price, f.qty, f.is_maker) for f in fills] == [(D("0.00139"), D(100), False)]  # took bob's bid
    assert e.ledger.locked("alice", "XRP") == 0
    assert e.ledger.free("alice", "ETH") == D(10) + D("0.139")


def test_take_profit_buy_triggers_when_the_price_falls_to_it_and_rests_if_not_marketable() -> None:
    e = engine()
    trade(e, "0.00150000")
    tp = e.submit("alice", SYM, BUY, "TAKE_PROFIT_LIMIT", qty=D(100), price=D("0.00130000"),
                  stop_price=D("0.00140000")).order
    assert e.ledger.locked("alice", "ETH") == D("0.13")
    trade(e, "0.00145000")
    assert not e.get_order("alice", SYM, order_id=tp.order_id).is_working
    trade(e, "0.00139000")
    working = e.get_order("alice", SYM, order_id=tp.order_id)
    assert working.is_working and working.status == "NEW"  # nothing at 0.0013 or better to take: it rests
    assert e.depth(SYM)[0] == [(D("0.0013"), D(100))]
    canceled = e.cancel("alice", SYM, order_id=tp.order_id)  # cancelable after the trigger
    assert canceled.status == "CANCELED" and e.ledger.locked("alice", "ETH") == 0 and e.depth(SYM)[0] == []


def test_untriggered_stop_cancels_and_unlocks() -> None:
    e = engine()
    trade(e, "0.00150000")
    stop = e.submit("alice", SYM, BUY, "STOP_LOSS_LIMIT", qty=D(100), price=D("0.00161000"),
                    stop_price=D("0.00160000"), time_in_force="GTC").order
    assert e.ledger.locked("alice", "ETH") == D("0.161")
    assert e.cancel("alice", SYM, order_id=stop.order_id).status == "CANCELED"
    assert e.ledger.locked("alice", "ETH") == 0 and e.open_orders("alice", SYM) == []
    trade(e, "0.00170000")  # a canceled stop never triggers
    assert e.get_order("alice", SYM, order_id=stop.order_id).status == "CANCELED"
    with pytest.raises(CancelRejected):
        e.cancel("alice", SYM, order_id=stop.order_id)


def test_stop_that_would_trigger_immediately_is_refused_and_nothing_changes() -> None:
    e = engine()
    trade(e, "0.00150000")
    for side, otype, stop in ((SELL, "STOP_LOSS_LIMIT", "0.00150000"), (BUY, "STOP_LOSS_LIMIT", "0.00149000"),
                              (SELL, "TAKE_PROFIT_LIMIT", "0.00140000"), (BUY, "TAKE_PROFIT_LIMIT", "0.00160000")):
        with pytest.raises(VenueOrderRejected, match="Stop price would trigger immediately") as info:
            e.submit("alice", SYM, side, otype, qty=D(10), price=D(stop), stop_price=D(stop))  # type: ignore[arg-type]
        assert info.value.code == -2010
    assert e.ledger.locked("alice", "ETH") == 0 and e.ledger.locked("alice", "XRP") == 0
    assert e.open_orders("alice", SYM) == []


def test_stop_parameters_are_checked() -> None:
    e = engine()
    with pytest.raises(BadParameter, match="stopPrice") as missing:
        e.submit("alice", SYM, SELL, "STOP_LOSS_LIMIT", qty=D(10), price=D("0.0014"))
    assert missing.value.code == -1102
    with pytest.raises(BadParameter, match="stopPrice") as extra:
        e.submit("alice", SYM, SELL, "LIMIT", qty=D(10), price=D("0.0014"), stop_price=D("0.0013"))
    assert extra.value.code == -1106
    with pytest.raises(InsufficientBalance):
        e.submit("alice", SYM, SELL, "STOP_LOSS_LIMIT", qty=D(20000), price=D("0.0014"), stop_price=D("0.0014"))


def test_a_triggered_stops_own_trades_trigger_the_next_stop() -> None:
    e = engine()
    trade(e, "0.00150000")
    e.submit("bob", SYM, BUY, "LIMIT", qty=D(100), price=D("0.00139000"))
    e.submit("bob", SYM, BUY, "LIMIT", qty=D(100), price=D("0.00120000"))
    first = e.submit("alice", SYM, SELL, "STOP_LOSS_LIMIT", qty=D(100), price=D("0.00130000"),
                     stop_price=D("0.00140000")).order
    second = e.submit("alice", SYM, SELL, "STOP_LOSS_LIMIT", qty=D(100), price=D("0.00110000"),
                      stop_price=D("0.00139000")).order
    trade(e, "0.00140000")  # triggers the first; its fill at 0.00139 is a trade that triggers the second
    assert e.get_order("alice", SYM, order_id=first.order_id).status == "FILLED"
    assert e.get_order("alice", SYM, order_id=second.order_id).status == "FILLED"
    assert [f.price for f in e.fills("alice", SYM)] == [D("0.00139"), D("0.0012")]


def test_oco_sell_limit_leg_fill_expires_the_stop_leg_and_releases_the_shared_lock() -> None:
    e = engine()
    trade(e, "0.00150000")
    lst, (limit, stop) = e.submit_oco(
        "alice", SYM, SELL, D(100),
        [OcoLeg("LIMIT_MAKER", D("0.00160000"), client_order_id="tp"),
         OcoLeg("STOP_LOSS_LIMIT", D("0.00139000"), D("0.00140000"), "GTC", "sl")], list_client_id="oco-1")
    assert (limit.order_list_id, stop.order_list_id) == (lst.order_list_id, lst.order_list_id)
    assert e.ledger.locked("alice", "XRP") == D(100)  # once, not per leg
    assert e.depth(SYM)[1] == [(D("0.0016"), D(100))] and not stop.is_working
    trade(e, "0.00170000", aggressor=BUY, qty=40)  # trades through the limit leg: a partial fill
    limit_now = e.get_order("alice", SYM, order_id=limit.order_id)
    stop_now = e.get_order("alice", SYM, order_id=stop.order_id)
    assert (limit_now.status, limit_now.executed_qty) == ("PARTIALLY_FILLED", D(40))
    assert stop_now.status == "EXPIRED"
    assert e.ledger.locked("alice", "XRP") == D(60)  # what the limit leg still offers
    trade(e, "0.00130000")  # would have triggered the stop: it is gone
    assert e.get_order("alice", SYM, order_id=stop.order_id).status == "EXPIRED"
    assert e.get_order("alice", SYM, order_id=limit.order_id).executed_qty == D(40)


def test_oco_buy_stop_trigger_expires_the_limit_leg_and_keeps_only_the_stops_lock() -> None:
    e = engine()
    trade(e, "0.00150000")
    e.submit("bob", SYM, SELL, "LIMIT", qty=D(100), price=D("0.00161000"))
    _, (limit, stop) = e.submit_oco(
        "alice", SYM, BUY, D(100),
        [OcoLeg("LIMIT_MAKER", D("0.00140000")), OcoLeg("STOP_LOSS_LIMIT", D("0.00162000"), D("0.00160000"))])
    assert e.ledger.locked("alice", "ETH") == D("0.162")  # the larger leg's need, not 0.14 + 0.162
    trade(e, "0.00160000", aggressor=BUY)
    assert e.get_order("alice", SYM, order_id=limit.order_id).status == "EXPIRED"
    assert e.depth(SYM)[0] == []  # the limit leg left the book in the same step
    filled = e.get_order("alice", SYM, order_id=stop.order_id)
    assert filled.status == "FILLED" and filled.cumulative_quote_qty == D("0.161")
    assert e.ledger.locked("alice", "ETH") == 0  # price improvement 0.162 -> 0.161 unlocked too
    assert e.ledger.free("alice", "ETH") == D(10) - D("0.161")


def test_oco_cancel_of_either_leg_cancels_the_list_and_unlocks_everything() -> None:
    e = engine()
    trade(e, "0.00150000")
    lst, (limit, stop) = e.submit_oco(
        "alice", SYM, BUY, D(100),
        [OcoLeg("LIMIT_MAKER", D("0.00140000")), OcoLeg("STOP_LOSS_LIMIT", D("0.00162000"), D("0.00160000"))])
    e.cancel("alice", SYM, order_id=stop.order_id)
    assert [o.status for o in e.list_orders(lst)] == ["CANCELED", "CANCELED"]
    assert e.ledger.locked("alice", "ETH") == 0 and e.open_orders("alice", SYM) == [] and e.depth(SYM)[0] == []
    lst2, _ = e.submit_oco(
        "alice", SYM, SELL, D(10),
        [OcoLeg("TAKE_PROFIT_LIMIT", D("0.00160000"), D("0.00160000")),
         OcoLeg("STOP_LOSS_LIMIT", D("0.00139000"), D("0.00140000"))])
    _, orders = e.cancel_list("alice", SYM, order_list_id=lst2.order_list_id)
    assert [o.status for o in orders] == ["CANCELED", "CANCELED"] and e.ledger.locked("alice", "XRP") == 0
    with pytest.raises(CancelRejected):
        e.cancel_list("alice", SYM, order_list_id=lst2.order_list_id)


@pytest.mark.parametrize(
    ("side", "legs"),
    [
        (SELL, [OcoLeg("LIMIT_MAKER", D("0.00145000")), OcoLeg("STOP_LOSS_LIMIT", D("0.0014"), D("0.0014"))]),
        (BUY, [OcoLeg("LIMIT_MAKER", D("0.00155000")), OcoLeg("STOP_LOSS_LIMIT", D("0.0016"), D("0.0016"))]),
        (SELL, [OcoLeg("LIMIT_MAKER", D("0.0016")), OcoLeg("STOP_LOSS_LIMIT", D("0.0016"), D("0.00155"))]),
    ],
)
def test_oco_price_relationship_is_checked_against_the_last_trade(side: str, legs: list[OcoLeg]) -> None:
    e = engine()
    trade(e, "0.00150000")
    with pytest.raises(VenueOrderRejected, match="relationship of the prices") as info:
        e.submit_oco("alice", SYM, side, D(10), legs)  # type: ignore[arg-type]
    assert info.value.code == -2010
    assert e.open_orders("alice", SYM) == [] and e.ledger.locked("alice", "XRP") == 0


def test_oco_is_refused_on_a_quote_fee_venue_and_needs_one_stop_loss() -> None:
    legs = [OcoLeg("LIMIT_MAKER", D("0.0016")), OcoLeg("STOP_LOSS_LIMIT", D("0.0014"), D("0.0014"))]
    with pytest.raises(BadParameter, match="not supported"):
        engine(fee_asset="quote").submit_oco("alice", SYM, SELL, D(10), legs)
    with pytest.raises(BadParameter, match="STOP_LOSS_LIMIT"):
        engine().submit_oco("alice", SYM, SELL, D(10), [OcoLeg("LIMIT_MAKER", D("0.0016")),
                                                         OcoLeg("LIMIT_MAKER", D("0.0017"))])
