"""The Prometheus ``raytrader up`` starts: a short paper session's metrics (actors/metrics.py) and the API's
(api/metrics.py) are found through Prometheus' own HTTP query API on the shared test cluster, which the
dashboard queries too; ``raytrader down`` stops it; a missing binary is named with the install command.

Real parts only: Debian's prometheus scraping Ray's metrics agent through the service-discovery file Ray
writes, real actors trading on two emulated venues, the deployed Serve API."""

from __future__ import annotations

import functools
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from actors.metrics import LATENCY_BOUNDARIES_MS, METRICS, prometheus_names
from cluster import prometheus
from market.samples import load_sample
from raytrader.config import load_config
from raytrader.state import ProcessRecord
from tests._trade import wait_for

#: seconds after its last ``set`` that Ray alone would have dropped a gauge (two 10 s export intervals), plus a
#: Prometheus scrape (the test clusters': tests/conftest.py) and 2 s: gauges checked this long after the numbers
#: stopped changing prove that they are re-reported
QUIET_S = 20.0 + load_config().prometheus.scrape_interval_s + 2.0
#: seconds for a sample to travel actor -> Ray's metrics agent -> Prometheus scrape on a loaded machine
METRICS_DEADLINE_S = 240.0
#: the VaR limit this test configures (quote currency, ETH): far above any loss of a 10 ETH account, never breached
VAR_LIMIT = 1000.0

#: :func:`tests._trade.wait_for`, polled every 1.0 s
_poll = functools.partial(wait_for, every_s=1.0)


def _value(url: str, promql: str) -> float | None:
    """The single value of an aggregate query, or None while Prometheus has no sample for it."""
    result = prometheus.query(url, promql)
    return float(result[0]["value"][1]) if result else None


