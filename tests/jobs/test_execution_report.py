"""jobs/execution_report.py without Ray or Redis: a journal written by the order manager's real pure steps
(submit, venue updates, fills; a risk denial; a hand-made order) becomes the report's numbers, worked out here
by hand. The same report on a real paper session's journal is checked in tests/cluster/test_audit_trail.py."""

from __future__ import annotations

from typing import Any

import pytest

from actors import order_manager as om
from actors.journal import JournalEntry
from actors.messages import Fill, IntentContext, OrderIntent, OrderUpdate
from jobs.execution_report import execution_report
from risk.pretrade import RiskLimits, RiskView

T0 = 1_733_040_000_000
VIEW = RiskView(positions={}, last_prices={("binance", "XRP/ETH"): 0.0005, ("kraken", "XRP/ETH"): 0.0005})


def _ctx(strategy: str) -> IntentContext:
    return IntentContext(strategy, 1.0, 0.0005, 0.0, 0.0, 10.0, "equity", 0.25, 1.0, None)


def _update(cid: str, venue: str, status: str, side: str) -> OrderUpdate:
    return OrderUpdate(venue, "XRP/ETH", cid, "o-" + cid[-6:], status, side, "market", 100.0, 0.0, 100.0, None,
                       None, 0.0, None, T0)


def _fill(cid: str, trade: str, price: float, qty: float, fee: float, fee_asset: str) -> Fill:
    return Fill("binance", "XRP/ETH", trade, "o-" + cid[-6:], cid, "buy", price, qty, fee, fee_asset, False, T0)


def _journal() -> list[JournalEntry]:
    state = om.initial_oms_state("t", RiskLimits(), T0)
    entries: list[JournalEntry] = []

    def at(ts: int, result: tuple[Any, om.Step]) -> None:
        nonlocal state
        state, step = result
        for kind, payload in step.entries:
            entries.append(JournalEntry(len(entries) + 1, kind, ts, payload, "", "", f"{ts}-{len(entries)}"))

    # 1: binance buy 100 at arrival 0.0005 (strategy a): acked after 10 ms, filled 60 + 40 at 20 and 30 ms;
    #    the second fill seen twice (counts once)
    at(T0, om.submit(state, OrderIntent("binance", "XRP/ETH", "buy", "market", 100.0, "i1", context=_ctx("a")),
                     VIEW, T0))
    c1 = om.client_order_id("t", "i1")
    at(T0 + 10, om.on_update(state, _update(c1, "binance", "open", "buy"), T0 + 10))
    at(T0 + 20, om.on_fill(state, _fill(c1, "f1", 0.000501, 60.0, 0.06, "XRP"), T0 + 20))  # fee in base
    at(T0 + 30, om.on_fill(state, _fill(c1, "f2", 0.000502, 40.0, 2e-8, "ETH"), T0 + 30))  # fee in quote
    at(T0 + 40, om.on_fill(state, _fill(c1, "f2", 0.000502, 40.0, 2e-8, "ETH"), T0 + 40))
    # 2: kraken sell 100 (strategy b), rejected by the venue after 5 ms
    at(T0 + 100, om.submit(state, OrderIntent("kraken", "XRP/ETH", "sell", "market", 100.0, "i2",
                                              context=_ctx("b")), VIEW, T0 + 100))
    at(T0 + 105, om.on_update(state, _update(om.client_order_id("t", "i2"), "kraken", "rejected", "sell"), T0 + 105))
    # 3: notional 5e6 x 0.0005 = 2,500 > the 1,000 per-order limit: denied, never sent
    at(T0 + 200, om.submit(state, OrderIntent("binance", "XRP/ETH", "buy", "market", 5e6, "i3", context=_ctx("a")),
                           VIEW, T0 + 200))
    # 4: a hand-made market order: sent, but no arrival price to measure it against
    at(T0 + 300, om.submit(state, OrderIntent("binance", "XRP/ETH", "buy", "market", 10.0, "i4"), VIEW, T0 + 300))
    # 5: kraken sell 100 (strategy b): acked after 5 ms, then canceled with nothing filled
    at(T0 + 400, om.submit(state, OrderIntent("kraken", "XRP/ETH", "sell", "limit", 100.0, "i5", 0.0005,
                                              context=_ctx("b")), VIEW, T0 + 400))
    c5 = om.client_order_id("t", "i5")
    at(T0 + 405, om.on_update(state, _update(c5, "kraken", "open", "sell"), T0 + 405))
    at(T0 + 450, om.on_update(state, _update(c5, "kraken", "canceled", "sell"), T0 + 450))
    return entries


