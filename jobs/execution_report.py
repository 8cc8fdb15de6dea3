"""Execution quality of a trading journal, per venue, strategy, algorithm and parent (issue 15's execution report).

:func:`execution_records` reads the journal the OMS writes into one
:class:`actors.execution_quality.OrderRecord` per order that was sent to a
venue and stood on its book (orders the risk check denied never left, and
orders the venue refused or that were proved never to have arrived never
stood: both are counted apart);
:func:`execution_report` computes each order's numbers with
:func:`actors.execution_quality.order_quality` and summarises them by venue,
by order type, by strategy, by algorithm and in total, and each parent order (route, TWAP,
iceberg, direct: :mod:`actors.router`) as one record of all its children's
fills against the parent's arrival price. Pure over journal entries.

What the journal gives each number:

* **arrival price**: the bar close the strategy decided on and the order was
  sized at (``intent.context.price``); for a child of a parent order the
  parent's (the mid of the best touch across its venues when the router
  accepted it); for a hand-made limit order its limit price. A hand-made
  market order has no arrival price: it is counted in ``no_arrival`` and left
  out of the numbers.
* **algorithm**: a child's parent's ``algo``; ``none`` for every other order.
* **strategy**: :func:`actors.audit_trail.strategy_of`, as the trade ledger
  attributes it: a strategy's order to its runner's key, and a child of a
  parent order to the strategy whose decision the parent carries out
  (:attr:`~actors.messages.ParentIntent.context`, journaled with the parent);
  ``manual`` for hand-made orders and the children of a hand-made parent,
  ``flatten`` for the kill switch's.
* **times** (ack, first and last fill) run on the journal's clock from the
  intent's entry: the ack is the first state change that shows the venue
  took the order (SUBMITTED/UNKNOWN -> ACCEPTED, PARTIALLY_FILLED or FILLED),
  a fill the moment its FILL entry was written (when we learnt of it; the
  venue's own trade time is another clock: an emulator's replay time).
* **fees** in the quote currency: a fee charged in the base asset is valued
  at its fill's price; one in a third asset is left out and counted in
  ``fees_unvalued``.
* **shortfall** (bps of the arrival notional, fees included, positive =
  worse than arrival) and **fill ratio** as the core defines them.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

from actors.audit_trail import intent_client_ids, strategy_of
from actors.execution_quality import FillRecord, OrderQuality, OrderRecord, order_quality, summarise
from actors.journal import EntryKind, JournalEntry
from actors.messages import Fill, OrderIntent, ParentIntent

__all__ = ["ExecutionReport", "execution_records", "execution_report", "fee_in_quote"]

#: states that show the venue took the order
_ACKED = ("ACCEPTED", "PARTIALLY_FILLED", "FILLED")


@dataclass(frozen=True)
class _Order:
    strategy: str
    record: OrderRecord
    parent_id: str | None = None


@dataclass
class ExecutionReport:
    """Rows per venue, per strategy and in total (see :func:`execution_report`), and what was left out."""

    orders: int
    by_venue: list[dict[str, Any]] = field(default_factory=list)
    by_order_type: list[dict[str, Any]] = field(default_factory=list)
    by_strategy: list[dict[str, Any]] = field(default_factory=list)
    by_algo: list[dict[str, Any]] = field(default_factory=list)
    by_parent: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    denied: int = 0
    no_arrival: int = 0
    fees_unvalued: int = 0
    rejected: int = 0
    orders_detail: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"orders": self.orders, "by_venue": self.by_venue, "by_order_type": self.by_order_type,
                "by_strategy": self.by_strategy,
                "by_algo": self.by_algo, "by_parent": self.by_parent, "total": self.total, "denied": self.denied, "no_arrival": self.no_arrival,
                "rejected": self.rejected, "fees_unvalued": self.fees_unvalued, "orders_detail": self.orders_detail}


def fee_in_quote(fill: Fill) -> float | None:
    """The fill's fee in its symbol's quote currency (a base-asset fee at the fill's price); None for a fee in a
    third asset."""
    base, _, quote = fill.symbol.partition("/")
    if not fill.fee_cost:
        return 0.0
    if fill.fee_currency in (None, quote):
        return fill.fee_cost
    if fill.fee_currency == base:
        return fill.fee_cost * fill.price
    return None


def execution_records(entries: Iterable[JournalEntry],
                      parents: dict[str, JournalEntry] | None = None) -> tuple[list[_Order], dict[str, int]]:
    """The journal's orders that stood on a venue's book as records, with their strategy; and counts of what
    was left out (``denied``, ``rejected``: sent but refused by the venue or proved absent with no ack and no
    fill, ``no_arrival``, ``fees_unvalued``). ``parents``, when given, is filled with the journal's ``parent``
    entries by parent id."""
    parents = {} if parents is None else parents
    intents: dict[str, JournalEntry] = {}
    changes: dict[str, list[JournalEntry]] = {}
    fills: dict[str, list[JournalEntry]] = {}
    seen_fills: set[tuple[str, str, str]] = set()
    for e in entries:
        p = e.payload
        if e.kind is EntryKind.INTENT:
            intents.setdefault(p.intent_id, e)
        elif e.kind is EntryKind.PARENT:
            parents.setdefault(p.parent_id, e)
        elif e.kind is EntryKind.STATE_CHANGE:
            changes.setdefault(p.client_order_id, []).append(e)
        elif e.kind is EntryKind.FILL and p.client_order_id and (p.venue, p.symbol, p.trade_id) not in seen_fills:
            seen_fills.add((p.venue, p.symbol, p.trade_id))
            fills.setdefault(p.client_order_id, []).append(e)
    # an intent's client order id: under the first namespace (sorted) the journal's orders carry it in
    cid_of: dict[str, str] = {}
    for intent_id, cid in intent_client_ids(intents, {c.split("-", 1)[0] for c in changes}, changes):
        cid_of.setdefault(intent_id, cid)
    left = {"denied": 0, "rejected": 0, "no_arrival": 0, "fees_unvalued": 0}
    parent_intents = {pid: e.payload for pid, e in parents.items()}
    out: list[_Order] = []
    for intent_id, entry in intents.items():
        cid = cid_of.get(intent_id)
        if cid is None:
            continue
        steps = changes[cid]
        if not any(s.payload.event == "SUBMIT" for s in steps):
            left["denied"] += 1  # refused before it was sent
            continue
        if (steps[-1].payload.to_state == "REJECTED" and not fills.get(cid)
                and not any(s.payload.to_state in _ACKED for s in steps)):
            left["rejected"] += 1  # sent, but never stood on the venue's book
            continue
        intent: OrderIntent = entry.payload
        parent: ParentIntent | None = parents[intent.parent_id].payload if intent.parent_id in parents else None
        if parent is not None:
            arrival = parent.arrival_price
        else:
            arrival = intent.context.price if intent.context is not None else intent.price
        if not arrival or arrival <= 0:
            left["no_arrival"] += 1
            continue
        acked = next((s.ts_ms for s in steps if s.payload.from_state in ("SUBMITTED", "UNKNOWN")
                      and s.payload.to_state in _ACKED), None)
        records = []
        for f in fills.get(cid, []):
            fee = fee_in_quote(f.payload)
            if fee is None:
                left["fees_unvalued"] += 1
            records.append(FillRecord(f.ts_ms, f.payload.price, f.payload.amount, fee or 0.0))
        out.append(_Order(strategy_of(intent, parent_intents), OrderRecord(
            cid, intent.venue, intent.side, intent.type, intent.amount, arrival, entry.ts_ms, acked,
            tuple(records), parent.algo if parent is not None else "none"), intent.parent_id))
    return out, left


def _latency(qs: list[OrderQuality]) -> dict[str, float | None]:
    def med(xs: list[int | None]) -> float | None:
        ys = [x for x in xs if x is not None]
        return float(statistics.median(ys)) if ys else None

    return {"median_ack_ms": med([q.ack_ms for q in qs]), "median_first_fill_ms": med([q.first_fill_ms for q in qs]),
            "median_last_fill_ms": med([q.last_fill_ms for q in qs])}


def _row(qs: list[OrderQuality]) -> dict[str, Any]:
    row = summarise(qs, by=())[0]
    return {**row, **_latency(qs)}


def _parent_rows(parents: dict[str, JournalEntry], orders: list[_Order]) -> list[dict[str, Any]]:
    """One row per parent with an arrival price: its children's fills as one record against that price."""
    rows = []
    for pid, entry in parents.items():
        p: ParentIntent = entry.payload
        kids = [o.record for o in orders if o.parent_id == pid]
        if p.arrival_price is None:
            continue
        acks = [k.acked_ms for k in kids if k.acked_ms is not None]
        record = OrderRecord(pid, ",".join(p.venues), p.side, p.algo, p.qty, p.arrival_price, entry.ts_ms,
                             min(acks) if acks else None,
                             tuple(sorted((f for k in kids for f in k.fills), key=lambda f: f.time_ms)), p.algo)
        q = order_quality(record)
        rows.append({"parent_id": pid, "algo": p.algo, "venues": list(p.venues), "side": p.side, "qty": p.qty,
                     "children": len(kids), "arrival_price": p.arrival_price, "filled": q.filled,
                     "fill_ratio": q.fill_ratio, "avg_price": q.avg_price, "shortfall_bps": q.shortfall_bps,
                     "fees": q.fees, "ack_ms": q.ack_ms, "first_fill_ms": q.first_fill_ms,
                     "last_fill_ms": q.last_fill_ms})
    return rows


def execution_report(entries: Iterable[JournalEntry]) -> ExecutionReport:
    """Every sent order's quality, summarised by venue, by order type, by strategy, by algorithm and in total, and one row per
    parent order (module docstring)."""
    parents: dict[str, JournalEntry] = {}
    orders, left = execution_records(entries, parents)
    pairs = [(o.strategy, order_quality(o.record)) for o in orders]
    report = ExecutionReport(orders=len(pairs), **left)
    report.by_parent = _parent_rows(parents, orders)
    if not pairs:
        return report
    for venue in sorted({q.venue for _, q in pairs}):
        report.by_venue.append({"venue": venue, **_row([q for _, q in pairs if q.venue == venue])})
    for order_type in sorted({q.order_type for _, q in pairs}):
        report.by_order_type.append({"order_type": order_type,
                                     **_row([q for _, q in pairs if q.order_type == order_type])})
    for strategy in sorted({s for s, _ in pairs}):
        report.by_strategy.append({"strategy": strategy, **_row([q for s, q in pairs if s == strategy])})
    for algo in sorted({q.algo for _, q in pairs}):
        report.by_algo.append({"algo": algo, **_row([q for _, q in pairs if q.algo == algo])})
    report.total = _row([q for _, q in pairs])
    report.orders_detail = [{"strategy": o.strategy, "arrival_price": o.record.arrival_price,
                             "decided_ms": o.record.decided_ms, **q.to_json()}
                            for o, (_, q) in zip(orders, pairs)]
    return report
