"""Cross-venue arbitrage decisions: buy on the cheaper venue, sell on the dearer. Pure.

At each look, for every ordered pair of venues (buy at ``x``'s ask, sell at
``y``'s bid) the edge per base unit, net of both taker fees, is

    edge = bid_y x (1 - fee_y) - ask_x x (1 + fee_x)          (quote per base)

and it is acted on only when ``edge / ask_x`` beats ``margin_bps``. The size
is the smallest of: the visible size at both touches, the clip limit, what
the quote inventory at ``x`` can pay (fees included), what the base
inventory at ``y`` can deliver, and the room left under ``x``'s base
inventory cap (so inventory does not pile up on one venue). Both legs are
sent at once as IOC limit orders: at the touch prices, so neither can fill
worse than the decision assumed, or (:func:`spare_limits`) with the edge
above the margin given to the legs as room to fill when the books move
before they arrive - the pair then still makes at least the margin at the
worst prices its limits allow.

Units: prices quote per base, sizes base, fees and margins bps, inventory in
each asset's units.

Around the decision (used by :class:`actors.arb_runner.ArbRunner` and the paper session's summary):
:func:`touch_from_book` reads a venue's published book into a :class:`Touch`; :func:`best_edge_bps` is the
best net edge on offer (also when it is below the margin, to say why nothing traded); :func:`leg_intents`
turns a decision into its two limit orders, whose intent ids share the pair id (``<pair>:buy`` /
``<pair>:sell``, :func:`pair_of` reads it back); :func:`arb_report` folds a session's legs and fills into
pairs, legs filled, inventory changes and PnL net of fees in the quote currency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from actors.messages import BookSnapshot, Fill, OrderIntent
from raytrader.errors import InputError

__all__ = ["ArbError", "Touch", "Inventory", "ArbDecision", "arbitrage", "touch_from_book", "fresh_touches",
           "best_edge_bps",
           "pair_id", "pair_of", "leg_intents", "spare_limits", "LegResult", "ArbReport", "arb_report", "journaled_pairs",
           "EdgeConfirmation"]


class ArbError(InputError):
    """An arbitrage input (named in the message) is invalid."""


@dataclass(frozen=True)
class Touch:
    """A venue's best bid and ask with their sizes, and its taker fee (bps)."""

    venue: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    taker_bps: float

    def __post_init__(self) -> None:
        nums = (self.bid, self.bid_qty, self.ask, self.ask_qty, self.taker_bps)
        if not all(math.isfinite(v) and v >= 0 for v in nums) or self.bid <= 0 or self.ask <= 0:
            raise ArbError(f"Touch {self.venue}: prices must be > 0 and sizes, fee >= 0, got {nums}")
        if self.bid >= self.ask:
            raise ArbError(f"Touch {self.venue}: crossed book (bid {self.bid} >= ask {self.ask})")


@dataclass(frozen=True)
class Inventory:
    """What one venue account holds: ``base`` and ``quote`` free; ``max_base``: the most base to hold there."""

    base: float
    quote: float
    max_base: float = math.inf


@dataclass(frozen=True)
class ArbDecision:
    """Buy ``qty`` at ``buy_venue``'s ask and sell it at ``sell_venue``'s bid; ``edge_bps`` net of both fees."""

    buy_venue: str
    sell_venue: str
    qty: float
    buy_price: float
    sell_price: float
    edge_bps: float
    expected_pnl: float


def arbitrage(touches: Sequence[Touch], inventory: Mapping[str, Inventory], margin_bps: float, max_qty: float,
              step: float = 1e-8) -> ArbDecision | None:
    """The best opportunity among all venue pairs (module docstring), or None."""
    if not math.isfinite(margin_bps) or margin_bps < 0:
        raise ArbError(f"margin_bps must be a finite number >= 0, got {margin_bps!r}")
    if not (math.isfinite(max_qty) and max_qty > 0 and math.isfinite(step) and step > 0):
        raise ArbError(f"max_qty and step must be finite numbers > 0, got {max_qty!r}, {step!r}")
    missing = [t.venue for t in touches if t.venue not in inventory]
    if missing:
        raise ArbError(f"no inventory given for venue(s) {', '.join(missing)}")
    best: ArbDecision | None = None
    for x in touches:
        for y in touches:
            if x.venue == y.venue:
                continue
            edge = y.bid * (1 - y.taker_bps / 1e4) - x.ask * (1 + x.taker_bps / 1e4)
            edge_bps = edge / x.ask * 1e4
            if edge_bps <= margin_bps:
                continue
            inv_x, inv_y = inventory[x.venue], inventory[y.venue]
            qty = min(x.ask_qty, y.bid_qty, max_qty, inv_x.quote / (x.ask * (1 + x.taker_bps / 1e4)), inv_y.base,
                      max(0.0, inv_x.max_base - inv_x.base))
            qty = math.floor(qty / step + 1e-9) * step
            if qty <= 0:
                continue
            decision = ArbDecision(x.venue, y.venue, qty, x.ask, y.bid, edge_bps, edge * qty)
            if best is None or decision.expected_pnl > best.expected_pnl:
                best = decision
    return best


