"""cluster/monitoring/: the alert rules pass ``promtool check rules`` and fire in ``promtool test rules`` on series
made for each; the Grafana dashboard queries only metrics that actors/metrics.py and api/metrics.py declare (and
shows every one of them); the Prometheus config ``raytrader up`` writes passes ``promtool check config``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from actors.metrics import METRICS, PROMETHEUS_PREFIX, MetricSpec, prometheus_names
from api.metrics import API_METRICS
from cluster.prometheus import ALERT_RULES, _config_text

MONITORING = Path(__file__).resolve().parents[2] / "cluster" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
SERIES = re.compile(rf"\b{PROMETHEUS_PREFIX}raytrader_[a-z_]+")


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool not found: install Debian's prometheus (make install does where it may)"
    return found


def _declared() -> dict[str, str]:
    """Every Prometheus series name the code declares -> the metric it belongs to."""
    specs = list(METRICS.values()) + [MetricSpec(name, kind, desc, tags, bounds)  # type: ignore[arg-type]
                                      for name, (kind, desc, tags, bounds) in API_METRICS.items()]
    return {series: spec.name for spec in specs for series in prometheus_names(spec)}


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_alert_rules_pass_promtool_check() -> None:
    out = subprocess.run([_promtool(), "check", "rules", str(ALERT_RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 4 rules found" in out.stdout
    text = ALERT_RULES.read_text()
    for alert in ("RaytraderTradingHalted", "RaytraderJournalLag", "RaytraderReconciliationFailed",
                  "RaytraderVarOverLimit"):
        assert f"alert: {alert}" in text


def test_alert_rules_name_only_declared_metrics() -> None:
    used = set(SERIES.findall(ALERT_RULES.read_text()))
    assert used and used <= set(_declared()), used - set(_declared())


def test_alert_rules_fire_on_their_series(tmp_path: Path) -> None:
    """``promtool test rules``: each alert fires on series shaped as Ray exports them (extra labels included),
    and stays quiet on the healthy ones."""
    labels = 'SessionName="s", NodeAddress="127.0.0.1", WorkerId="w1"'
    tests = {
        "rule_files": [str(ALERT_RULES)],
        "evaluation_interval": "15s",
        "tests": [{
            "interval": "15s",
            "input_series": [
                {"series": f'ray_raytrader_trading_state{{state="HALTED", {labels}}}', "values": "0 0 1 1 1 1 1 1"},
                {"series": f'ray_raytrader_trading_state{{state="ACTIVE", {labels}}}', "values": "1 1 0 0 0 0 0 0"},
                {"series": f'ray_raytrader_journal_lag_entries{{consumer="portfolio", {labels}}}',
                 "values": "0 500 500 500 500 500 500 500"},
                {"series": f'ray_raytrader_journal_lag_ms{{consumer="portfolio", {labels}}}', "values": "0x7"},
                {"series": f'ray_raytrader_reconciliations_total{{venue="binance", outcome="failed", {labels}}}',
                 "values": "0 0 1 1 1 1 1 1"},
                {"series": f'ray_raytrader_reconciliations_total{{venue="kraken", outcome="ok", {labels}}}',
                 "values": "1 2 3 4 5 6 7 8"},
                {"series": f'ray_raytrader_var{{quote="USDT", method="historical", {labels}}}',
                 "values": "50 150 150 150 150 150 150 150"},
                {"series": f'ray_raytrader_var_limit{{quote="USDT", method="historical", {labels}}}', "values": "100x7"},
            ],
            "alert_rule_test": [
                {"eval_time": "0s", "alertname": "RaytraderTradingHalted", "exp_alerts": []},
                {"eval_time": "45s", "alertname": "RaytraderTradingHalted",
                 "exp_alerts": [{"exp_labels": {"severity": "critical"}, "exp_annotations": {
                     "summary": "Trading is HALTED",
                     "description": "The order manager refuses every new order (kill switch, loss limit or a manual "
                                    "halt). `raytrader audit` shows the TRADING_STATE entry with its reason; resume "
                                    "through the RiskMonitor."}}]},
                {"eval_time": "30s", "alertname": "RaytraderJournalLag", "exp_alerts": []},  # not yet for 1m
                {"eval_time": "105s", "alertname": "RaytraderJournalLag",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "consumer": "portfolio"}, "exp_annotations": {
                     "summary": "Journal consumer portfolio is behind",
                     "description": "portfolio has not booked the journal's newest entries for a minute (over 100 "
                                    "entries or 5 s behind): its positions and PnL are stale."}}]},
                {"eval_time": "0s", "alertname": "RaytraderReconciliationFailed", "exp_alerts": []},
                {"eval_time": "60s", "alertname": "RaytraderReconciliationFailed",
                 "exp_alerts": [{"exp_labels": {"severity": "critical", "venue": "binance"}, "exp_annotations": {
                     "summary": "Reconciliation with binance failed",
                     "description": "The order manager could not align its journal with binance; trading does not "
                                    "start until every venue reconciles. The RECONCILIATION journal entry says why."}}]},
                {"eval_time": "30s", "alertname": "RaytraderVarOverLimit", "exp_alerts": []},
                {"eval_time": "105s", "alertname": "RaytraderVarOverLimit",
                 "exp_alerts": [{"exp_labels": {"severity": "critical", "quote": "USDT", "method": "historical"},
                                 "exp_annotations": {
                     "summary": "VaR over its limit in USDT",
                     "description": "The RiskMonitor's live historical VaR (150 USDT) exceeds the configured limit."}}]},
            ],
        }],
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(json.dumps(tests))  # JSON is YAML
    out = subprocess.run([_promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_dashboard_queries_only_declared_metrics() -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) >= 10
    declared = _declared()
    used = {name for e in exprs for name in SERIES.findall(e)}
    unknown = used - set(declared)
    assert not unknown, f"the dashboard queries metrics no module declares: {sorted(unknown)}"
    shown = {declared[s] for s in used}
    every = set(METRICS) | set(API_METRICS)
    assert shown == every, f"declared but on no panel: {sorted(every - shown)}"


def test_dashboard_is_valid_grafana_json() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["datasource"]["type"] == "prometheus"
        assert {"x", "y", "w", "h"} <= set(p["gridPos"])
        for t in p["targets"]:
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]


def test_the_prometheus_config_up_writes_passes_promtool(tmp_path: Path) -> None:
    sd = tmp_path / "session" / "prom_metrics_service_discovery.json"
    sd.parent.mkdir()
    sd.write_text(json.dumps([{"labels": {"job": "ray"}, "targets": ["127.0.0.1:1"]}]))
    conf = tmp_path / "prometheus.yml"
    conf.write_text(_config_text(sd, 5.0))
    out = subprocess.run([_promtool(), "check", "config", str(conf)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(conf.read_text())["scrape_configs"][0]["file_sd_configs"][0]["files"] == [str(sd)]
