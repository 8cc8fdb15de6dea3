"""The decisions behind :class:`actors.exchange.ExchangeActor`, with no Ray and no sockets.

* :func:`client_order_id` - a deterministic, Binance-valid client order id per
  (namespace, intent id): a retried intent carries the same id, so the venue
  refuses the copy ("Duplicate order sent.") instead of opening a second order.
* :func:`classify_error` - a ccxt exception raised by an order call is
  ``REJECTED`` (the venue answered: the order does not exist), ``DUPLICATE``
  (the venue already holds an order with this client id) or ``UNKNOWN`` (no
  trustworthy answer: the order may or may not stand). :func:`classification`
  is the table, most specific class first (built on first use: ccxt loads then).
* :func:`resolve_unknown` / :func:`place_order` - the resolution protocol for
  an unknown outcome (below).
* :class:`StreamLog` (publisher side: per-stream ``seq`` 1, 2, 3, ... over a
  bounded buffer), :class:`SeqChecker` (subscriber side: holes in ``seq``),
  :func:`trade_id_gap` / :func:`bar_time_gap` (upstream discontinuities) and
  :func:`merge_recovered` (live items plus the REST-fetched ones that fill a gap, in order).
* ``parse_*`` - ccxt's unified dicts into the typed messages of
  :mod:`actors.messages` (venue JSON never travels further than this module).

Resolution rule for an unknown outcome (documented contract):
    query the venue by client order id, up to ``policy.max_queries`` times with
    exponential backoff. A found order is the answer. Errors while querying
    (timeouts, 5xx, 429) only cost an attempt. "Order does not exist" is
    trusted - the order is declared **absent** (never placed) - only when
    (a) it was answered at least ``policy.not_found_confirmations`` times and
    (b) the last such answer came after ``failed_at + recv_window_ms / 1000 +
    clock_margin_s``: past that instant the venue refuses the original request
    as stale (Binance checks ``timestamp + recvWindow`` on arrival), so a
    request still in flight can no longer create the order. An earlier
    not-found only schedules another query. If the attempts run out first the
    order stays ``unknown`` and the caller must keep resolving it (the actor
    re-runs the protocol on every tracked unknown order).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
import time
from collections import deque
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Awaitable, Callable, Iterable, Sequence

from actors.messages import (
    AssetBalance,
    BarTick,
    BookSnapshot,
    Fill,
    OrderIntent,
    OrderRejected,
    OrderUpdate,
    StreamItem,
    TradeTick,
)
from raytrader.errors import InputError

__all__ = [
    "CLIENT_ID_PATTERN", "client_order_id", "Verdict", "ErrorClass", "classification", "classify_error",
    "ResolutionPolicy", "Resolution", "resolve_unknown", "place_order", "rejected_update", "unknown_update",
    "StreamLog", "SeqChecker", "trade_id_gap", "bar_time_gap", "merge_recovered",
    "parse_order", "parse_fill", "answered_trades", "parse_trade", "parse_bar", "parse_book", "parse_balance",
]

#: Binance ``newClientOrderId``: 1..36 chars of ``. A-Z : / a-z 0-9 _ -``.
CLIENT_ID_PATTERN = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_]{1,11}$")


def client_order_id(namespace: str, intent_id: str) -> str:
    """``<namespace>-<24 hex chars of BLAKE2b(namespace, intent_id)>`` (<= 36 chars, Binance-valid).

    A pure function: the same (namespace, intent) always gives the same id;
    different intents collide with probability ~2**-96. ``namespace``
    (account / strategy, 1..11 of ``A-Z a-z 0-9 _``) keeps two strategies'
    ids apart on one account.
    """
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise InputError(f"namespace {namespace!r}: 1..11 characters of A-Z a-z 0-9 _")
    if not isinstance(intent_id, str) or not intent_id:
        raise InputError("intent_id: expected a non-empty string")
    digest = hashlib.blake2b(f"{namespace}\x00{intent_id}".encode(), digest_size=12).hexdigest()
    return f"{namespace}-{digest}"


# ---------------------------------------------------------------- errors
class Verdict(str, Enum):
    """What an error from an order call says about the order."""

    REJECTED = "rejected"    # the venue answered: no order was created by this request
    DUPLICATE = "duplicate"  # the venue already holds this client order id: look it up
    UNKNOWN = "unknown"      # no trustworthy answer: it may stand; resolve by client order id


@dataclass(frozen=True)
class ErrorClass:
    """The verdict on one exception, the venue's code (or the ccxt class name) and its message."""

    verdict: Verdict
    code: str
    reason: str