def touch_from_book(venue: str, book: BookSnapshot, taker_bps: float) -> Touch | None:
    """The best bid and ask of ``book`` as a :class:`Touch`; None when a side is empty or the book is crossed
    or locked (a snapshot taken mid-update: no price to trust)."""
    if not book.bids or not book.asks:
        return None
    (bid, bid_qty), (ask, ask_qty) = book.bids[0], book.asks[0]
    if not (0 < bid < ask) or bid_qty <= 0 or ask_qty <= 0:
        return None
    return Touch(venue, bid, bid_qty, ask, ask_qty, taker_bps)


def fresh_touches(books: Mapping[str, tuple[BookSnapshot, float]], venues: Sequence[str], taker_bps: Sequence[float],
                  now: float, stale_s: float) -> tuple[list[Touch] | None, str]:
    """Every venue's touch, in ``venues`` order, from ``books`` (venue -> (its latest snapshot, when it arrived:
    seconds on the same clock as ``now``)), and ``""``; or None and why not: ``"no book"`` (a venue has none
    yet), ``"stale"`` (a venue's book arrived more than ``stale_s`` seconds before ``now``) or ``"unpriced"``
    (:func:`touch_from_book` finds no touch in it). No decision on a venue's old price."""
    out = []
    for venue, fee in zip(venues, taker_bps):
        held = books.get(venue)
        if held is None:
            return None, "no book"
        if now - held[1] > stale_s:
            return None, "stale"
        touch = touch_from_book(venue, held[0], fee)
        if touch is None:
            return None, "unpriced"
        out.append(touch)
    return out, ""


def _edge(x: Touch, y: Touch) -> float:
    """Net edge (quote per base) of buying at ``x``'s ask and selling at ``y``'s bid, both taker fees paid."""
    return y.bid * (1 - y.taker_bps / 1e4) - x.ask * (1 + x.taker_bps / 1e4)


def best_edge_bps(touches: Sequence[Touch]) -> float | None:
    """The best net edge (bps of the buy price) over every ordered venue pair, whatever its sign; None with
    fewer than two venues. Positive and above the margin is what :func:`arbitrage` acts on."""
    edges = [_edge(x, y) / x.ask * 1e4 for x in touches for y in touches if x.venue != y.venue]
    return max(edges) if edges else None


class EdgeConfirmation:
    """Acts on an edge only once it is seen again on a snapshot of every venue received after it was first
    seen: when one venue's feed lags, a price jump shows on the faster feed beside the slower feed's old price,
    an edge that vanishes with the slower feed's next snapshot. A state machine fed after every look.

    ``counts``: snapshots received so far per venue (they only grow). Counts in :attr:`stats`: ``seen`` (edges
    that appeared), ``vanished`` (gone before confirmation), ``confirmed``."""

    def __init__(self) -> None:
        self._seen_at: dict[str, int] | None = None
        self.stats = {"seen": 0, "vanished": 0, "confirmed": 0}

    def observe(self, has_edge: bool, counts: Mapping[str, int]) -> bool:
        """True when this look's edge is confirmed (and the confirmation starts over for the next edge)."""
        if not has_edge:
            if self._seen_at is not None:
                self.stats["vanished"] += 1
            self._seen_at = None
            return False
        if self._seen_at is None:
            self.stats["seen"] += 1
            self._seen_at = dict(counts)
        if not all(counts.get(v, 0) > n for v, n in self._seen_at.items()):
            return False
        self._seen_at = None
        self.stats["confirmed"] += 1
        return True


def pair_id(prefix: str, started_ms: int, n: int) -> str:
    """The id shared by both legs of the ``n``-th pair of a runner started at ``started_ms`` (a restarted
    runner starts a new series, so it never re-uses a pair id)."""
    if not prefix or ":" in prefix:
        raise ArbError(f"pair prefix {prefix!r}: expected a non-empty name without ':'")
    return f"{prefix}:{started_ms}:{n}"


