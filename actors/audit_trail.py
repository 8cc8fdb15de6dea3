"""The audit trail read back from the trading journal: the trade ledger and the story of one order. No Ray.

Joins (all through the journal's own entries, see :mod:`actors.order_manager`):
    * a ``FILL`` names its order by client order id; the order's ``INTENT`` is the
      one whose :func:`actors.exchange_core.client_order_id` (namespace = the
      client order id's prefix) is that id;
    * the intent's pre-trade decision is the ``RISK_DECISION`` of action
      ``submit`` with the intent's ``intent_id`` (a cancel's decision carries the
      client order id instead);
    * the strategy, the bar it acted on and its signal come from the intent's
      :class:`~actors.messages.IntentContext` (journal schema 2); a child of a
      parent order (its ``parent_id``) has the parent's
      (:attr:`~actors.messages.ParentIntent.context`, the strategy decision the
      router carried out). A schema-1 intent has none: the strategy and the bar's
      open time are then read from a strategy intent id
      (``strategy:<name>:<symbol>@<venue>#<bar open ms>``,
      :func:`actors.trading.target_intent_id`) and the signal is unknown.

Strategy names a fill is attributed to: the runner's key for a strategy's
order (a routed strategy's children too), ``flatten`` for the kill switch's
flattening orders, ``manual`` for other hand-made intents (and the children
of a hand-made parent), ``external`` for a fill of an order we did not place.
A fill journaled twice (same venue, symbol, trade id) is one ledger row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Container, Iterable, Iterator, Mapping, Sequence

from actors.exchange_core import client_order_id
from actors.journal import EntryKind, JournalEntry, encode_payload
from actors.messages import Fill, IntentContext, OrderIntent, ParentIntent
from backtest.fill_record import FillRecord
from backtest.trades import ms_to_iso
from raytrader.errors import InputError

__all__ = ["intent_client_ids", "LedgerRow", "trade_ledger", "fill_records", "OrderStory", "StoryEvent", "explain_order",
           "UnknownOrderError", "strategy_of", "context_of", "LEDGER_COLUMNS"]

_STRATEGY_INTENT = re.compile(r"^(strategy:.+)#(\d+)$")


class UnknownOrderError(InputError):
    """No order in the journal has the id asked for."""


@dataclass(frozen=True)
class LedgerRow:
    """One fill of the trade ledger with what was behind it. Units: prices quote per base, amounts base,
    ``notional`` = ``price * amount`` (quote), fees in ``fee_currency``, times UTC. ``*_entry_id``: the
    journal entries' Redis stream ids (None where there is no such entry); ``signal``: the strategy's
    target on ``bar_ts_ms``'s bar (None when unknown)."""

    fill_entry_id: str
    fill_seq: int
    time: str
    timestamp_ms: int
    venue: str
    symbol: str
    side: str
    price: float
    amount: float
    notional: float
    fee_cost: float
    fee_currency: str | None
    is_maker: bool | None
    trade_id: str
    order_id: str
    client_order_id: str | None
    strategy: str
    intent_id: str | None
    intent_entry_id: str | None
    signal: float | None
    bar_ts_ms: int | None
    bar_close: float | None
    risk_approved: bool | None
    risk_reason: str | None
    risk_detail: str | None
    risk_entry_id: str | None


LEDGER_COLUMNS: tuple[str, ...] = tuple(LedgerRow.__dataclass_fields__)


def context_of(intent: OrderIntent, parents: Mapping[str, ParentIntent] | None = None) -> IntentContext | None:
    """The strategy decision behind ``intent``: its own context, else (a child) its parent's in ``parents``
    (parent id -> the journaled :class:`~actors.messages.ParentIntent`); None for a hand-made order."""
    if intent.context is not None:
        return intent.context
    parent = (parents or {}).get(intent.parent_id or "")
    return parent.context if parent is not None else None


def strategy_of(intent: OrderIntent | None, parents: Mapping[str, ParentIntent] | None = None) -> str:
    """What a fill of an order placed for ``intent`` is attributed to (module docstring); ``parents`` as in
    :func:`context_of`."""
    if intent is None:
        return "external"
    ctx = context_of(intent, parents)
    if ctx is not None:
        return ctx.strategy
    match = _STRATEGY_INTENT.match(intent.intent_id)
    if match:
        return match.group(1)
    return "flatten" if intent.intent_id.startswith("flatten:") else "manual"


def _bar_ts(intent: OrderIntent, ctx: IntentContext | None) -> int | None:
    if ctx is not None and ctx.bar is not None:
        return ctx.bar.timestamp_ms
    match = _STRATEGY_INTENT.match(intent.intent_id)
    return int(match.group(2)) if match else None


