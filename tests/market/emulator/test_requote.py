"""The synthetic liquidity's requote (:meth:`MarketReplay.quote` -> :meth:`MatchingEngine.requote`) against the
full replace it replaced: cancel every liquidity order, submit every level again as a ``LIMIT_MAKER``.

Two engines, one quoting each way, are driven by the same random reference-price path with random user orders,
cancels and tape prints in between; after every step the books (each price's queue: owner and lots, in time
priority), every fill, the tape, the users' orders and every balance must be the same (no I/O, no Ray)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal as D
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.bars import Bars
from market.emulator import DepthProfile, FeeSchedule, Instrument, MarketReplay, MatchingEngine, ReplayConfig
from market.emulator.book import BUY, SELL
from market.emulator.errors import EmulatorError, VenueOrderRejected

SYM = "ABC/USD"
INST = Instrument(SYM, tick_size=D("0.01"), step_size=D("1"), min_qty=D("1"), min_notional=D("0.01"),
                  max_price=D("100000"))
USERS = ("alice", "bob")
BARS = Bars(np.array([0]), np.array([100.0]), np.array([100.0]), np.array([100.0]), np.array([100.0]),
            np.array([1.0]), symbol=SYM)


class FullReplace(MarketReplay):
    """The reference: the quote as it was before ``requote`` (every level cancelled and submitted again)."""

    def quote(self, ref: D) -> None:
        inst, cfg, prof = self.instrument, self.config, self.config.depth
        engine = self.engine
        engine.cancel_all(cfg.maker_account, inst.symbol)
        tick = inst.tick_size
        half = ref * prof.spread_bps / D(20000)
        step = max(ref * prof.step_bps / D(10000), tick)
        best_bid = ((ref - half) / tick).to_integral_value(ROUND_FLOOR) * tick
        best_ask = ((ref + half) / tick).to_integral_value(ROUND_CEILING) * tick
        if best_ask <= best_bid:
            best_ask = best_bid + tick
        for i in range(prof.levels):
            size = (prof.level_qty * prof.growth ** i / inst.step_size).to_integral_value(ROUND_FLOOR) * inst.step_size
            size = max(size, inst.min_qty)
            offset = ((step * i) / tick).to_integral_value(ROUND_FLOOR) * tick
            for side, price in ((BUY, best_bid - offset), (SELL, best_ask + offset)):
                if price < inst.min_price:
                    continue
                try:
                    engine.submit(cfg.maker_account, inst.symbol, side, "LIMIT_MAKER", qty=size, price=price)
                except VenueOrderRejected:
                    continue


class Quoting:
    """One engine and its replay, quoting one way; ``now`` is the venue clock both sides share step by step."""

    def __init__(self, replay_class: type[MarketReplay], profile: DepthProfile, fee_asset: str, maker_bps: D) -> None:
        self.now = 0
        cfg = ReplayConfig(depth=profile)
        self.engine = MatchingEngine(
            [INST], fees=FeeSchedule(D(10), D(20)), fee_asset=fee_asset,  # type: ignore[arg-type]
            account_fees={cfg.maker_account: FeeSchedule(maker_bps, maker_bps), cfg.tape_account: FeeSchedule(D(0), D(0))},
            clock=lambda: self.now)
        self.replay = replay_class(self.engine, INST, BARS, config=cfg)
        for user in USERS:
            self.engine.ledger.deposit(user, "USD", D(10) ** 7)
            self.engine.ledger.deposit(user, "ABC", D(10) ** 6)
        self.seq = 0

    def act(self, action: tuple, ref: D) -> Any:
        """Apply one step; returns what a caller would see (the report, or the error's type and code)."""
        self.now += 1
        kind = action[0]
        e, maker = self.engine, self.replay.config
        try:
            if kind == "quote":
                self.replay.quote(ref)
                return None
            if kind == "print":
                _, side, offset, lots = action
                fills = e.tape_print(SYM, aggressor=side, price=ref + offset * INST.tick_size, qty=D(lots),
                                     counterparty=maker.tape_account, exclude=frozenset({maker.maker_account}))
                return [(f.trade_id, f.account, f.price, f.qty) for f in fills]
            if kind == "cancel":
                _, user, k = action
                mine = e.open_orders(user, SYM)
                if not mine:
                    return None
                return e.cancel(user, SYM, order_id=mine[k % len(mine)].order_id).client_order_id
            self.seq += 1
            if kind == "market":
                _, user, side, lots = action
                report = e.submit(user, SYM, side, "MARKET", qty=D(lots), client_order_id=f"{user}-{self.seq}")
            else:
                _, user, side, type_, tif, offset, lots = action
                price = (ref / INST.tick_size).to_integral_value(ROUND_FLOOR) * INST.tick_size + offset * INST.tick_size
                report = e.submit(user, SYM, side, type_, qty=D(lots), price=price, time_in_force=tif,
                                  client_order_id=f"{user}-{self.seq}")
            return (report.order.client_order_id, report.order.status, report.order.executed_qty,
                    [(f.trade_id, f.price, f.qty, f.commission) for f in report.fills])
        except EmulatorError as exc:
            return type(exc).__name__, exc.code

    def snapshot(self) -> dict[str, Any]:
        """Everything a user or the venue's books could tell apart (order ids aside: the liquidity spends fewer)."""
        e, cfg = self.engine, self.replay.config
        book = e.book(SYM)
        clients = {o.order_id: o.client_order_id for u in USERS for o in e.orders(u, SYM)}
        ledger = e.ledger
        return {
            "book": {side: [(t, [(o.account, o.remaining_lots) for o in book.queue(side, t)]) for t in book.prices(side)]
                     for side in (BUY, SELL)},
            "fills": [(f.trade_id, f.account, clients.get(f.order_id), f.side, f.price, f.qty, f.quote_qty,
                       f.commission, f.commission_asset, f.is_maker, f.time_ms)
                      for a in (*USERS, cfg.maker_account, cfg.tape_account) for f in e.fills(a, SYM)],
            "tape": [(t.trade_id, t.price, t.qty, t.time_ms, t.buyer_is_maker) for t in e.trades(SYM, 5000)],
            "orders": [(o.client_order_id, o.status, o.price, o.orig_qty, o.executed_qty, o.cumulative_quote_qty,
                        o.update_time_ms) for u in USERS for o in e.orders(u, SYM)],
            "balances": {(a, b.asset): (b.free, b.locked) for a in ledger.accounts() for b in ledger.balances(a)},
            "fees": dict(ledger.fees_collected),
        }


side_st = st.sampled_from([BUY, SELL])
user_st = st.sampled_from(USERS)
actions = st.lists(st.one_of(
    st.tuples(st.just("quote"), st.sampled_from([0, 0, 0, 1, -1, 3, -4, 7, -12, 25, -60])),  # ref moves, 0.001 units
    st.tuples(st.just("limit"), user_st, side_st, st.sampled_from(["LIMIT", "LIMIT", "LIMIT_MAKER"]),
              st.sampled_from(["GTC", "GTC", "IOC", "FOK"]), st.integers(-14, 14), st.integers(1, 25)),
    st.tuples(st.just("market"), user_st, side_st, st.integers(1, 60)),
    st.tuples(st.just("cancel"), user_st, st.integers(0, 5)),
    st.tuples(st.just("print"), side_st, st.integers(-10, 10), st.integers(1, 30)),
), min_size=1, max_size=40)
profiles = st.builds(
    DepthProfile, levels=st.integers(1, 4), spread_bps=st.sampled_from([D(0), D(3), D(10), D(25)]),
    step_bps=st.sampled_from([D(1), D("2.5"), D(5)]), level_qty=st.sampled_from([D(1), D(4), D(10)]),
    growth=st.sampled_from([D(1), D("1.5"), D(2)]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=actions, profile=profiles, fee_asset=st.sampled_from(["received", "quote"]),
       maker_bps=st.sampled_from([D(0), D(10)]))
def test_requote_leaves_the_book_fills_and_balances_of_a_full_replace(steps, profile, fee_asset, maker_bps) -> None:
    """After every step of a random price path with user orders, cancels and prints in between, the requoting
    venue and the full-replace venue hold the same queues (owner and lots per price, in priority order), fills,
    tape, user orders and balances, and every user call answered the same."""
    ref_milli = 100_000  # ref = 100.000, moved in 0.001 steps: off the 0.01 tick grid too
    new, old = Quoting(MarketReplay, profile, fee_asset, maker_bps), Quoting(FullReplace, profile, fee_asset, maker_bps)
    for venue in (new, old):
        venue.act(("quote", 0), D(ref_milli) / 1000)
    assert new.snapshot() == old.snapshot()
    for action in steps:
        if action[0] == "quote":
            ref_milli += action[1]
        ref = D(ref_milli) / 1000
        assert new.act(action, ref) == old.act(action, ref), action
        assert new.snapshot() == old.snapshot(), action
    maker = new.replay.config.maker_account  # replaced quotes are not remembered: only resting and filled ones
    resting = {o.order_id for o in new.engine.book(SYM).orders() if o.account == maker}
    remembered = new.engine.orders(maker, SYM)
    assert {o.order_id for o in remembered if o.is_open} == resting
    assert all(o.status == "FILLED" for o in remembered if not o.is_open)


def test_an_unmoved_level_keeps_its_order_unless_a_user_queued_behind_it() -> None:
    """A quote at the same reference keeps every liquidity order (same ids); a level a user joined meanwhile is
    re-placed behind the user, where a new order queues, and the user's order fills first."""
    venue = Quoting(MarketReplay, DepthProfile(levels=2, spread_bps=D(10), step_bps=D(5), level_qty=D(5), growth=D(2)),
                  "received", D(0))
    e, maker = venue.engine, venue.replay.config.maker_account
    venue.act(("quote", 0), D(100))
    before = {(o.side, o.price_ticks): o.order_id for o in e.book(SYM).orders()}
    assert len(before) == 4
    venue.act(("quote", 0), D(100))
    assert {(o.side, o.price_ticks): o.order_id for o in e.book(SYM).orders()} == before
    best_bid = e.book(SYM).best(BUY)
    e.submit("alice", SYM, BUY, "LIMIT", qty=D(3), price=INST.price(best_bid), client_order_id="join")
    venue.act(("quote", 0), D(100))
    assert [(o.account, o.remaining_lots) for o in e.book(SYM).queue(BUY, best_bid)] == [("alice", 3), (maker, 5)]
    after = {(o.side, o.price_ticks): o.order_id for o in e.book(SYM).orders() if o.account == maker}
    assert after[(BUY, best_bid)] != before[(BUY, best_bid)]
    assert {k: v for k, v in after.items() if k != (BUY, best_bid)} == {k: v for k, v in before.items()
                                                                         if k != (BUY, best_bid)}
    report = e.submit("bob", SYM, SELL, "MARKET", qty=D(3))
    assert [(f.price, f.qty) for f in report.fills] == [(INST.price(best_bid), D(3))]
    assert e.get_order("alice", SYM, client_order_id="join").status == "FILLED"
