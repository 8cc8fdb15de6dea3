"""Run records: one JSON file per research run or paper session, so that ``raytrader runs`` can list and show past runs.

A record lives at ``<cluster.home>/runs/<id>.json`` (the run folder of the
config). It is written when a run starts (status ``running``) and again
when it ends: ``ok`` with the result, or ``failed`` with the one-line
reason. A record still ``running`` whose process is gone was killed.

Pure: no Ray, no command line; file writes are atomic (write, then rename),
so a reader never sees half a record.
"""

from __future__ import annotations

import calendar
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from raytrader.errors import InputError

__all__ = ["RunRecord", "RunNotFoundError", "KINDS", "runs_dir", "new_run_id", "start_record", "finish_record",
           "fail_record", "save_record", "load_record", "list_records", "key_numbers", "headline", "fmt_return"]

#: the kinds of run that are recorded
KINDS: tuple[str, ...] = ("backtest", "sweep", "walkforward", "montecarlo", "optimize", "train_rl", "paper")

#: results larger than this (bytes of JSON) are kept out of the record; their files still are listed
MAX_RESULT_BYTES = 2_000_000


class RunNotFoundError(InputError):
    """``raytrader runs show ID``: no record with that id (or prefix) in the run folder."""


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One run. Times are ISO-8601 UTC; ``seconds`` is the wall time; ``key`` holds the key numbers
    (see :func:`key_numbers`); ``files`` maps a name to a path the run wrote; ``result`` is the run's
    JSON output (None while running, after a failure, or when larger than :data:`MAX_RESULT_BYTES`)."""

    id: str
    kind: str
    status: str  # "running", "ok" or "failed"
    started: str
    command: str = ""
    pid: int = 0
    ended: str | None = None
    seconds: float | None = None
    key: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    result: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def runs_dir(home: Path) -> Path:
    return Path(home).expanduser() / "runs"


def new_run_id(kind: str, now: float | None = None) -> str:
    """``<kind>-<YYYYmmdd-HHMMSS>-<4 hex>`` (UTC): sorts by time within a kind, unique per run."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:4]}"


def save_record(home: Path, record: RunRecord) -> Path:
    """Write ``record`` atomically; returns its path."""
    folder = runs_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.id}.json"
    tmp = folder / f".{record.id}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record.to_json(), indent=1, default=str, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def start_record(home: Path, kind: str, command: str, now: float | None = None) -> RunRecord:
    """A new ``running`` record, saved."""
    now = time.time() if now is None else now
    record = RunRecord(id=new_run_id(kind, now), kind=kind, status="running", started=_iso(now), command=command,
                       pid=os.getpid())
    save_record(home, record)
    return record


def _ended(record: RunRecord, now: float | None) -> dict[str, Any]:
    now = time.time() if now is None else now
    started = calendar.timegm(time.strptime(record.started, "%Y-%m-%dT%H:%M:%SZ"))
    return {"ended": _iso(now), "seconds": round(max(0.0, now - started), 1)}


def finish_record(home: Path, record: RunRecord, result: dict[str, Any], now: float | None = None) -> RunRecord:
    """Mark ``record`` ok with its result, key numbers and files; saved."""
    key, files = key_numbers(record.kind, result)
    text = json.dumps(result, default=str, allow_nan=False)
    done = replace(record, status="ok", key=key, files=files, **_ended(record, now),
                   result=json.loads(text) if len(text) <= MAX_RESULT_BYTES else None)
    save_record(home, done)
    return done


def fail_record(home: Path, record: RunRecord, error: str, now: float | None = None) -> RunRecord:
    """Mark ``record`` failed with a one-line reason; saved."""
    failed = replace(record, status="failed", error=" ".join(str(error).split())[:2000], **_ended(record, now))
    save_record(home, failed)
    return failed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> RunRecord | None:
    try:
        raw = json.loads(path.read_text())
        record = RunRecord(**{k: raw[k] for k in RunRecord.__dataclass_fields__ if k in raw})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if record.status == "running" and not _alive(record.pid):
        return replace(record, status="failed", error="the process ended without finishing (killed?)")
    return record