def intent_client_ids(intent_ids: Iterable[str], namespaces: Iterable[str],
                      known: Container[str]) -> Iterator[tuple[str, str]]:
    """``(intent id, client order id)`` for each intent sent under one of ``namespaces``: the id is
    ``client_order_id(namespace, intent id)`` and counts only when ``known`` holds it (an external order's
    namespace, "web-1" -> "web", must not claim our intents). Namespace by namespace in sorted order (a set's
    order changes with the hash seed), intents in their given order within each."""
    intent_ids = list(intent_ids)
    for ns in sorted(namespaces):
        for intent_id in intent_ids:
            try:
                cid = client_order_id(ns, intent_id)
            except InputError:
                continue
            if cid in known:
                yield intent_id, cid


class _Index:
    """The journal's entries indexed by client order id and intent id (first occurrence wins for intents)."""

    def __init__(self, entries: Iterable[JournalEntry]) -> None:
        self.entries = list(entries)
        self.intents: dict[str, JournalEntry] = {}
        self.submit_decisions: dict[str, JournalEntry] = {}
        self.by_cid: dict[str, list[JournalEntry]] = {}
        self.parents: dict[str, ParentIntent] = {}
        namespaces: set[str] = set()
        for e in self.entries:
            p = e.payload
            if e.kind is EntryKind.INTENT:
                self.intents.setdefault(p.intent_id, e)
            elif e.kind is EntryKind.PARENT:
                self.parents.setdefault(p.parent_id, p)
            elif e.kind is EntryKind.RISK_DECISION:
                if p.action == "submit":
                    self.submit_decisions.setdefault(p.intent_id, e)
                else:
                    self.by_cid.setdefault(p.intent_id, []).append(e)
            else:
                cid = getattr(p, "client_order_id", None)
                if cid:
                    self.by_cid.setdefault(cid, []).append(e)
                    namespaces.add(cid.split("-", 1)[0])
        # each intent's client order id: see intent_client_ids
        self.cid_intent: dict[str, JournalEntry] = {}
        for intent_id, cid in intent_client_ids(self.intents, namespaces, self.by_cid):
            self.cid_intent.setdefault(cid, self.intents[intent_id])
        self.intent_cid = {e.payload.intent_id: cid for cid, e in self.cid_intent.items()}


def trade_ledger(entries: Iterable[JournalEntry]) -> list[LedgerRow]:
    """One :class:`LedgerRow` per distinct fill in the journal, in journal order (module docstring)."""
    index = _Index(entries)
    rows: list[LedgerRow] = []
    seen: set[tuple[str, str, str]] = set()
    for e in index.entries:
        if e.kind is not EntryKind.FILL:
            continue
        f: Fill = e.payload
        if (f.venue, f.symbol, f.trade_id) in seen:
            continue
        seen.add((f.venue, f.symbol, f.trade_id))
        intent_entry = index.cid_intent.get(f.client_order_id or "")
        intent: OrderIntent | None = intent_entry.payload if intent_entry else None
        decision = index.submit_decisions.get(intent.intent_id) if intent else None
        ctx = context_of(intent, index.parents) if intent else None
        rows.append(LedgerRow(
            fill_entry_id=e.stream_id, fill_seq=e.seq, time=ms_to_iso(f.timestamp_ms), timestamp_ms=f.timestamp_ms,
            venue=f.venue, symbol=f.symbol, side=f.side, price=f.price, amount=f.amount, notional=f.price * f.amount,
            fee_cost=f.fee_cost, fee_currency=f.fee_currency, is_maker=f.is_maker, trade_id=f.trade_id,
            order_id=f.order_id, client_order_id=f.client_order_id, strategy=strategy_of(intent, index.parents),
            intent_id=intent.intent_id if intent else None,
            intent_entry_id=intent_entry.stream_id if intent_entry else None,
            signal=ctx.target if ctx else None, bar_ts_ms=_bar_ts(intent, ctx) if intent else None,
            bar_close=ctx.bar.close if ctx and ctx.bar else None,
            risk_approved=decision.payload.approved if decision else None,
            risk_reason=decision.payload.reason.value if decision else None,
            risk_detail=decision.payload.detail if decision else None,
            risk_entry_id=decision.stream_id if decision else None))
    return rows


def fill_records(rows: Sequence[LedgerRow]) -> list[FillRecord]:
    """The ledger's rows as the plain records tax lots and attribution compute from."""
    return [FillRecord(r.venue, r.symbol, r.side, r.price, r.amount, r.timestamp_ms, r.trade_id, r.fee_cost,
                       r.fee_currency, r.strategy) for r in rows]


@dataclass(frozen=True)
class StoryEvent:
    """One journal entry in an order's story: its seq, Redis stream id, writer's time, kind, a one-line
    ``summary`` and the payload as plain JSON values."""

    seq: int
    entry_id: str
    ts_ms: int
    kind: str
    summary: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class OrderStory:
    """Everything the journal knows about one order, oldest first. ``strategy`` / ``context`` as in
    :class:`LedgerRow` (``context`` None for hand-made orders and schema-1 journals); ``state`` the last
    state change's ``to_state``; ``filled`` base units over the distinct fills and ``avg_price`` their
    amount-weighted price (None before a fill)."""

    client_order_id: str
    intent_id: str | None
    venue: str
    symbol: str
    side: str
    amount: float | None
    strategy: str
    bar_ts_ms: int | None
    context: dict[str, Any] | None
    state: str | None
    filled: float
    avg_price: float | None
    events: tuple[StoryEvent, ...]