def _ccxt_errors() -> Any:
    """``ccxt.base.errors``. Loaded when first needed: importing it runs ``ccxt/__init__``, which imports every
    exchange module (~0.35 s of CPU), and most actors that import this module (the OMS, the strategy runners, the
    order manager: ``client_order_id``, ``SeqChecker``) never touch a ccxt error."""
    from ccxt.base import errors  # noqa: PLC0415 - late: an actor that never sees a ccxt error starts without ccxt

    return errors


@functools.cache
def classification() -> tuple[tuple[type[BaseException], Verdict], ...]:
    """(ccxt class, verdict), most specific first; the first ``isinstance`` match wins. Built on first use
    (ccxt loads then)."""
    cx = _ccxt_errors()
    return (
        (cx.DuplicateOrderId, Verdict.DUPLICATE),
        (cx.InsufficientFunds, Verdict.REJECTED),
        (cx.InvalidOrder, Verdict.REJECTED),           # incl. OrderNotFound, OrderImmediatelyFillable, ...
        (cx.BadSymbol, Verdict.REJECTED),
        (cx.BadRequest, Verdict.REJECTED),
        (cx.AuthenticationError, Verdict.REJECTED),    # incl. PermissionDenied, AccountSuspended
        (cx.ArgumentsRequired, Verdict.REJECTED),
        (cx.NotSupported, Verdict.REJECTED),
        (cx.OperationRejected, Verdict.REJECTED),      # incl. MarketClosed, RestrictedLocation
        (cx.ChecksumError, Verdict.UNKNOWN),
        (cx.InvalidNonce, Verdict.REJECTED),           # Binance -1021: the venue refused the timestamp
        (cx.RequestTimeout, Verdict.UNKNOWN),
        (cx.DDoSProtection, Verdict.UNKNOWN),          # 429 after send: assume nothing
        (cx.RateLimitExceeded, Verdict.UNKNOWN),
        (cx.ExchangeNotAvailable, Verdict.UNKNOWN),    # 5xx, maintenance
        (cx.NetworkError, Verdict.UNKNOWN),            # connection reset / closed without an answer
        (cx.BadResponse, Verdict.UNKNOWN),             # an answer we cannot read
        (cx.OperationFailed, Verdict.UNKNOWN),
        (cx.ExchangeError, Verdict.REJECTED),          # any other error the venue itself answered
    )


_CODE = re.compile(r'"code"\s*:\s*"?(-?\d+)')


def classify_error(exc: BaseException) -> ErrorClass:
    """Verdict for an exception raised by a create-order call (see :func:`classification`).

    A rejection whose message says ``Duplicate order`` (Binance ``-2010``) is
    ``DUPLICATE``. Exceptions that are not ccxt's (``asyncio.TimeoutError``,
    ``OSError``, ...) are ``UNKNOWN``: nothing proves the venue did not act.
    """
    text = " ".join(str(exc).split())[:300]
    match = _CODE.search(text)
    code = match.group(1) if match else type(exc).__name__
    verdict = Verdict.UNKNOWN
    for cls, v in classification():
        if isinstance(exc, cls):
            verdict = v
            break
    if verdict is Verdict.REJECTED and "duplicate order" in text.lower():
        verdict = Verdict.DUPLICATE
    return ErrorClass(verdict, code, text)


