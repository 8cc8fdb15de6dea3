"""actors/metrics.py without Ray: which counters a batch of journal entries moves (entries made by the order
manager's real pure steps), equity per venue, and that recording outside Ray is a silent no-op."""

from __future__ import annotations

import pytest

from actors import metrics
from actors import order_manager as om
from actors.journal import EntryKind
from actors.messages import Fill, OrderIntent, OrderUpdate, ReconciliationResult
from risk.pretrade import RiskLimits, RiskView

NOW = 1_733_040_000_000
VIEW = RiskView(positions={}, last_prices={("binance", "XRP/ETH"): 0.0005, ("kraken", "XRP/ETH"): 0.0005})


def _update(cid: str, venue: str, status: str, filled: float = 0.0) -> OrderUpdate:
    return OrderUpdate(venue, "XRP/ETH", cid, "o-" + cid[-6:], status, "buy", "market", 100.0, filled, 100.0 - filled,
                       0.0005 if filled else None, None, 0.0, None, NOW)


def _counts(entries: list) -> dict[tuple[str, tuple], int]:
    out: dict[tuple[str, tuple], int] = {}
    for name, tags in metrics.order_event_counts(entries):
        key = (name, tuple(sorted(tags.items())))
        out[key] = out.get(key, 0) + 1
    return out


def test_counts_follow_the_order_managers_own_entries() -> None:
    state = om.initial_oms_state("t", RiskLimits(), NOW)
    entries: list = []

    def take(result: tuple) -> om.Step:
        nonlocal state
        state, step = result
        entries.extend(step.entries)
        return step

    # 1: sent on binance, acked (open), then filled completely
    take(om.submit(state, OrderIntent("binance", "XRP/ETH", "buy", "market", 100.0, "i1"), VIEW, NOW))
    cid1 = om.client_order_id("t", "i1")
    take(om.on_update(state, _update(cid1, "binance", "open"), NOW))
    take(om.on_fill(state, Fill("binance", "XRP/ETH", "t1", "o-" + cid1[-6:], cid1, "buy", 0.0005, 100.0, 0.0, None,
                                False, NOW), NOW))
    # 2: sent on kraken, rejected by the venue
    take(om.submit(state, OrderIntent("kraken", "XRP/ETH", "buy", "market", 100.0, "i2"), VIEW, NOW))
    take(om.on_update(state, _update(om.client_order_id("t", "i2"), "kraken", "rejected"), NOW))
    # 3: notional 5e6 * 0.0005 = 2,500 > the 1,000 per-order limit: denied before it is sent
    take(om.submit(state, OrderIntent("binance", "XRP/ETH", "buy", "market", 5e6, "i3"), VIEW, NOW))
    entries.append((EntryKind.RECONCILIATION, ReconciliationResult("binance", True, 0)))
    entries.append((EntryKind.RECONCILIATION, ReconciliationResult("kraken", False, 0, detail="timeout")))

    got = _counts(entries)
    b, k = (("venue", "binance"),), (("venue", "kraken"),)
    assert got == {
        ("raytrader_orders_sent", b): 1, ("raytrader_orders_sent", k): 1,
        ("raytrader_orders_acked", b): 1,
        ("raytrader_orders_filled", b): 1, ("raytrader_fills", b): 1,
        ("raytrader_orders_rejected", k): 1,
        ("raytrader_orders_denied", (("reason", "NOTIONAL_EXCEEDS_MAX_PER_ORDER"), ("venue", "binance"))): 1,
        ("raytrader_reconciliations", (("outcome", "ok"), ("venue", "binance"))): 1,
        ("raytrader_reconciliations", (("outcome", "failed"), ("venue", "kraken"))): 1,
    }
    # every name counted is declared, with exactly the declared tag keys
    for name, tags in metrics.order_event_counts(entries):
        assert set(tags) == set(metrics.METRICS[name].tag_keys)


def test_equity_adds_what_was_booked_since_reconciliation_at_the_marks() -> None:
    balances_then = {"binance": {"ETH": 10.0, "XRP": 1000.0}, "kraken": {"ETH": 5.0}}
    booked_then = {"binance": {("binance", "ETH"): -0.1, ("binance", "XRP"): 200.0}, "kraken": {}}
    booked_now = {("binance", "ETH"): -0.3, ("binance", "XRP"): 600.0, ("kraken", "ETH"): 0.0}
    marks = {("binance", "XRP/ETH"): 0.0005, ("kraken", "XRP/ETH"): 0.0004}
    got = metrics.equity_by_venue(balances_then, booked_then, booked_now, marks)
    # binance: ETH 10 - 0.3 + 0.1 = 9.8; XRP 1000 + 600 - 200 = 1400 at 0.0005 = 0.7 -> 10.5
    # kraken: ETH 5; no XRP -> 5.0
    assert got == {("binance", "ETH"): pytest.approx(10.5), ("kraken", "ETH"): pytest.approx(5.0)}
    assert metrics.equity_by_venue({}, {}, booked_now, marks) == {}  # nothing reconciled yet: no equity


def test_prometheus_names_follow_rays_export() -> None:
    spec = metrics.METRICS
    assert metrics.prometheus_names(spec["raytrader_orders_sent"]) == ("ray_raytrader_orders_sent_total",)
    assert metrics.prometheus_names(spec["raytrader_equity"]) == ("ray_raytrader_equity",)
    assert metrics.prometheus_names(spec["raytrader_order_latency_ms"]) == (
        "ray_raytrader_order_latency_ms_bucket", "ray_raytrader_order_latency_ms_sum",
        "ray_raytrader_order_latency_ms_count")


def test_recording_outside_ray_is_a_no_op_but_an_undeclared_name_is_an_error() -> None:
    """In a fresh interpreter (earlier tests of this session may have initialised Ray in this one)."""
    import subprocess
    import sys

    code = """
import ray
from actors import metrics
assert not ray.is_initialized()
metrics.inc("raytrader_orders_sent", venue="binance")
metrics.observe("raytrader_journal_append_ms", 1.5)
metrics.set_trading_state("HALTED")
metrics.set_var(10.0, 20.0, quote="USDT")
metrics.set_gauge("raytrader_equity", 12.5, venue="binance", quote="ETH")
assert not ray.is_initialized()  # recording did not start Ray either
import threading
assert "raytrader-gauges" not in [t.name for t in threading.enumerate()]  # nothing to re-report outside Ray
try:
    metrics.inc("raytrader_nope")
except KeyError as exc:
    assert "raytrader_nope" in str(exc)
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