def list_records(home: Path, *, kind: str | None = None, limit: int = 0) -> list[RunRecord]:
    """Records in the run folder, newest first; unreadable files are skipped."""
    folder = runs_dir(home)
    if not folder.is_dir():
        return []
    records = [r for r in (_read(p) for p in folder.glob("*.json")) if r is not None]
    records = [r for r in records if kind is None or r.kind == kind]
    records.sort(key=lambda r: (r.started, r.id), reverse=True)
    return records[:limit] if limit > 0 else records


def load_record(home: Path, run_id: str) -> RunRecord:
    """The record ``run_id``, or the only one whose id starts with it.

    Raises:
        RunNotFoundError: no such record, or the prefix is ambiguous.
    """
    exact = runs_dir(home) / f"{run_id}.json"
    if "/" not in run_id and exact.is_file():
        record = _read(exact)
        if record is not None:
            return record
    matches = [r for r in list_records(home) if r.id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFoundError(f"runs show {run_id}: no such run in {runs_dir(home)} (see `raytrader runs`)")
    raise RunNotFoundError(f"runs show {run_id}: {len(matches)} runs start with it "
                           f"({', '.join(r.id for r in matches[:4])}...); give more of the id")


def _num(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def key_numbers(kind: str, r: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The few numbers a list of runs shows for a result of ``kind``, and the files the run wrote."""
    key: dict[str, Any] = {}
    if kind == "backtest":
        key = {k: _num(r.get(k)) for k in ("strategy", "symbol", "timeframe", "total_return", "sharpe",
                                            "max_drawdown", "n_trades") if k in r}
        if r.get("ruined_at_time"):
            key["ruined_at"] = r["ruined_at_time"]
    elif kind == "sweep":
        best = r.get("best") or {}
        metric = r.get("metric", "sharpe")
        names = r.get("param_names") or [n for n in best if n not in (
            "total_return", "sharpe", "max_drawdown", "n_trades", "final_equity", metric) and not isinstance(
                best[n], (dict, float))]
        key = {"strategy": r.get("strategy"), "symbol": r.get("symbol"), "n_configs": r.get("n_configs"),
               "metric": metric, "best": {n: best[n] for n in names}, "best_value": _num(best.get(metric))}
        oos = best.get("out_of_sample") or {}
        if metric in oos:
            key["best_out_of_sample"] = _num(oos[metric])
    elif kind == "walkforward":
        key = {"strategy": r.get("strategy"), "symbol": r.get("symbol"), "n_folds": r.get("n_folds"),
               "oos_total_return": _num(r.get("oos_total_return")), "efficiency": _num(r.get("efficiency"))}
    elif kind == "montecarlo":
        b = r.get("backtest") or {}
        tr = r.get("total_return") or {}
        key = {"strategy": b.get("strategy"), "symbol": b.get("symbol"), "method": r.get("method"),
               "n_paths": r.get("n_paths"), "return_p5": _num(tr.get("p5")), "return_p50": _num(tr.get("p50")),
               "return_p95": _num(tr.get("p95")), "prob_ruin": _num(r.get("prob_ruin"))}
    elif kind == "optimize":
        first = (r.get("results") or [r])[0]
        key = {k: _num(first.get(k)) for k in ("solver", "objective", "approx_ratio") if k in first}
        if "selected" in first:
            key["selected"] = first["selected"]
    elif kind == "train_rl":
        total = r.get("total") or {}
        key = {"algo": r.get("algo"), "symbol": r.get("symbol"), "n_folds": len(r.get("folds") or []),
               "agent_return_mean": _num(total.get("agent_return_mean")),
               "buy_hold_return": _num((total.get("buy_hold") or {}).get("total_return")),
               "checkpoint": r.get("checkpoint"), "policy": r.get("policy")}
    elif kind == "paper":
        key = _paper_key(r.get("result") or r)
    files = {k: str(v) for k, v in r.items() if v and isinstance(v, str) and (k.endswith("_path") or k in (
        "run_dir", "plot", "out"))}
    return {k: v for k, v in key.items() if v is not None}, files


def _paper_key(s: dict[str, Any]) -> dict[str, Any]:
    """A paper session's key numbers from its summary (``jobs.paper_trade``: what ``raytrader paper`` prints)."""
    checks = s.get("checks") or {}
    pnl = {q: _num((p or {}).get("total")) for q, p in (s.get("pnl") or {}).items()}
    key = {"strategy": s.get("strategy"), "symbol": s.get("symbol"), "venues": s.get("venues"),
           "orders": sum((s.get("orders_by_state") or {}).values()), "fills": s.get("fills"), "pnl": pnl,
           "trading_state": s.get("trading_state"), "journal_stream": s.get("journal_stream"),
           "chain_ok": checks.get("chain_ok"), "lost": len(checks.get("lost") or ()),
           "duplicated": len(checks.get("duplicated") or ())}
    if "arbitrage" in s:
        key["arbitrage_pnl"] = _num((s["arbitrage"] or {}).get("pnl_total"))
    return key


def _si(x: float) -> str:
    """3 significant digits with k/M/G/T: 523000 -> '523k'."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def fmt_return(x: float | None) -> str:
    """A return (fraction) for people, at most 9 characters: ``+12.3%``; from +1000% on, the equity
    multiple (``x12.3``, ``x523k``: that many times the starting cash)."""
    if x is None or x != x:
        return "n/a"
    if abs(x) < 10:
        return f"{x:+.1%}"
    return f"x{_si(1.0 + x)}"


def headline(record: RunRecord) -> str:
    """The key numbers of a record in one short line for people."""
    k = record.key
    if record.status == "failed":
        return f"FAILED: {record.error or 'unknown reason'}"
    if record.status == "running":
        return "running"

    def pct(name: str) -> str:
        return fmt_return(k[name]) if isinstance(k.get(name), (int, float)) else "n/a"

    if record.kind == "backtest":
        return (f"{k.get('strategy')} {k.get('symbol')} return {pct('total_return')} sharpe "
                f"{k.get('sharpe', float('nan')):.2f} trades {k.get('n_trades')}"
                + (f" RUINED at {k['ruined_at']}" if k.get("ruined_at") else ""))
    if record.kind == "sweep":
        best = " ".join(f"{n}={v}" for n, v in (k.get("best") or {}).items())
        value = k.get("best_value")
        oos = k.get("best_out_of_sample")
        return (f"{k.get('strategy')} {k.get('symbol')} {k.get('n_configs')} configs; best {best} "
                f"{k.get('metric')} {value:.3g}" if isinstance(value, (int, float)) else
                f"{k.get('strategy')} {k.get('symbol')} {k.get('n_configs')} configs; best {best}") + (
                    f" (out-of-sample {oos:.3g})" if isinstance(oos, (int, float)) else "")
    if record.kind == "walkforward":
        eff = k.get("efficiency")
        return (f"{k.get('strategy')} {k.get('symbol')} {k.get('n_folds')} folds; out-of-sample "
                f"{pct('oos_total_return')}" + (f", efficiency {eff:.2f}" if isinstance(eff, (int, float)) else ""))
    if record.kind == "montecarlo":
        return (f"{k.get('strategy')} {k.get('symbol')} {k.get('n_paths')} paths ({k.get('method')}); return "
                f"p5 {pct('return_p5')} p50 {pct('return_p50')} p95 {pct('return_p95')}; "
                f"ruin {k.get('prob_ruin', float('nan')):.1%}")
    if record.kind == "train_rl":
        return (f"{str(k.get('algo', '')).upper()} {k.get('symbol')} {k.get('n_folds')} folds; agent (mean of seeds) "
                f"{pct('agent_return_mean')} vs buy-and-hold {pct('buy_hold_return')}"
                + (f"; policy rl:{k['policy']}" if k.get("policy") else ""))
    if record.kind == "paper":
        pnl = ", ".join(f"{v:+.6g} {q}" for q, v in (k.get("pnl") or {}).items() if isinstance(v, (int, float)))
        chain = {True: "chain verified", False: "chain BROKEN"}.get(k.get("chain_ok"), "chain n/a")
        return (f"{k.get('strategy')} {k.get('symbol')} on {','.join(k.get('venues') or [])}: {k.get('orders')} "
                f"orders, {k.get('fills')} fills, PnL {pnl or 'n/a'}, {k.get('trading_state')}; {k.get('lost')} lost, "
                f"{k.get('duplicated')} duplicated, {chain}")
    if record.kind == "optimize":
        return f"{k.get('solver', '')} selected {','.join(k.get('selected') or [])} objective {k.get('objective')}"
    return json.dumps(k)[:100]