# ---------------------------------------------------------------- resolution
@dataclass(frozen=True)
class ResolutionPolicy:
    """Bounds of the resolution protocol (module docstring).

    Attributes:
        max_queries: queries by client order id before giving up as ``unknown`` (>= 1).
        backoff_s: wait before the 2nd query, seconds; doubles each time up to ``max_backoff_s``.
        max_backoff_s: longest wait between two queries, seconds.
        recv_window_ms: the request validity window the client signs with (Binance ``recvWindow``), ms;
            the ExchangeActor's ccxt client is configured with this very value.
        clock_margin_s: allowance for clock skew between us and the venue, seconds.
        not_found_confirmations: not-found answers needed (the last after the horizon) to declare absent.
    """

    max_queries: int = 10
    backoff_s: float = 0.2
    max_backoff_s: float = 2.0
    recv_window_ms: int = 5_000
    clock_margin_s: float = 1.0
    not_found_confirmations: int = 2

    def __post_init__(self) -> None:
        if self.max_queries < 1 or self.not_found_confirmations < 1:
            raise InputError("ResolutionPolicy: max_queries and not_found_confirmations must be >= 1")
        if min(self.backoff_s, self.max_backoff_s, self.recv_window_ms, self.clock_margin_s) < 0:
            raise InputError("ResolutionPolicy: times must be >= 0 (seconds; recv_window_ms in ms)")


@dataclass(frozen=True)
class Resolution:
    """Outcome of :func:`resolve_unknown`: ``found`` (with the venue's ``update``), ``absent`` or ``unresolved``."""

    outcome: str
    update: OrderUpdate | None
    queries: int
    not_found: int


