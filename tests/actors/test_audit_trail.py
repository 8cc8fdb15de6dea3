"""The trade ledger and an order's story from journal entries made by the order manager's own pure steps
(actors.order_manager), and from a schema-1 journal (intents without context). No Redis, no Ray."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actors import order_manager as om
from actors.audit_trail import UnknownOrderError, explain_order, fill_records, trade_ledger
from actors.exchange_core import client_order_id
from actors.journal import GENESIS_HASH, EntryKind, JournalEntry, chain_hash, decode_body, entry_body
from actors.messages import BarTick, Fill, IntentContext, OrderIntent, OrderUpdate
from actors.trading import target_intent_id
from risk.pretrade import RiskLimits, RiskView

KEY = "strategy:sma_cross:XRP/ETH@binance"
BAR = BarTick("1m", 1_700_000_000_000, 0.0005, 0.00052, 0.00049, 0.00051, 1234.0)


class _Writer:
    """Appends steps as the OMS does, as decoded journal entries with real bodies and hashes."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self.prev = GENESIS_HASH

    def add(self, kind: EntryKind, payload: Any, version: int = 2) -> None:
        seq = len(self.entries) + 1
        body = entry_body(seq, kind, 1_700_000_000_000 + seq, payload)
        if version == 1:  # what a schema-1 writer stored: no context field, v 1
            doc = json.loads(body)
            doc["v"] = 1
            doc["payload"].pop("context", None)
            body = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        _, kind, ts, decoded = decode_body(body)
        self.prev = chain_hash(self.prev, body)
        self.entries.append(JournalEntry(seq, kind, ts, decoded, "", self.prev, f"{ts}-0", version))

    def step(self, step: om.Step, version: int = 2) -> None:
        for kind, payload in step.entries:
            self.add(kind, payload, version)


def _update(cid: str, status: str, filled: float, amount: float = 10.0, order_id: str = "77") -> OrderUpdate:
    return OrderUpdate("binance", "XRP/ETH", cid, order_id, status, "buy", "market", amount, filled, amount - filled,
                       0.0005 if filled else None, None, 0.0, None, 1, "response")


def _fill(cid: str | None, tid: str, amount: float, price: float = 0.0005, order_id: str = "77") -> Fill:
    return Fill("binance", "XRP/ETH", tid, order_id, cid, "buy", price, amount, amount * 0.001, "XRP", False,
                1_700_000_060_000)


def _session(version: int = 2) -> tuple[_Writer, str]:
    w = _Writer()
    state = om.initial_oms_state("paper", RiskLimits(), 0)
    view = RiskView(positions={}, last_prices={("binance", "XRP/ETH"): 0.00051})
    ctx = IntentContext(KEY, 1.0, 0.00051, 0.0, 0.0, 0.02, "equity", 0.25, 1.0, BAR) if version == 2 else None
    intent = OrderIntent("binance", "XRP/ETH", "buy", "market", 10.0, target_intent_id(KEY, BAR.timestamp_ms),
                         context=ctx)
    state, step = om.submit(state, intent, view, 1)
    w.step(step, version)
    cid = client_order_id("paper", intent.intent_id)
    for item in (_update(cid, "open", 0.0), _fill(cid, "t1", 4.0), _fill(cid, "t1", 4.0), _fill(cid, "t2", 6.0)):
        if isinstance(item, Fill):
            state, step = om.on_fill(state, item, 2)
        else:
            state, step = om.on_update(state, item, 2)
        w.step(step, version)
    # a fill journaled twice (a restart that missed the idempotency set) and a fill of an order we never placed
    w.add(EntryKind.FILL, _fill(cid, "t2", 6.0), version)
    w.add(EntryKind.FILL, _fill("web-1", "t9", 1.0, order_id="99"), version)
    # a hand-made intent the risk check denies (price band): no fill, a DENIED story
    manual = OrderIntent("binance", "XRP/ETH", "sell", "limit", 5.0, "manual-1", price=0.01)
    state, step = om.submit(state, manual, view, 3)
    w.step(step, version)
    return w, cid


def test_the_ledger_joins_each_fill_to_its_intent_signal_and_risk_decision() -> None:
    w, cid = _session()
    rows = trade_ledger(w.entries)
    assert [(r.trade_id, r.client_order_id, r.strategy) for r in rows] == [
        ("t1", cid, KEY), ("t2", cid, KEY), ("t9", "web-1", "external")]
    intent_entry = next(e for e in w.entries if e.kind is EntryKind.INTENT)
    decision_entry = next(e for e in w.entries if e.kind is EntryKind.RISK_DECISION)
    first = rows[0]
    assert (first.intent_entry_id, first.risk_entry_id) == (intent_entry.stream_id, decision_entry.stream_id)
    assert (first.signal, first.bar_ts_ms, first.bar_close) == (1.0, BAR.timestamp_ms, BAR.close)
    assert first.risk_approved is True and first.risk_reason == "APPROVED"
    assert first.time == "2023-11-14T22:14:20Z" and first.notional == 4.0 * 0.0005
    assert rows[2].intent_id is None and rows[2].risk_reason is None and rows[2].signal is None
    assert [(f.strategy, f.amount, f.fee_currency) for f in fill_records(rows)] == [
        (KEY, 4.0, "XRP"), (KEY, 6.0, "XRP"), ("external", 1.0, "XRP")]