def _summary(e: JournalEntry) -> str:
    p = e.payload
    k = e.kind
    if k is EntryKind.INTENT:
        text = f"{p.side} {p.amount:g} {p.symbol} {p.type}" + (f" @ {p.price:g}" if p.price is not None else "")
        text += f" on {p.venue} (intent {p.intent_id})"
        c = p.context
        if c is not None:
            bar = (f"bar {ms_to_iso(c.bar.timestamp_ms)} O {c.bar.open:g} H {c.bar.high:g} L {c.bar.low:g} "
                   f"C {c.bar.close:g} V {c.bar.volume:g}; " if c.bar else "")
            equity = f", equity {c.equity:.10g}" if c.equity is not None else ""
            text += (f"; {c.strategy}: {bar}signal (target) {c.target:g}; sizing {c.sizing_mode} "
                     f"{c.sizing_value:g} at price {c.price:g}{equity}, position {c.position:g}, "
                     f"in flight {c.pending:g}, step {c.sizing_step:g}")
        return text
    if k is EntryKind.RISK_DECISION:
        return f"{p.action} {'APPROVED' if p.approved else 'DENIED'}: {p.reason.value} ({p.detail})"
    if k is EntryKind.STATE_CHANGE:
        reason = f" ({p.reason})" if p.reason else ""
        return f"{p.from_state} -> {p.to_state} on {p.event}, filled {p.filled:g}{reason}"
    if k in (EntryKind.ACK, EntryKind.REJECT):
        why = f", {p.rejection.code}: {p.rejection.reason}" if p.rejection else ""
        return (f"venue says {p.status} (order id {p.order_id}), filled {p.filled:g} of {p.amount:g}"
                f"{', avg ' + format(p.average, 'g') if p.average else ''} via {p.resolved_by}{why}")
    if k is EntryKind.FILL:
        fee = f", fee {p.fee_cost:g} {p.fee_currency}" if p.fee_cost else ""
        maker = "" if p.is_maker is None else (" maker" if p.is_maker else " taker")
        return f"fill {p.trade_id}: {p.side} {p.amount:g} @ {p.price:g}{fee}{maker} at {ms_to_iso(p.timestamp_ms)}"
    if k is EntryKind.CANCEL:
        return f"cancel requested ({p.reason})"
    return k.value


def explain_order(entries: Iterable[JournalEntry], order_id: str) -> OrderStory:
    """The story of the order ``order_id`` (its client order id, the venue's order id, or its intent id):
    the intent (strategy, bar, signal, sizing), its risk decision, every state change, venue answer, cancel
    and fill, each with its journal entry. :class:`UnknownOrderError` when no entry names it."""
    index = _Index(entries)
    cid = order_id if order_id in index.by_cid or order_id in index.cid_intent else None
    if cid is None and order_id in index.intent_cid:
        cid = index.intent_cid[order_id]
    if cid is None:
        cid = next((c for c, es in index.by_cid.items()
                    if any(getattr(e.payload, "order_id", None) == order_id for e in es)), None)
    if cid is None:
        raise UnknownOrderError(f"order {order_id!r}: no client order id, venue order id or intent id in the "
                                f"journal's {len(index.entries)} entries names it")
    intent_entry = index.cid_intent.get(cid)
    intent: OrderIntent | None = intent_entry.payload if intent_entry else None
    chosen = list(index.by_cid.get(cid, []))
    if intent_entry is not None:
        chosen.append(intent_entry)
        decision = index.submit_decisions.get(intent.intent_id)
        if decision is not None:
            chosen.append(decision)
    chosen.sort(key=lambda e: e.seq)
    events = tuple(StoryEvent(e.seq, e.stream_id, e.ts_ms, e.kind.value, _summary(e), encode_payload(e.payload))
                   for e in chosen)
    first = intent or next((e.payload for e in chosen if e.kind in (EntryKind.ACK, EntryKind.REJECT)), None)
    first = first or chosen[0].payload
    fills: dict[str, Fill] = {}
    for e in chosen:
        if e.kind is EntryKind.FILL:
            fills.setdefault(e.payload.trade_id, e.payload)
    filled = sum(f.amount for f in fills.values())
    avg = sum(f.amount * f.price for f in fills.values()) / filled if filled else None
    states = [e.payload.to_state for e in chosen if e.kind is EntryKind.STATE_CHANGE]
    ctx = context_of(intent, index.parents) if intent else None
    return OrderStory(client_order_id=cid, intent_id=intent.intent_id if intent else None, venue=first.venue,
                      symbol=first.symbol, side=getattr(first, "side", ""), amount=getattr(first, "amount", None),
                      strategy=strategy_of(intent, index.parents), bar_ts_ms=_bar_ts(intent, ctx) if intent else None,
                      context=encode_payload(ctx) if ctx else None,
                      state=states[-1] if states else None, filled=filled, avg_price=avg, events=events)