Query = Callable[[], Awaitable[OrderUpdate]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


async def resolve_unknown(query: Query, *, failed_at: float, policy: ResolutionPolicy = ResolutionPolicy(),
                          clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> Resolution:
    """Settle an order whose create call gave no trustworthy answer (rule in the module docstring).

    ``query()`` fetches the order by client order id and raises
    ``ccxt.OrderNotFound`` when the venue does not know it; ``failed_at`` is
    ``clock()`` when the create call failed (the request's signed timestamp is
    no later than that).
    """
    order_not_found = _ccxt_errors().OrderNotFound
    horizon = failed_at + policy.recv_window_ms / 1000 + policy.clock_margin_s
    not_found = 0
    wait = policy.backoff_s
    for attempt in range(1, policy.max_queries + 1):
        try:
            update = await query()
        except order_not_found:
            not_found += 1
            if not_found >= policy.not_found_confirmations and clock() >= horizon:
                return Resolution("absent", None, attempt, not_found)
        except Exception:  # noqa: BLE001 - any other failure is "no answer": try again
            pass
        else:
            return Resolution("found", update, attempt, not_found)
        if attempt < policy.max_queries:
            delay, now = wait, clock()
            if not_found and now < horizon:  # a not-found before the horizon: ask again once it has passed
                delay = max(wait, min(horizon - now + 1e-3, policy.max_backoff_s))
            await sleep(delay)
            wait = min(wait * 2, policy.max_backoff_s)
    return Resolution("unresolved", None, policy.max_queries, not_found)


def rejected_update(intent: OrderIntent, cid: str, rejection: OrderRejected, resolved_by: str = "response",
                    status: str = "rejected") -> OrderUpdate:
    """An update for an order the venue does not hold (``rejected``) or that we cannot settle (``unknown``)."""
    return OrderUpdate(venue=intent.venue, symbol=intent.symbol, client_order_id=cid, order_id=None,
                       status=status, side=intent.side, type=intent.type, amount=float(intent.amount), filled=0.0,
                       remaining=float(intent.amount) if status == "unknown" else 0.0, average=None,
                       price=intent.price, fee_cost=0.0, fee_currency=None, timestamp_ms=None,
                       resolved_by=resolved_by, rejection=rejection)


def unknown_update(venue: str, symbol: str, cid: str, last: OrderUpdate | None, reason: str,
                   code: str = "UNRESOLVED") -> OrderUpdate:
    """Status ``unknown`` for an order the venue did not answer about (``resolved_by="unresolved"``).

    The other fields are the last known state ``last`` (what was filled, at what price), or empty
    (no order id, nothing filled, amount 0) when this actor never knew the order; ``rejection``
    carries ``reason`` and ``code``. Nothing is guessed: the caller must ask again later.
    """

    why = OrderRejected(reason, code)
    if last is not None:
        return replace(last, status="unknown", resolved_by="unresolved", rejection=why)
    return OrderUpdate(venue=venue, symbol=symbol, client_order_id=cid, order_id=None, status="unknown", side="buy",
                       type="limit", amount=0.0, filled=0.0, remaining=0.0, average=None, price=None, fee_cost=0.0,
                       fee_currency=None, timestamp_ms=None, resolved_by="unresolved", rejection=why)


async def place_order(intent: OrderIntent, cid: str, *, submit: Query, query: Query,
                      policy: ResolutionPolicy = ResolutionPolicy(), clock: Clock = time.monotonic,
                      sleep: Sleep = asyncio.sleep) -> OrderUpdate:
    """Submit once; on a non-answer resolve by client order id; never guess.

    * the venue answers -> its update (``resolved_by="response"``);
    * ``REJECTED`` -> status ``rejected`` with the venue's reason and code;
    * ``DUPLICATE`` (an earlier attempt of this intent stands) or ``UNKNOWN``
      -> :func:`resolve_unknown`: found -> the venue's state
      (``resolved_by="query"``); absent -> ``rejected`` (``resolved_by="absent"``,
      code ``ABSENT``; a later retry of the intent is safe); unresolved ->
      status ``unknown`` (``resolved_by="unresolved"``).
    """
    try:
        return await submit()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        failed_at = clock()
        verdict = classify_error(exc)
    if verdict.verdict is Verdict.REJECTED:
        return rejected_update(intent, cid, OrderRejected(verdict.reason, verdict.code))
    res = await resolve_unknown(query, failed_at=failed_at, policy=policy, clock=clock, sleep=sleep)
    if res.outcome == "found" and res.update is not None:

        return replace(res.update, resolved_by="query")
    if res.outcome == "absent":
        why = OrderRejected(f"not placed: {res.not_found} not-found answers, the last after the recvWindow "
                            f"horizon (first error: {verdict.reason})", "ABSENT")
        return rejected_update(intent, cid, why, resolved_by="absent")
    why = OrderRejected(f"outcome unknown after {res.queries} queries (first error: {verdict.reason})",
                        verdict.code)
    return rejected_update(intent, cid, why, resolved_by="unresolved", status="unknown")


# ---------------------------------------------------------------- sequencing
class StreamLog:
    """Publisher side: numbered items per stream in a bounded buffer.

    Invariant: within a stream ``seq`` runs 1, 2, 3, ... with no holes; the
    buffer keeps the newest ``capacity`` items, so a subscriber further behind
    than that sees a hole (:class:`SeqChecker` reports it) and should resync
    from a snapshot.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise InputError(f"StreamLog capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: dict[str, deque[StreamItem]] = {}
        self._last: dict[str, int] = {}

    def publish(self, stream: str, make: Callable[[int], StreamItem]) -> StreamItem:
        """Append ``make(seq)`` with the stream's next ``seq``; returns it."""
        seq = self._last.get(stream, 0) + 1
        item = make(seq)
        if getattr(item, "seq", None) != seq or getattr(item, "stream", None) != stream:
            raise InputError(f"StreamLog.publish: item must carry stream={stream!r} seq={seq}")
        self._items.setdefault(stream, deque(maxlen=self.capacity)).append(item)
        self._last[stream] = seq
        return item

    def last_seq(self, stream: str) -> int:
        return self._last.get(stream, 0)

    def streams(self) -> list[str]:
        return sorted(self._last)

    def after(self, stream: str, after_seq: int, limit: int = 1000) -> tuple[StreamItem, ...]:
        """Items with ``seq > after_seq``, oldest first, at most ``limit``."""
        items = self._items.get(stream)
        if not items:
            return ()
        first = items[0].seq
        start = max(0, after_seq + 1 - first)
        return tuple(items[i] for i in range(start, min(len(items), start + max(0, limit))))


class SeqChecker:
    """Subscriber side: feed it what a stream delivered; it reports the ``seq`` ranges never seen."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def check(self, items: Iterable[StreamItem]) -> list[tuple[str, int, int]]:
        """Holes as ``(stream, first_missing, last_missing)``; raises InputError on a repeated or backward seq."""
        holes: list[tuple[str, int, int]] = []
        for item in items:
            last = self.last.get(item.stream, 0)
            if item.seq <= last:
                raise InputError(f"stream {item.stream}: seq {item.seq} after {last} (repeated or reordered)")
            if item.seq > last + 1:
                holes.append((item.stream, last + 1, item.seq - 1))
            self.last[item.stream] = item.seq
        return holes


def trade_id_gap(last_id: int | None, ids: Sequence[int]) -> tuple[int, int] | None:
    """The missing trade-id range ``(first, last)`` before ``ids`` when the ids skip, else None.

    For venues whose public trade ids are consecutive per symbol (Binance).
    Ids at or below ``last_id`` (replays after a reconnect) are ignored.
    """
    expected = None if last_id is None else last_id + 1
    for i in ids:
        if expected is not None and i < expected:
            continue
        if expected is not None and i > expected:
            return expected, i - 1
        expected = i + 1
    return None


def bar_time_gap(last_ts: int | None, ts: int, timeframe_ms: int) -> bool:
    """True when bar ``ts`` is more than one ``timeframe_ms`` after ``last_ts`` (bars were skipped)."""
    return last_ts is not None and ts > last_ts + timeframe_ms


def merge_recovered(live: Sequence[Any], fetched: Iterable[Any], key: Callable[[Any], int],
                    last: int | None) -> list[tuple[Any, bool]]:
    """What to publish after a gap, in key order: ``(item, recovered)`` pairs.

    ``live``: items just received on the stream; ``fetched``: items fetched
    over REST since ``last`` (the last key published). Live items above
    ``last`` are kept (``recovered=False``); fetched items above ``last`` that
    the stream skipped - below the newest live key, or any when nothing live
    arrived - are added with ``recovered=True``. Keys are unique in the result.
    """
    out: dict[int, tuple[Any, bool]] = {}
    for item in live:
        k = key(item)
        if last is None or k > last:
            out.setdefault(k, (item, False))
    top = max(out) if out else None
    for item in fetched:
        k = key(item)
        if (last is None or k > last) and (top is None or k < top) and k not in out:
            out[k] = (item, True)
    return [out[k] for k in sorted(out)]


# ---------------------------------------------------------------- parsing (ccxt unified -> messages)
def _f(x: Any, default: float = 0.0) -> float:
    return default if x is None else float(x)


_STATUS = {"open": "open", "closed": "closed", "canceled": "canceled", "cancelled": "canceled",
           "expired": "canceled", "rejected": "rejected"}


def parse_order(venue: str, o: dict[str, Any]) -> OrderUpdate:
    """A ccxt unified order dict -> :class:`OrderUpdate` (status mapped onto open/closed/canceled/rejected)."""
    fee = o.get("fee") or {}
    fees = o.get("fees") or ([fee] if fee else [])
    fee_cost = sum(_f(f.get("cost")) for f in fees if f)
    currency = next((f.get("currency") for f in fees if f and f.get("currency")), None)
    amount = _f(o.get("amount"))
    filled = _f(o.get("filled"))
    remaining = o.get("remaining")
    return OrderUpdate(
        venue=venue, symbol=o["symbol"], client_order_id=o.get("clientOrderId") or "",
        order_id=None if o.get("id") is None else str(o["id"]),
        status=_STATUS.get(o.get("status") or "", "unknown"), side=o.get("side") or "buy",
        type=o.get("type") or "limit", amount=amount, filled=filled,
        remaining=_f(remaining, max(0.0, amount - filled)), average=o.get("average"), price=o.get("price"),
        fee_cost=fee_cost, fee_currency=currency, timestamp_ms=o.get("timestamp"),
    )


def parse_fill(venue: str, t: dict[str, Any], client_order_id: str | None = None) -> Fill:
    """A ccxt unified trade of ours (``fetch_my_trades``) -> :class:`Fill`."""
    fee = t.get("fee") or {}
    return Fill(venue=venue, symbol=t["symbol"], trade_id=str(t["id"]), order_id=str(t.get("order")),
                client_order_id=client_order_id, side=t.get("side") or "buy", price=_f(t.get("price")),
                amount=_f(t.get("amount")), fee_cost=_f(fee.get("cost")), fee_currency=fee.get("currency"),
                is_maker=None if t.get("takerOrMaker") is None else t["takerOrMaker"] == "maker",
                timestamp_ms=int(t.get("timestamp") or 0))


def answered_trades(symbol: str, order: dict[str, Any], filled: float) -> list[dict[str, Any]] | None:
    """The fills a venue's answer to a create carries (ccxt ``order["trades"]``: Binance ``newOrderRespType=FULL``
    lists each with its trade id, price, qty and commission), completed as :func:`parse_fill` needs them; None
    unless they are all of the order's fills (each has an id, an amount and a fee cost, and the amounts add up to
    ``filled``, base units), so that a REST fetch is still needed. An answer's fills happened as the order
    arrived: the order took liquidity (taker) at the answer's time, which ccxt leaves off a fill of the answer."""
    trades = order.get("trades") or []
    if not trades or any(t.get("id") is None or t.get("amount") is None or (t.get("fee") or {}).get("cost") is None
                         for t in trades):
        return None
    if not math.isclose(sum(float(t["amount"]) for t in trades), filled, rel_tol=1e-9, abs_tol=1e-12):
        return None
    return [{**t, "symbol": t.get("symbol") or symbol, "order": t.get("order") or order.get("id"),
             "side": t.get("side") or order.get("side"), "takerOrMaker": t.get("takerOrMaker") or "taker",
             "timestamp": t.get("timestamp") or order.get("timestamp")} for t in trades]