def test_the_cluster_prometheus_is_ready_on_loopback_and_the_dashboard_uses_it(cluster: Any) -> None:
    from cluster.rayenv import ray_token_headers

    config = load_config()
    record = prometheus.read_record(config)
    assert record is not None and prometheus.alive(record), record
    assert record.url == f"http://127.0.0.1:{record.port}"
    assert Path(record.data_dir).is_relative_to(config.cluster.home)  # its data lives in the run folder
    listening = [c.laddr for c in psutil.Process(record.process.pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(a.ip == "127.0.0.1" for a in listening), listening
    # Ray wrote its service-discovery file into this head's session folder, and Prometheus scrapes its targets
    up = _poll(lambda: prometheus.query(record.url, 'up{job="ray"} == 1'), 60, "a Ray target scraped")
    targets = json.loads(Path(record.sd_file).read_text())[0]["targets"]  # read after: Ray adds exporters late
    assert targets and all(t.startswith("127.0.0.1:") for t in targets)
    assert {r["metric"]["instance"] for r in up} <= set(targets)
    # the dashboard was started with RAY_PROMETHEUS_HOST pointing here, and reaches it
    req = urllib.request.Request(f"{cluster.ray.dashboard_url}/api/prometheus_health", headers=ray_token_headers())
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200 and json.loads(resp.read())["result"] is True


def _series(url: str, promql: str) -> dict[tuple[str, ...], float]:
    """An instant query's result as {tuple of the label values of ``promql``'s ``by (...)`` labels: value}."""
    keys = promql.split("by (", 1)[1].split(")", 1)[0].replace(" ", "").split(",") if "by (" in promql else []
    return {tuple(r["metric"].get(k, "") for k in keys): float(r["value"][1]) for r in prometheus.query(url, promql)}


def test_a_paper_sessions_metrics_are_found_through_prometheus(cluster: Any, ray_session: None,
                                                                deployed_api: dict[str, Any],
                                                                paper_metrics: Any) -> None:
    """Every counter, histogram and gauge the trading actors declare, with plausible values, and the API's
    requests and latency per route template under Serve.

    The paper session is the shared one of tests/_paper.py (sma_cross(3, 8) on binance and coinbase, traded until
    each venue filled a few orders, strategies stopped; the audit-trail tests read it before this test adds its
    orders); it stays live after this test for the live-risk test.

    The gauges are read after the numbers behind them stopped changing for :data:`QUIET_S` (strategies stopped,
    the trading state last set at the resume): Ray's agent alone would have dropped them by then, so this checks
    that actors.metrics re-reports them (issue 16's "intermittent gauges")."""
    import ray

    from actors.messages import OrderIntent

    url = prometheus.read_record(load_config()).url
    # the API: a route that answers, one that refuses without a token, one that does not exist
    port = deployed_api["port"]
    for path in ("/v1/ready", "/v1/health", "/v1/no-such-route"):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).close()
        except urllib.error.HTTPError:
            pass

    session = paper_metrics
    oms, risk = session.oms, session.actor("risk")
    venues = list(session.request.venues)
    # live VaR from 5 returns on (the default 99 % needs 100: one in the tail), a VaR limit, and capital for
    # the drawdown fraction
    limits = ray.get(risk.set_live_limits.remote(min_samples=5, confidence=0.8, max_var=VAR_LIMIT, capital=100.0),
                     timeout=60)
    assert limits["max_var"] == VAR_LIMIT

    def filled_on_every_venue() -> bool:
        fills = {o["venue"] for o in ray.get(oms.orders.remote(), timeout=60) if o["state"] == "FILLED"}
        return set(venues) <= fills

    _poll(filled_on_every_venue, 180, "a filled order on every venue")
    session.stop_strategies()  # from here on no bar reaches the OMS: equity is not set again by the actors
    venue = venues[0]
    # hold a position (live VaR needs one): 1,000 XRP at ~0.0014 ETH is ~1.4 ETH, within every limit
    held = OrderIntent(venue, session.symbol, "buy", "market", 1_000, f"metrics-hold-{time.time_ns()}")
    holding = ray.get(oms.submit_intent.remote(held), timeout=60)
    assert holding["state"] == "FILLED", holding
    # a venue rejection: 100,000 XRP at ~0.0014 ETH is ~140 ETH, more than the session deposited (10 ETH):
    # within the risk limits, refused by the venue for insufficient balance
    big = OrderIntent(venue, session.symbol, "buy", "market", 100_000, f"metrics-too-big-{time.time_ns()}")
    rejected = ray.get(oms.submit_intent.remote(big), timeout=60)
    assert rejected["state"] == "REJECTED", rejected
    # a risk denial while HALTED, then ACTIVE again
    assert ray.get(risk.halt.remote("metrics test"), timeout=60) == "HALTED"
    try:
        halted = OrderIntent(venue, session.symbol, "buy", "market", 10, f"metrics-halted-{time.time_ns()}")
        denied = ray.get(oms.submit_intent.remote(halted), timeout=60)
        assert denied["state"] == "DENIED", denied
    finally:
        assert ray.get(risk.resume.remote("metrics test"), timeout=60) == "ACTIVE"
    quiet_since = time.monotonic()  # the OMS set its trading state last here, its equity before
    sent_here = sum(1 for o in ray.get(oms.orders.remote(), timeout=60) if o["state"] != "DENIED")

    # every counter and histogram, on every venue
    def counted() -> list[str]:
        need = [f'sum(ray_raytrader_orders_sent_total{{venue="{v}"}})' for v in venues]
        need += [f'sum(ray_raytrader_orders_filled_total{{venue="{v}"}})' for v in venues]
        need += [f'sum(ray_raytrader_order_latency_ms_count{{venue="{v}"}})' for v in venues]
        need += [f'sum(ray_raytrader_tick_to_order_ms_count{{venue="{v}"}})' for v in venues]
        need += [f'sum(ray_raytrader_reconciliations_total{{venue="{v}", outcome="ok"}})' for v in venues]
        need += [f'sum(ray_raytrader_orders_acked_total{{venue="{v}"}})' for v in venues]
        need += [f'sum(ray_raytrader_fills_total{{venue="{v}"}})' for v in venues]
        need += [f'sum(ray_raytrader_orders_rejected_total{{venue="{venue}"}})',
                 'sum(ray_raytrader_orders_denied_total{reason="TRADING_HALTED"})']
        return [q for q in need if (_value(url, q) or 0) < 1]

    _poll(lambda: not counted(), METRICS_DEADLINE_S, "every counter and histogram on every venue")
    for name, spec in METRICS.items():
        if spec.kind != "gauge":
            assert prometheus.query(url, prometheus_names(spec)[0]), name
    # counters are cumulative over the shared cluster: at least what this session did
    _poll(lambda: (_value(url, "sum(ray_raytrader_orders_sent_total)") or 0) >= sent_here, METRICS_DEADLINE_S,
          f"orders_sent >= this session's {sent_here}")
    assert _value(url, "sum(ray_raytrader_journal_append_ms_count)") >= sent_here
    p99 = _value(url, "histogram_quantile(0.99, sum by (le) (ray_raytrader_tick_to_order_ms_bucket))")
    assert p99 is not None and 0 < p99 <= LATENCY_BOUNDARIES_MS[-1], p99  # over every order since the start

    # every gauge, after the numbers behind equity and the trading state stopped changing (docstring)
    time.sleep(max(0.0, quiet_since + QUIET_S - time.monotonic()))
    deposited = session.request.cash * 2  # per venue: cash ETH + the same value in XRP at the first close
    closes = load_sample(session.request.sample).close[session.request.warmup_bars:]
    base, quote = session.symbol.split("/")

    def gauges_plausible() -> list[str]:
        bad = []
        # equity: the venue's own balances, XRP at a bar close of the replay (the OMS marks at its last close)
        change = session.venue_balance_changes()
        held_at = {v: (session.deposits[v][quote] + change.get(f"{v}:{quote}", 0.0),
                       session.deposits[v][base] + change.get(f"{v}:{base}", 0.0)) for v in venues}
        equity = _series(url, "sum by (venue, quote) (ray_raytrader_equity)")
        for v, (cash, coins) in held_at.items():
            low, high = cash + coins * float(min(closes)), cash + coins * float(max(closes))
            if not 0.99 * low <= equity.get((v, quote), -1.0) <= 1.01 * high:
                bad.append(f"equity {v}: {equity.get((v, quote))} outside {low:.4f}..{high:.4f}")
        pnl = _series(url, 'sum by (kind) (ray_raytrader_pnl{quote="ETH"})')
        if set(pnl) != {("realized",), ("unrealized",), ("total",)} or abs(
                pnl[("total",)] - pnl[("realized",)] - pnl[("unrealized",)]) > 1e-9 + 1e-6 * deposited:
            bad.append(f"pnl {pnl}")
        elif abs(pnl[("total",)]) > deposited * len(venues):
            bad.append(f"pnl total {pnl}")
        exposure = _value(url, 'sum(ray_raytrader_exposure{quote="ETH"})')
        if exposure is None or not 0.1 < exposure < deposited * len(venues):  # the ~1 ETH held, at least
            bad.append(f"exposure {exposure}")
        state = _series(url, "sum by (state) (ray_raytrader_trading_state)")
        if state != {("ACTIVE",): 1.0, ("REDUCING",): 0.0, ("HALTED",): 0.0}:
            bad.append(f"trading_state {state}")
        lag = _value(url, 'sum(ray_raytrader_journal_lag_entries{consumer="portfolio"})')
        lag_ms = _value(url, 'sum(ray_raytrader_journal_lag_ms{consumer="portfolio"})')
        if lag is None or lag < 0 or lag_ms is None or not 0 <= lag_ms < METRICS_DEADLINE_S * 1000:
            bad.append(f"journal lag {lag} entries, {lag_ms} ms")
        var = _value(url, 'sum(ray_raytrader_var{quote="ETH", method="historical"})')
        es = _value(url, 'sum(ray_raytrader_es{quote="ETH", method="historical"})')
        if var is None or es is None or exposure is None or not 0 <= var <= es <= exposure:
            bad.append(f"var {var} es {es} (exposure {exposure})")
        if _value(url, 'sum(ray_raytrader_var_limit{quote="ETH"})') != VAR_LIMIT:
            bad.append(f"var_limit {_value(url, 'sum(ray_raytrader_var_limit)')}")
        drawdown = _value(url, 'sum(ray_raytrader_drawdown{quote="ETH"})')
        if drawdown is None or not 0 <= drawdown <= 1:
            bad.append(f"drawdown {drawdown}")
        return bad

    _poll(lambda: not gauges_plausible(), METRICS_DEADLINE_S, "every gauge with a plausible value")
    assert {prometheus_names(s)[0] for s in METRICS.values() if s.kind == "gauge"} <= {
        r["metric"]["__name__"] for r in prometheus.query(url, '{__name__=~"ray_raytrader_.+"}')}

    # the API under Serve: requests and latency per route template (the path no route has is "unmatched")
    def api_routes() -> dict[tuple[str, ...], float]:
        return _series(url, "sum by (route, status) (ray_raytrader_api_requests_total)")

    _poll(lambda: {("/v1/ready", "2xx"), ("/v1/health", "4xx"), ("unmatched", "4xx")} <= set(api_routes()),
          METRICS_DEADLINE_S, "API requests per route template")
    latency = _series(url, "sum by (route) (ray_raytrader_api_latency_ms_count)")
    assert latency.get(("/v1/ready",), 0) >= 1 and latency.get(("/v1/health",), 0) >= 1, latency
    assert not [r for (r, _) in api_routes() if r.startswith("/v1/no-such")], api_routes()  # never a raw path


def test_down_stops_the_prometheus_up_started(own_cluster_home: Path) -> None:
    """``raytrader down`` ends the recorded Prometheus by PID (here one started without a Ray head)."""
    from cluster.cli import main

    config = load_config()
    prometheus.reserve_port(config)
    record = prometheus.start(config, ProcessRecord.of(psutil.Process().pid), str(own_cluster_home / "ray"))
    assert prometheus.query(record.url, "vector(1)")[0]["value"][1] == "1"
    assert main(["down"]) == 0
    assert not record.process.alive()
    assert prometheus.read_record(config).process is None
    assert main(["down"]) == 0  # nothing left: a no-op


def test_a_missing_prometheus_is_named_with_the_install_command(own_cluster_home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(own_cluster_home))  # no prometheus binary on it
    with pytest.raises(prometheus.PrometheusMissing, match="apt-get install prometheus"):
        prometheus.start(load_config(), ProcessRecord.of(psutil.Process().pid), str(own_cluster_home / "ray"))