def test_the_report_numbers_from_an_order_managers_journal() -> None:
    report = execution_report(_journal())
    # the kraken order the venue rejected never stood on a book: counted apart, not as an unfilled order
    assert (report.orders, report.denied, report.rejected, report.no_arrival, report.fees_unvalued) == (2, 1, 1, 1, 0)
    venues = {r["venue"]: r for r in report.by_venue}
    b, k = venues["binance"], venues["kraken"]
    # binance: paid 60 x 0.000501 + 40 x 0.000502 = 0.05014 ETH for 100 XRP that cost 0.05 at arrival; fees
    # 0.06 XRP at 0.000501 + 2e-8 ETH; shortfall (0.00014 + fees) / 0.05 in bps
    fees = 0.06 * 0.000501 + 2e-8
    assert b["orders"] == 1 and b["filled"] == pytest.approx(100.0) and b["fill_ratio"] == pytest.approx(1.0)
    assert b["fees"] == pytest.approx(fees)
    assert b["shortfall_bps"] == pytest.approx((0.05014 - 0.05 + fees) / 0.05 * 1e4)
    assert (b["median_ack_ms"], b["median_first_fill_ms"], b["median_last_fill_ms"]) == (10, 20, 30)
    # kraken: the canceled order - nothing filled, no shortfall, acked after 5 ms
    assert k["orders"] == 1 and k["fill_ratio"] == 0.0 and k["shortfall_bps"] is None
    assert (k["median_ack_ms"], k["median_first_fill_ms"]) == (5, None)
    assert [(r["strategy"], r["orders"]) for r in report.by_strategy] == [("a", 1), ("b", 1)]
    assert report.total["orders"] == 2 and report.total["fill_ratio"] == pytest.approx(0.5)
    assert report.total["shortfall_bps"] == pytest.approx(b["shortfall_bps"])  # the only filled order


def test_an_empty_journal_reports_nothing() -> None:
    report = execution_report([])
    assert (report.orders, report.by_venue, report.total) == (0, [], {})


