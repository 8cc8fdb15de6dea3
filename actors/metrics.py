"""The trading actors' application metrics (``ray.util.metrics``), defined in one place.

Every metric of the trading side is declared in :data:`METRICS` (name, kind,
tag keys, histogram boundaries); the API's are in :mod:`api.metrics`. Ray's
metrics agent exports them on each node with the prefix ``ray_``, so the
Counter ``raytrader_orders_sent`` is ``ray_raytrader_orders_sent_total`` in
Prometheus, a Histogram ``raytrader_order_latency_ms`` gives
``ray_raytrader_order_latency_ms_bucket|_sum|_count`` and a Gauge keeps its
name (``ray_raytrader_equity``). ``raytrader up`` starts a Prometheus that
scrapes them (:mod:`cluster.prometheus`); ``cluster/monitoring/`` has the
Grafana dashboard and the alert rules over these names.

Tags have few values: a venue, a quote currency, a risk reason code, a trading
state, a consumer name; never an order or client order id.

Recording is a no-op in a process that is not connected to Ray (the CLI
reading the journal, unit tests of the pure cores), so callers never guard.

A gauge holds its last value until it is set again, for as long as the
process that set it lives. Ray does not do that by itself: a worker exports a
gauge only in an export interval (``metrics_report_interval_ms``, 10 s) in
which it was set, and the node's metrics agent drops a series that no export
carried for two intervals, after which Prometheus marks it stale. A gauge set
when something changes (a fill, a bar, a new VaR) therefore vanished from
Prometheus 20 s after the last change - after a replay ended, while nothing
filled, while the RiskMonitor skipped an unchanged snapshot: the
"intermittent gauges" of issue 16. So :func:`set_gauge` remembers each
series' last value and one daemon thread per process reports them all again
every :func:`gauge_refresh_s` seconds (half the export interval).
Counts of order events come from the journal entries the OMS writes
(:func:`order_event_counts`, pure), so a count means "journaled".

For the risk helper (``actors/risk_monitor.py``): set the live VaR with
``actors.metrics.set_var(var=..., limit=..., quote="USDT", method="historical")``
(both positive quote-currency amounts at the configured confidence; ``limit``
None when no VaR limit is configured) each time it is recomputed; the alert
``RaytraderVarOverLimit`` in ``cluster/monitoring/alerts.yml`` fires when
``ray_raytrader_var > ray_raytrader_var_limit``. Other live risk numbers
(ES, drawdown) can go through :func:`set_gauge` once declared in
:data:`METRICS` (``raytrader_es``, ``raytrader_drawdown`` are already).
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

__all__ = ["MetricSpec", "METRICS", "PROMETHEUS_PREFIX", "prometheus_names", "order_event_counts",
           "count_order_events", "inc", "observe", "set_gauge", "set_trading_state", "set_var",
           "equity_by_venue", "gauge_refresh_s", "TRADING_STATES", "LATENCY_BOUNDARIES_MS"]

log = logging.getLogger(__name__)

#: what Ray's metrics agent puts before every application metric's name in Prometheus
PROMETHEUS_PREFIX = "ray_"
#: histogram buckets of every latency here, milliseconds
LATENCY_BOUNDARIES_MS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
#: the trading states of :class:`risk.pretrade.TradingState`: ``raytrader_trading_state`` is 1 for the current one
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``kind`` counter | gauge | histogram; ``boundaries`` only for histograms (bucket upper bounds)."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    description: str
    tag_keys: tuple[str, ...]
    boundaries: tuple[float, ...] = ()


def _specs(*specs: MetricSpec) -> dict[str, MetricSpec]:
    return {s.name: s for s in specs}


METRICS: dict[str, MetricSpec] = _specs(
    MetricSpec("raytrader_orders_sent", "counter", "orders sent to a venue (journaled SUBMIT)", ("venue",)),
    MetricSpec("raytrader_orders_acked", "counter",
               "orders the venue confirmed (left SUBMITTED for open, partially filled or filled)", ("venue",)),
    MetricSpec("raytrader_orders_filled", "counter", "orders completely filled", ("venue",)),
    MetricSpec("raytrader_orders_rejected", "counter", "orders the venue refused (or proved absent)", ("venue",)),
    MetricSpec("raytrader_orders_denied", "counter", "orders the pre-trade risk check refused (never sent)",
               ("venue", "reason")),
    MetricSpec("raytrader_fills", "counter", "fills booked by the order manager", ("venue",)),
    MetricSpec("raytrader_order_latency_ms", "histogram",
               "ExchangeActor.place: from the call until the venue's answer (or its resolution), ms", ("venue",),
               LATENCY_BOUNDARIES_MS),
    MetricSpec("raytrader_tick_to_order_ms", "histogram",
               "ExchangeActor: from receiving the bar a strategy decided on until sending its order to the venue "
               "(through runner, risk check, order manager, journal), ms",
               ("venue",), LATENCY_BOUNDARIES_MS),
    MetricSpec("raytrader_equity", "gauge",
               "account equity on a venue in its quote currency: the reconciled balances plus what was booked "
               "since, base assets at the last bar close", ("venue", "quote")),
    MetricSpec("raytrader_pnl", "gauge", "portfolio PnL per quote currency (kind: realized, unrealized, total)",
               ("quote", "kind")),
    MetricSpec("raytrader_exposure", "gauge", "gross notional of the open positions, quote currency", ("quote",)),
    MetricSpec("raytrader_var", "gauge", "live value at risk, a positive loss in the quote currency (RiskMonitor)",
               ("quote", "method")),
    MetricSpec("raytrader_var_limit", "gauge", "the configured VaR limit, quote currency (RiskMonitor)",
               ("quote", "method")),
    MetricSpec("raytrader_es", "gauge", "live expected shortfall, quote currency (RiskMonitor)", ("quote", "method")),
    MetricSpec("raytrader_drawdown", "gauge", "live drawdown from the equity peak, a fraction 0..1 (RiskMonitor)",
               ("quote",)),
    MetricSpec("raytrader_trading_state", "gauge", "1 for the OMS's current trading state, 0 for the others",
               ("state",)),
    MetricSpec("raytrader_journal_lag_entries", "gauge",
               "journal entries appended but not yet booked by a consumer", ("consumer",)),
    MetricSpec("raytrader_journal_lag_ms", "gauge",
               "age of the newest journal entry a consumer booked, at the moment it booked it, ms", ("consumer",)),
    MetricSpec("raytrader_journal_append_ms", "histogram", "one journal append (Redis round trip, fsync), ms",
               (), LATENCY_BOUNDARIES_MS),
    MetricSpec("raytrader_reconciliations", "counter", "reconciliations with a venue (outcome ok | failed)",
               ("venue", "outcome")),
)


def prometheus_names(spec: MetricSpec) -> tuple[str, ...]:
    """The series names ``spec`` has in Prometheus (Ray's prefix; ``_total`` for counters; histogram parts)."""
    base = PROMETHEUS_PREFIX + spec.name
    if spec.kind == "counter":
        return (base + "_total",)
    if spec.kind == "histogram":
        return (base + "_bucket", base + "_sum", base + "_count")
    return (base,)


# ------------------------------------------------------------------ recording (a no-op outside Ray)

def _connected() -> bool:
    ray = sys.modules.get("ray")  # never imported here: a process without Ray records nothing
    return bool(ray is not None and ray.is_initialized())


@functools.cache
def _metric(name: str) -> Any:
    from ray.util import metrics as ray_metrics  # noqa: PLC0415 - only in processes already connected to Ray

    spec = METRICS[name]
    if spec.kind == "counter":
        return ray_metrics.Counter(spec.name, description=spec.description, tag_keys=spec.tag_keys)
    if spec.kind == "gauge":
        return ray_metrics.Gauge(spec.name, description=spec.description, tag_keys=spec.tag_keys)
    return ray_metrics.Histogram(spec.name, description=spec.description, boundaries=list(spec.boundaries),
                                 tag_keys=spec.tag_keys)


def _record(name: str, method: str, value: float, tags: Mapping[str, str]) -> None:
    if name not in METRICS:
        raise KeyError(f"metric {name!r} is not declared in actors.metrics.METRICS")
    if not _connected():
        return
    try:
        getattr(_metric(name), method)(value, tags={k: str(v) for k, v in tags.items()} or None)
    except Exception as exc:  # noqa: BLE001 - a metric must never break trading
        log.debug("metric %s not recorded: %s", name, type(exc).__name__)


def inc(name: str, value: float = 1.0, **tags: str) -> None:
    """Add ``value`` to the counter ``name``."""
    _record(name, "inc", value, tags)


def observe(name: str, value: float, **tags: str) -> None:
    """Record one observation of the histogram ``name``."""
    _record(name, "observe", value, tags)


#: Ray's default ``metrics_report_interval_ms`` (used when the running Ray does not say), milliseconds
_RAY_EXPORT_INTERVAL_MS = 10_000
#: (gauge name, sorted tags) -> the last value this process set
_gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
_gauges_lock = threading.Lock()
_refresher: list[threading.Thread] = []


def gauge_refresh_s() -> float:
    """Seconds between two re-reports of this process' gauges: half of Ray's export interval (at least 1 s), so
    every interval carries each gauge although the agent keeps a series only two intervals."""
    try:
        import ray  # noqa: PLC0415 - only called in processes already connected to Ray

        interval_ms = float(ray._config.metrics_report_interval_ms())
    except Exception:  # noqa: BLE001 - a Ray without this private accessor: its documented default
        interval_ms = _RAY_EXPORT_INTERVAL_MS
    return max(1.0, interval_ms / 2000.0)


def _refresh_gauges(every_s: float) -> None:
    while True:
        time.sleep(every_s)
        if not _connected():
            continue
        with _gauges_lock:
            current = list(_gauges.items())
        for (name, tags), value in current:
            _record(name, "set", value, dict(tags))


def set_gauge(name: str, value: float, **tags: str) -> None:
    """Set the gauge ``name``; the process reports this value again every :func:`gauge_refresh_s` seconds until
    it sets a new one for the same tags (see the module doc: Ray alone would forget it 20 s after)."""
    value = float(value)  # numpy integers are not int: Ray's Gauge.set would refuse them
    _record(name, "set", value, tags)
    if not _connected():
        return
    with _gauges_lock:
        _gauges[(name, tuple(sorted((k, str(v)) for k, v in tags.items())))] = value
        if not _refresher:
            thread = threading.Thread(target=_refresh_gauges, args=(gauge_refresh_s(),), name="raytrader-gauges",
                                      daemon=True)
            _refresher.append(thread)
            thread.start()


def set_trading_state(state: str) -> None:
    """``raytrader_trading_state``: 1 for ``state``, 0 for every other state."""
    for s in TRADING_STATES:
        set_gauge("raytrader_trading_state", 1.0 if s == state else 0.0, state=s)


def set_var(var: float, limit: float | None, quote: str, method: str = "historical") -> None:
    """The RiskMonitor's live VaR (and its limit, when configured), positive quote-currency amounts."""
    set_gauge("raytrader_var", var, quote=quote, method=method)
    if limit is not None:
        set_gauge("raytrader_var_limit", limit, quote=quote, method=method)


# ------------------------------------------------------------------ pure: what to count, what to show

def order_event_counts(entries: Iterable[tuple[Any, Any]]) -> list[tuple[str, dict[str, str]]]:
    """The counter increments a batch of journal entries stands for: ``(metric name, tags)`` per increment.

    Reads ``STATE_CHANGE`` entries (SUBMIT -> sent; out of SUBMITTED/UNKNOWN to a venue-confirmed state ->
    acked; to FILLED -> filled; to REJECTED -> rejected; to DENIED -> denied, tagged with the risk reason),
    ``FILL`` entries (fills) and ``RECONCILIATION`` results. Other kinds count nothing.
    """
    out: list[tuple[str, dict[str, str]]] = []
    for kind, payload in entries:
        k = getattr(kind, "value", kind)
        if k == "fill":
            out.append(("raytrader_fills", {"venue": payload.venue}))
        elif k == "reconciliation":
            out.append(("raytrader_reconciliations",
                        {"venue": payload.venue, "outcome": "ok" if payload.ok else "failed"}))
        elif k == "state_change":
            venue, to = payload.venue, payload.to_state
            if payload.event == "SUBMIT":
                out.append(("raytrader_orders_sent", {"venue": venue}))
            if payload.from_state in ("SUBMITTED", "UNKNOWN") and to in ("ACCEPTED", "PARTIALLY_FILLED", "FILLED"):
                out.append(("raytrader_orders_acked", {"venue": venue}))
            if to == "FILLED" and payload.from_state != "FILLED":
                out.append(("raytrader_orders_filled", {"venue": venue}))
            elif to == "REJECTED" and payload.from_state != "REJECTED":
                out.append(("raytrader_orders_rejected", {"venue": venue}))
            elif to == "DENIED":
                out.append(("raytrader_orders_denied", {"venue": venue, "reason": payload.reason or "unknown"}))
    return out


def count_order_events(entries: Iterable[tuple[Any, Any]]) -> None:
    """Increment the counters :func:`order_event_counts` finds in ``entries`` (journaled ones)."""
    if not _connected():
        return
    for name, tags in order_event_counts(entries):
        inc(name, **tags)


def equity_by_venue(balances_then: Mapping[str, Mapping[str, float]],
                    booked_then: Mapping[str, Mapping[tuple[str, str], float]],
                    booked_now: Mapping[tuple[str, str], float],
                    marks: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Equity per ``(venue, quote)``: each asset's reconciled balance on the venue plus what the ledger booked
    since (``booked_now - booked_then``, per ``(venue, asset)``), quote assets at 1 and base assets at the mark of
    their ``BASE/QUOTE`` symbol. Assets with no marked symbol are left out; a venue never reconciled is absent."""
    out: dict[tuple[str, str], float] = {}
    for venue, balances in balances_then.items():
        then = booked_then.get(venue, {})

        def held(asset: str, venue: str = venue, balances: Mapping[str, float] = balances,
                 then: Mapping[tuple[str, str], float] = then) -> float:
            return balances.get(asset, 0.0) + booked_now.get((venue, asset), 0.0) - then.get((venue, asset), 0.0)

        symbols = sorted(s for (v, s) in marks if v == venue)
        for quote in sorted({s.split("/")[1] for s in symbols}):
            value = held(quote)
            for symbol in symbols:
                base, q = symbol.split("/")
                if q == quote:
                    value += held(base) * marks[(venue, symbol)]
            out[(venue, quote)] = value
    return out