def pair_of(intent_id: str, prefix: str) -> str | None:
    """The pair id of a leg's intent id (``<prefix>:<start>:<n>:buy|sell``), None for any other intent."""
    head, sep, side = intent_id.rpartition(":")
    if sep and side in ("buy", "sell") and head.startswith(prefix + ":") and head.count(":") == 2:
        return head
    return None


def spare_limits(decision: ArbDecision, buy_taker_bps: float, sell_taker_bps: float, margin_bps: float,
                 tick: float) -> tuple[float, float]:
    """``(buy limit, sell limit)`` that give the legs the edge above the margin as room: the buy limit
    ``ask x (1 + c)`` and the sell limit ``bid x (1 - c)``, with ``c`` the largest for which the pair, filled
    at both limits and paying both taker fees, still makes ``margin_bps`` of the buy limit:
    ``bid (1 - c)(1 - f_sell) = ask (1 + c)(1 + f_buy + margin)``. Then the buy limit is rounded down and the
    sell limit up to ``tick`` (which only adds to the margin). A decision below the margin gets the touches."""
    if not (math.isfinite(tick) and tick > 0):
        raise ArbError(f"tick must be a finite price step > 0, got {tick!r}")
    keep = decision.sell_price * (1 - sell_taker_bps / 1e4)
    pay = decision.buy_price * (1 + buy_taker_bps / 1e4 + margin_bps / 1e4)
    c = max(0.0, (keep - pay) / (keep + pay))
    buy = max(decision.buy_price, math.floor(decision.buy_price * (1 + c) / tick + 1e-9) * tick)
    sell = min(decision.sell_price, math.ceil(decision.sell_price * (1 - c) / tick - 1e-9) * tick)
    return buy, sell


def leg_intents(pair: str, decision: ArbDecision, symbol: str,
                limits: tuple[float, float] | None = None) -> tuple[OrderIntent, OrderIntent]:
    """The two legs of ``decision``: a limit buy at ``buy_venue`` and a limit sell at ``sell_venue``, ``qty``
    each; ``limits``: (buy, sell) limit prices, default the touches (``decision.buy_price`` /
    ``sell_price``: neither fills worse than the decision assumed; :func:`spare_limits` gives room). Intent
    ids ``<pair>:buy`` and ``<pair>:sell``; both ``IOC``: the venue expires what does not fill at once."""
    buy, sell = limits if limits is not None else (decision.buy_price, decision.sell_price)
    return (OrderIntent(decision.buy_venue, symbol, "buy", "limit", decision.qty, f"{pair}:buy", price=buy,
                        time_in_force="IOC"),
            OrderIntent(decision.sell_venue, symbol, "sell", "limit", decision.qty, f"{pair}:sell", price=sell,
                        time_in_force="IOC"))


@dataclass(frozen=True)
class LegResult:
    """One leg as the fills tell it: ``filled`` of ``amount`` base units at ``venue``."""

    pair: str
    venue: str
    side: str
    client_order_id: str
    amount: float
    filled: float


@dataclass(frozen=True)
class ArbReport:
    """A session's arbitrage, from its legs (intents) and fills.

    ``pairs_opened``: pairs with at least one leg sent; ``pairs_complete``: both legs filled in full;
    ``pairs_unbalanced``: the legs' filled amounts differ (one leg failed or filled in part: an inventory
    imbalance); ``legs_sent`` / ``legs_filled`` (any fill). Per venue (asset units): ``base_change`` and
    ``quote_change`` - every fill, fees included in the asset charged; ``fees_quote`` - the fees in quote
    currency (a fee in the base asset at its fill's price). PnL, quote currency, net of fees:
    ``pnl_by_venue[v] = quote_change[v] + base_change[v] x mark``, ``pnl_total`` their sum; one ``mark``
    (quote per base) for every venue, so base moved from one venue to another nets to zero and the total of
    balanced pairs is what their prices and fees made. ``imbalance_base``: bought minus sold over all venues,
    fees aside (0 when every pair is balanced)."""

    pairs_opened: int
    pairs_complete: int
    pairs_unbalanced: int
    legs_sent: int
    legs_filled: int
    base_change: dict[str, float]
    quote_change: dict[str, float]
    fees_quote: dict[str, float]
    pnl_by_venue: dict[str, float]
    pnl_total: float
    imbalance_base: float
    mark: float
    legs: tuple[LegResult, ...]