def test_a_schema_1_journal_still_gives_the_strategy_and_bar_from_the_intent_id() -> None:
    w, cid = _session(version=1)
    assert all(e.version == 1 for e in w.entries)
    intent = next(e for e in w.entries if e.kind is EntryKind.INTENT).payload
    assert intent.context is None
    rows = trade_ledger(w.entries)
    assert (rows[0].strategy, rows[0].bar_ts_ms, rows[0].signal, rows[0].bar_close) == (KEY, BAR.timestamp_ms, None,
                                                                                        None)
    story = explain_order(w.entries, cid)
    assert story.context is None and story.strategy == KEY and story.state == "FILLED"


def test_explain_tells_the_story_of_a_filled_order() -> None:
    w, cid = _session()
    story = explain_order(w.entries, cid)
    assert (story.venue, story.symbol, story.side, story.amount, story.state) == ("binance", "XRP/ETH", "buy", 10.0,
                                                                                  "FILLED")
    assert story.filled == 10.0 and story.avg_price == pytest.approx(0.0005)
    kinds = [e.kind for e in story.events]
    assert kinds == ["intent", "risk_decision", "state_change", "ack", "state_change", "fill", "state_change", "fill",
                     "state_change", "fill"]
    states = [e.summary.split(" on ")[0] for e in story.events if e.kind == "state_change"]
    assert states == ["INITIALIZED -> SUBMITTED", "SUBMITTED -> ACCEPTED", "ACCEPTED -> PARTIALLY_FILLED",
                      "PARTIALLY_FILLED -> FILLED"]
    assert "bar 2023-11-14T22:13:20Z O 0.0005 H 0.00052 L 0.00049 C 0.00051" in story.events[0].summary
    assert "signal (target) 1; sizing equity 0.25 at price 0.00051, equity 0.02" in story.events[0].summary
    assert story.events[1].summary.startswith("submit APPROVED: APPROVED")
    assert [e.seq for e in story.events] == sorted(e.seq for e in story.events)
    # the venue's order id and the intent id name the same order
    assert explain_order(w.entries, "77").client_order_id == cid
    assert explain_order(w.entries, target_intent_id(KEY, BAR.timestamp_ms)).client_order_id == cid


def test_explain_a_denied_order_and_an_external_fill() -> None:
    w, _ = _session()
    denied = explain_order(w.entries, "manual-1")
    assert denied.strategy == "manual" and denied.state == "DENIED" and denied.filled == 0.0
    assert [e.kind for e in denied.events] == ["intent", "risk_decision", "state_change"]
    assert "DENIED" in denied.events[1].summary
    external = explain_order(w.entries, "web-1")
    assert external.strategy == "external" and external.intent_id is None and [e.kind for e in external.events] == [
        "fill"]


def test_an_unknown_order_is_named() -> None:
    w, _ = _session()
    with pytest.raises(UnknownOrderError, match="'nope'.*entries"):
        explain_order(w.entries, "nope")


def test_a_childs_fills_are_attributed_to_the_strategy_whose_parent_it_carries_out() -> None:
    """A routed strategy's order is a parent (its decision journaled with it) split into children that carry only
    the parent's id: the ledger, the attribution records and an order's story name the runner, its signal and bar,
    not the router; a hand-made parent's child is manual."""
    from actors.algos import child_client_id
    from actors.messages import ParentIntent

    runner = "strategy:sma_cross:XRP/ETH@binance+coinbase"
    ctx = IntentContext(runner, 0.5, 0.00051, 0.0, 0.0, 0.02, "equity", 0.25, 1.0, BAR)
    w = _Writer()
    state = om.initial_oms_state("paper", RiskLimits(), 0)
    view = RiskView(positions={}, last_prices={("binance", "XRP/ETH"): 0.00051})
    w.add(EntryKind.PARENT, ParentIntent("P1", ("binance", "coinbase"), "XRP/ETH", "buy", 10.0, "route", step=1.0,
                                         arrival_price=0.00051, start_ms=1, context=ctx), 3)
    w.add(EntryKind.PARENT, ParentIntent("P2", ("binance",), "XRP/ETH", "buy", 3.0, "direct", step=1.0,
                                         arrival_price=0.00051, start_ms=1), 3)
    cids = {}
    for pid, i, amount, order_id in (("P1", 0, 6.0, "81"), ("P1", 1, 4.0, "82"), ("P2", 0, 3.0, "83")):
        intent = OrderIntent("binance", "XRP/ETH", "buy", "market", amount, child_client_id(pid, i), parent_id=pid)
        state, step = om.submit(state, intent, view, 1)
        w.step(step, 3)
        cid = cids[(pid, i)] = client_order_id("paper", intent.intent_id)
        state, step = om.on_fill(state, _fill(cid, f"t-{pid}-{i}", amount, order_id=order_id), 2)
        w.step(step, 3)
    rows = {r.client_order_id: r for r in trade_ledger(w.entries)}
    for i in (0, 1):
        r = rows[cids[("P1", i)]]
        assert (r.strategy, r.signal, r.bar_ts_ms, r.bar_close) == (runner, 0.5, BAR.timestamp_ms, BAR.close), r
    manual = rows[cids[("P2", 0)]]
    assert (manual.strategy, manual.signal, manual.bar_ts_ms) == ("manual", None, None)
    assert sorted(f.strategy for f in fill_records(list(rows.values()))) == ["manual", runner, runner]
    story = explain_order(w.entries, cids[("P1", 1)])
    assert story.strategy == runner and story.context["strategy"] == runner and story.bar_ts_ms == BAR.timestamp_ms