def parse_trade(t: dict[str, Any]) -> TradeTick:
    """A ccxt unified public trade -> :class:`TradeTick`."""
    return TradeTick(trade_id=str(t["id"]), price=_f(t.get("price")), amount=_f(t.get("amount")),
                     side=t.get("side"), timestamp_ms=int(t.get("timestamp") or 0))


def parse_bar(timeframe: str, row: Sequence[Any]) -> BarTick:
    """A ccxt OHLCV row ``[t, o, h, l, c, v]`` -> :class:`BarTick`."""
    return BarTick(timeframe, int(row[0]), _f(row[1]), _f(row[2]), _f(row[3]), _f(row[4]), _f(row[5]))


def parse_book(book: dict[str, Any], depth: int) -> BookSnapshot:
    """A ccxt order book -> the top ``depth`` levels per side."""
    def side(levels: Any) -> tuple[tuple[float, float], ...]:
        return tuple((float(p), float(q)) for p, q, *_ in list(levels)[:depth])

    nonce = book.get("nonce")
    return BookSnapshot(side(book.get("bids") or ()), side(book.get("asks") or ()),
                        None if nonce is None else int(nonce), book.get("timestamp"))


def parse_balance(balance: dict[str, Any]) -> tuple[AssetBalance, ...]:
    """A ccxt balance -> assets with a non-zero total, by name."""
    out = []
    for asset, total in sorted((balance.get("total") or {}).items()):
        if total:
            out.append(AssetBalance(asset, _f(balance.get("free", {}).get(asset)),
                                    _f(balance.get("used", {}).get(asset)), _f(total)))
    return tuple(out)
