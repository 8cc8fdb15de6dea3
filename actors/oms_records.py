"""What the OMS knows of its orders, kept equal to the journal: the order state, intents, fills, ledger. No Ray.

:class:`OrderRecords` is the base of :class:`actors.oms.OmsActor` (the actor adds
the venues, the sync and the decision path). Its one rule: **the orders this
process acts on are the fold of the journal** (:func:`actors.order_manager.rebuild`).

* :meth:`OrderRecords._commit` appends a pure step's entries (one atomic
  append), then takes the step's state; an append that fails leaves the state
  as it was - but an append can raise *after* its entries landed (the reply
  lost to a timeout or a dropped connection once the script ran; redis-py
  retrying a command whose first run succeeded). Then the journal holds an
  order (INTENT, SUBMITTED) that this process never took: nobody would send
  it, and the sync, which walks this process's orders, would never resolve it
  - SUBMITTED for ever, never at the venue. So a failed append puts the
  records *in doubt*, and :meth:`OrderRecords._settle_doubt` (called before
  every decision and sync round) reads the journal back first.
* :meth:`OrderRecords._load` takes the whole journal: orders, intents by
  client order id, fill ids (idempotency), venue order ids, orphan fills, the
  ledger. The pre-trade risk state (rate bucket, trading state) is left to the
  caller.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterable

from actors import metrics
from actors import order_manager as om
from actors.journal import EntryKind, Journal, JournalEntry
from actors.ledger import Ledger, ledger_from_entries
from actors.messages import Fill, OrderIntent

__all__ = ["OrderRecords"]

log = logging.getLogger(__name__)


class OrderRecords:
    """The OMS's orders and their journal (module docstring). ``namespace``: the client-order-id namespace."""

    def __init__(self, journal: Journal, state: om.OmsState, namespace: str) -> None:
        self.journal = journal
        self.namespace = namespace
        self.state = state
        self.ledger = Ledger()
        self.intents: dict[str, OrderIntent] = {}
        self.fill_ids: set[tuple[str, str]] = set()
        self.order_ids: dict[tuple[str, str], str] = {}  # (venue, venue order id) -> our client order id
        # fills the venue reported without naming our order (an ExchangeActor restarted between the order
        # and its fill sync): journaled (money moved) and attached once an update names the order
        self.orphans: dict[tuple[str, str], list[Fill]] = {}
        # an append raised: its entries may have landed though the answer did not - until the journal is read
        # back, these records may lack an order the journal has
        self.journal_doubt = False

    def _write(self, step: om.Step) -> None:
        """Append the step's entries (one atomic append); book its fills in this process's ledger."""
        if not step.entries:
            return
        self.journal.append_many(list(step.entries))
        metrics.count_order_events(step.entries)
        for kind, payload in step.entries:
            if kind is EntryKind.FILL:
                self.fill_ids.add((payload.venue, payload.trade_id))
                self.ledger.apply_fill(payload)

    def _commit(self, result: tuple[om.OmsState, om.Step]) -> om.Step:
        """Journal a pure step's entries, then take its state. When the append raises, the state stays but is
        in doubt (module docstring); the caller's input fails and is retried."""
        state, step = result
        try:
            self._write(step)
        except Exception:
            self.journal_doubt = True
            raise
        self.state = state
        return step

    def _settle_doubt(self) -> None:
        """After an append that raised: read the journal back and take its orders, intents, fills and ledger (the
        risk state stays). Raises while the journal cannot be read: nothing is decided on records the journal may
        contradict."""
        if not self.journal_doubt:
            return
        self._load(list(self.journal.entries()))
        self.journal_doubt = False
        log.warning("oms: read the journal back after a failed append (%d orders)", len(self.state.orders))

    def _load(self, entries: Iterable[JournalEntry]) -> None:
        """Orders, intents, fill ids, venue order ids, orphan fills and ledger as ``entries`` (the whole journal)
        have them; the risk state (rate bucket, trading state) is left as it is."""
        entries = list(entries)
        self.state = om.rebuild(replace(self.state, orders={}), entries)
        self.ledger = ledger_from_entries(entries)
        self.intents, self.fill_ids, self.order_ids, self.orphans = {}, set(), {}, {}
        for e in entries:
            if e.kind is EntryKind.INTENT:
                self.intents[om.client_order_id(self.namespace, e.payload.intent_id)] = e.payload
            elif e.kind is EntryKind.FILL:
                self.fill_ids.add((e.payload.venue, e.payload.trade_id))
                self._note_fill(e.payload)
            elif e.kind is EntryKind.ACK and e.payload.order_id:
                self.order_ids[(e.payload.venue, e.payload.order_id)] = e.payload.client_order_id

    def _note_fill(self, fill: Fill) -> None:
        """Track a journaled fill's order id (or, without our order's id, keep it as an orphan)."""
        key = (fill.venue, fill.order_id)
        if fill.client_order_id:
            self.order_ids[key] = fill.client_order_id
            self.orphans.pop(key, None)
        elif fill.order_id:
            self.orphans.setdefault(key, []).append(fill)