def arb_report(intents: Sequence[OrderIntent], fills: Sequence[Fill], client_id: Callable[[str], str],
               prefix: str, symbol: str, mark: float, venues: Sequence[str]) -> ArbReport:
    """Fold the legs of pairs named ``prefix`` (intents; ``client_id`` maps an intent id to its client order
    id) and every ``fills`` of ``symbol`` (each counted once per venue trade id) into an :class:`ArbReport`.
    A fee in an asset other than the symbol's two is an ArbError naming the fill."""
    if not (math.isfinite(mark) and mark > 0):
        raise ArbError(f"mark must be a finite price > 0, got {mark!r}")
    base, _, quote = symbol.partition("/")
    seen: set[tuple[str, str]] = set()
    base_change = {v: 0.0 for v in venues}
    quote_change = {v: 0.0 for v in venues}
    fees = {v: 0.0 for v in venues}
    traded = 0.0
    filled: dict[str, float] = {}
    for f in fills:
        if f.symbol != symbol or (f.venue, f.trade_id) in seen:
            continue
        seen.add((f.venue, f.trade_id))
        sign = 1.0 if f.side == "buy" else -1.0
        base_change[f.venue] = base_change.get(f.venue, 0.0) + sign * f.amount
        quote_change[f.venue] = quote_change.get(f.venue, 0.0) - sign * f.amount * f.price
        traded += sign * f.amount
        if f.fee_cost:
            if f.fee_currency == quote:
                quote_change[f.venue] -= f.fee_cost
                fees[f.venue] = fees.get(f.venue, 0.0) + f.fee_cost
            elif f.fee_currency == base:
                base_change[f.venue] -= f.fee_cost
                fees[f.venue] = fees.get(f.venue, 0.0) + f.fee_cost * f.price
            else:
                raise ArbError(f"fill {f.venue} {f.trade_id}: fee in {f.fee_currency!r}, neither {base} nor {quote}")
        if f.client_order_id:
            filled[f.client_order_id] = filled.get(f.client_order_id, 0.0) + f.amount
    legs: list[LegResult] = []
    for intent in intents:
        pair = pair_of(intent.intent_id, prefix)
        if pair is None or intent.symbol != symbol:
            continue
        cid = client_id(intent.intent_id)
        legs.append(LegResult(pair, intent.venue, intent.side, cid, intent.amount, filled.get(cid, 0.0)))
    by_pair: dict[str, dict[str, float]] = {}
    for leg in legs:
        by_pair.setdefault(leg.pair, {"buy": 0.0, "sell": 0.0, "amount": leg.amount})[leg.side] = leg.filled
    complete = sum(1 for p in by_pair.values()
                   if math.isclose(p["buy"], p["amount"], rel_tol=1e-9) and math.isclose(p["sell"], p["amount"],
                                                                                         rel_tol=1e-9))
    unbalanced = sum(1 for p in by_pair.values() if not math.isclose(p["buy"], p["sell"], rel_tol=1e-9, abs_tol=1e-12))
    pnl = {v: quote_change[v] + base_change[v] * mark for v in base_change}
    return ArbReport(len(by_pair), complete, unbalanced, len(legs), sum(1 for leg in legs if leg.filled > 0),
                     base_change, quote_change, fees, pnl, sum(pnl.values()), traded, mark, tuple(legs))


def journaled_pairs(intents: Sequence[OrderIntent], states: Mapping[str, str], filled: Mapping[str, float],
                    client_id: Callable[[str], str], prefix: str, symbol: str) -> list[dict]:
    """The pairs of ``prefix`` on ``symbol`` the journal holds, oldest first, as a (restarted) runner records
    them: ``{"pair", "buy_venue", "sell_venue", "qty", "buy": {...}, "sell": {...}, "rebuilt": True}``, each
    leg ``{"client_order_id", "state", "filled"}`` from ``states`` (client order id -> the OMS state of its
    last journaled state change, ``SUBMITTED`` when none) and ``filled`` (client order id -> base units its
    journaled fills add up to). A pair whose runner died between its two sends has one leg."""
    pairs: dict[str, dict] = {}
    for intent in intents:
        pair = pair_of(intent.intent_id, prefix)
        if pair is None or intent.symbol != symbol:
            continue
        cid = client_id(intent.intent_id)
        record = pairs.setdefault(pair, {"pair": pair, "buy_venue": None, "sell_venue": None, "qty": intent.amount,
                                         "rebuilt": True})
        record[f"{intent.side}_venue"] = intent.venue
        record[intent.side] = {"client_order_id": cid, "state": states.get(cid, "SUBMITTED"),
                               "filled": filled.get(cid, 0.0)}
    return list(pairs.values())