def test_children_of_a_parent_are_measured_against_the_parents_arrival_and_grouped_by_algo_and_parent() -> None:
    from actors.algos import child_client_id
    from actors.journal import EntryKind
    from actors.messages import ParentIntent

    entries = _journal()
    state = om.rebuild(om.initial_oms_state("t", RiskLimits(), T0), entries)

    def at(ts: int, kind_payload: Any = None, result: tuple[Any, om.Step] | None = None) -> None:
        nonlocal state
        items = [kind_payload] if kind_payload else []
        if result is not None:
            state, step = result
            items += list(step.entries)
        for kind, payload in items:
            entries.append(JournalEntry(len(entries) + 1, kind, ts, payload, "", "", f"{ts}-{len(entries)}"))

    def child(parent_id: str, i: int, venue: str, qty: float, price: float, ack: int, ts: int) -> None:
        intent = OrderIntent(venue, "XRP/ETH", "buy", "market", qty, child_client_id(parent_id, i), parent_id=parent_id)
        at(ts, result=om.submit(state, intent, VIEW, ts))
        cid = om.client_order_id("t", intent.intent_id)
        at(ts + ack, result=om.on_update(state, _update(cid, venue, "open", "buy"), ts + ack))
        fill = Fill(venue, "XRP/ETH", f"{parent_id}-{i}", "o-" + cid[-6:], cid, "buy", price, qty, 0.0, "ETH", False, T0)
        at(ts + 19 + i, result=om.on_fill(state, fill, ts + 19 + i))

    # a route parent a strategy's runner sent (its decision journaled with it): buy 100 XRP over binance (60) and
    # kraken (40), arrival 0.0005 (the mid when accepted); the children carry only the parent's id
    runner = "strategy:sma_cross:XRP/ETH@binance+kraken"
    parent = ParentIntent("P1", ("binance", "kraken"), "XRP/ETH", "buy", 100.0, "route", step=1.0,
                          arrival_price=0.0005, start_ms=T0 + 1000, context=_ctx(runner))
    at(T0 + 1000, (EntryKind.PARENT, parent))
    for i, (venue, qty, price, ack) in enumerate((("binance", 60.0, 0.000502, 4), ("kraken", 40.0, 0.000503, 6))):
        child("P1", i, venue, qty, price, ack, T0 + 1001)
    # a hand-made parent (the API, `raytrader order`): no decision behind it, its child is manual
    at(T0 + 2000, (EntryKind.PARENT, ParentIntent("P2", ("binance",), "XRP/ETH", "buy", 5.0, "direct", step=1.0,
                                                  arrival_price=0.0005, start_ms=T0 + 2000)))
    child("P2", 0, "binance", 5.0, 0.0005, 3, T0 + 2001)
    report = execution_report(entries)
    assert report.no_arrival == 1  # only the hand-made market order of _journal: the children have the parent's
    algos = {r["algo"]: r for r in report.by_algo}
    assert set(algos) == {"none", "route", "direct"} and algos["route"]["orders"] == 2
    # the children count for the strategy whose decision their parent carries out, not for the router
    strategies = {r["strategy"]: r["orders"] for r in report.by_strategy}
    assert strategies == {"a": 1, "b": 1, runner: 2, "manual": 1}, strategies
    assert {(o["order_id"], o["strategy"]) for o in report.orders_detail if o["algo"] != "none"} == {
        (om.client_order_id("t", child_client_id("P1", 0)), runner),
        (om.client_order_id("t", child_client_id("P1", 1)), runner),
        (om.client_order_id("t", child_client_id("P2", 0)), "manual")}
    row = next(r for r in report.by_parent if r["parent_id"] == "P1")
    paid = 60 * 0.000502 + 40 * 0.000503
    assert (row["parent_id"], row["algo"], row["children"], row["filled"]) == ("P1", "route", 2, 100.0)
    assert row["shortfall_bps"] == pytest.approx((paid - 100 * 0.0005) / (100 * 0.0005) * 1e4)
    assert (row["ack_ms"], row["first_fill_ms"], row["last_fill_ms"]) == (5, 20, 21)  # from the parent's entry


def test_rows_per_order_type_each_orders_arrival_price_and_the_html_page() -> None:
    from backtest.report import CHART_CLASS, execution_report_html

    report = execution_report(_journal())
    # order 1 a binance market order, order 5 a kraken limit order (the others never stood on a book)
    assert [(r["order_type"], r["orders"], r["fill_ratio"]) for r in report.by_order_type] == [
        ("limit", 1, 0.0), ("market", 1, pytest.approx(1.0))]
    assert [(o["venue"], o["arrival_price"]) for o in report.orders_detail] == [("binance", 0.0005),
                                                                               ("kraken", 0.0005)]
    page = execution_report_html({"stream": "s", "chain_ok": True, **report.to_json()})
    # one filled order: its shortfall by venue and the fills over time are drawn; every table row is there
    assert page.count(f'class="{CHART_CLASS}"') == 2
    for row in ("venue binance", "venue kraken", "order type limit", "order type market", "algorithm none",
                "strategy a", "total"):
        assert f"<td>{row}</td>" in page, row
    assert "1 denied by risk (never sent)" in page and "chain verified" in page
    empty = execution_report_html({"stream": "s", "chain_ok": True, **execution_report([]).to_json()})
    assert f'class="{CHART_CLASS}"' not in empty and "nothing to measure" in empty
