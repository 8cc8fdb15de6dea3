"""``raytrader paper``: a paper-trading session on emulated venues, as a Ray job on the running cluster.

The flags are checked here first (exit 2 naming the flag); then
``python -m jobs.paper_trade`` is submitted through the Jobs API (see
:mod:`jobs.paper_trade` for what runs) and its summary printed: PnL,
positions, orders by state, fills, the decision time, the journal (entries,
chain verified) and the comparison of the journal with the venues' own order
books and balances. ``--strategy arbitrage`` adds the pairs, legs filled, PnL
net of fees per venue and in total, and the inventory per venue at the end.
``--execution route|twap|iceberg`` (with ``--exec-param NAME=VALUE``) sends the
strategy's orders through the router as parent orders; the summary then adds
the parents by algorithm and status and their children per venue.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from jobs.paper_trade import add_paper_arguments
from raytrader.cli import Output, add_command
from raytrader.config import Config
from raytrader.errors import InputError
from cluster.commands.report import add_report_flag

__all__ = ["register", "format_paper", "format_arbitrage", "format_parents"]


def _num(x: float | None, digits: int = 8) -> str:
    return "n/a" if x is None else f"{x:+.{digits}g}"


def format_arbitrage(a: dict[str, Any], venues: list[str]) -> list[str]:
    """The arbitrage lines of a session's summary (``summary["arbitrage"]``, see jobs.paper_trade)."""
    quote, base = a["quote"], a["base"]
    edge = "n/a" if a["best_edge_bps"] is None else f"{a['best_edge_bps']:+.1f} bps"
    fees = ", ".join(f"{v} {b:g}" for v, b in a["taker_bps"].items())
    lines = [f"arbitrage: margin {a['margin_bps']:g} bps over taker fees ({fees}); {a['looks']} looks at both "
             f"touches, best net edge seen {edge}",
             *([f"edges over the margin: {e['seen']} seen, {e['vanished']} vanished before both venues' next "
                f"snapshots confirmed them, {e['confirmed']} confirmed"] if (e := a.get("edges")) else []),
             f"pairs opened {a['pairs_opened']} (complete {a['pairs_complete']}, unbalanced "
             f"{a['pairs_unbalanced']}); legs filled {a['legs_filled']} of {a['legs_sent']}"]
    pm = a.get("pair_ms") or {}
    if pm.get("n"):
        lines.append(f"pair round trip (decision -> both legs answered, remainders cancelled): p50 {pm['p50']:.1f} ms, "
                     f"p99 {pm['p99']:.1f} ms over {pm['n']} pairs")
    lines.append(f"PnL net of fees ({quote}, marked at {a['mark']:.8g} on both venues): total "
                 f"{_num(a['pnl_total'])}")
    for v in venues:
        inv = a["inventory"][v]
        lines.append(f"  {v:10s} PnL {_num(a['pnl_by_venue'][v])}  fees {a['fees_quote'][v]:.8g} {quote}  "
                     f"inventory {inv[base]:.8g} {base}, {inv[quote]:.8g} {quote}")
    lines.append(f"inventory imbalance (bought - sold over both venues): {a['imbalance_base']:g} {base}")
    return lines


def format_parents(execution: dict[str, Any], p: dict[str, Any]) -> list[str]:
    """The parent-order lines of a routed session's summary (``summary["checks"]["parents"]``)."""
    label = " ".join([execution.get("algo", "?")] + [f"{k}={v:g}" for k, v in (execution.get("params") or {}).items()])
    by = "; ".join(f"{algo} " + ", ".join(f"{s} {n}" for s, n in sorted(row.items()))
                   for algo, row in sorted(p["by_algo"].items()))
    venues = ", ".join(f"{v} {n}" for v, n in sorted(p["children_by_venue"].items())) or "none"
    return [f"execution {label}: {p['total']} parent orders ({by}); {len(p['working'])} still working",
            f"  children {p['children']} ({venues}), {p['children_at_venues']} at the venues; filled "
            f"{p['children_filled']:g} in the journal, {p['children_filled_at_venues']:g} at the venues; "
            f"{len(p['orphans'])} without a parent, {len(p['overfilled'])} parents overfilled"]


def format_paper(r: dict[str, Any]) -> str:
    params = " ".join(f"{k}={v}" for k, v in r["params"].items())
    lines = [f"paper {' '.join(x for x in (r['strategy'], params) if x)} on {r['symbol']} ({r['sample']}) replayed at x{r['speed']:g}, "
             f"venues {', '.join(r['venues'])}: {r['seconds']:.1f} s of trading, state {r['trading_state']}"]
    if r.get("arbitrage"):
        offsets = ", ".join(f"{v} {o:+g} bps" for v, o in r["offsets_bps"].items())
        lines.append(f"price offsets: {offsets}")
        lines += format_arbitrage(r["arbitrage"], r["venues"])
        if r["pnl"]:
            lines.append("the portfolio's view, each venue's position marked at that venue's own price (the "
                         "dislocation the pairs earned shows there as a loss):")
    for quote, p in r["pnl"].items():
        lines.append(f"PnL ({quote}): realized {_num(p['realized'])}  unrealized {_num(p['unrealized'])}  "
                     f"total {_num(p['total'])}")
    for key, p in r["pnl_by_venue"].items():
        lines.append(f"  {key:16s} realized {_num(p['realized'])}  unrealized {_num(p['unrealized'])}  "
                     f"total {_num(p['total'])}")
    lines.append("positions:")
    for p in r["positions"]:
        mark = "n/a" if p["mark"] is None else f"{p['mark']:.8g}"
        lines.append(f"  {p['venue']:10s} {p['symbol']:10s} qty {p['qty']:g}  avg {p['avg_price']:.8g}  mark {mark}")
    states = ", ".join(f"{s} {n}" for s, n in sorted(r["orders_by_state"].items())) or "none"
    fees = ", ".join(f"{k} {v:.8g}" for k, v in r["fees"].items()) or "none"
    lines.append(f"orders: {states}; fills {r['fills']}; fees {fees}")
    d = r["decision_ms"]
    if d["n"]:
        lines.append(f"decision path in the oms (target -> sized, risk-checked, journaled): p50 {d['p50']:.2f} ms, "
                     f"p99 {d['p99']:.2f} ms over {d['n']} orders")
    c = r["checks"]
    if c.get("parents"):
        lines += format_parents(r.get("execution") or {}, c["parents"])
    lines.append(f"journal {r['journal_stream']}: {c['journal_entries']} entries, "
                 f"chain {'verified' if c['chain_ok'] else 'BROKEN'}")
    lines.append(f"venues vs journal: {c['orders_sent']} orders sent, {c['venue_orders']} at the venues, "
                 f"{len(c['lost'])} lost, {len(c['duplicated'])} duplicated, {len(c['not_in_journal'])} unknown; "
                 f"balances {'match' if c['balances_match'] else 'DIFFER'}")
    return "\n".join(lines)


def _paper(args: argparse.Namespace, config: Config) -> Output:
    from cluster.jobs import submit_and_wait  # noqa: PLC0415 - keeps `raytrader --help` fast
    from cluster.lifecycle import live_state  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.paper_trade import request_from_args  # noqa: PLC0415 - late: keeps the CLI and --help fast

    request_from_args(args)  # bad flags exit 2 here, before the cluster is asked
    state, ray_ok, _ = live_state(config)
    if not (state and state.ray and ray_ok):
        raise InputError("the cluster is not running: start it with `raytrader up`")
    argv = ["python", "-m", "jobs.paper_trade", "--strategy", args.strategy, "--sample", args.sample,
            "--venues", args.venues, "--speed", f"{args.speed:g}", "--seconds", f"{args.seconds:g}",
            "--size", f"{args.size:g}", "--cash", repr(float(args.cash)), "--json"]
    if args.sizing:
        argv += ["--sizing", args.sizing]
    for flag in ("offset_bps", "margin_bps", "max_qty", "max_base", "stale_s"):
        if getattr(args, flag) is not None:
            argv += [f"--{flag.replace('_', '-')}", repr(float(getattr(args, flag)))]
    for item in args.param:
        argv += ["-p", item]
    if args.execution != "direct":
        argv += ["--execution", args.execution]
    for item in args.exec_param:
        argv += ["--exec-param", item]
    outcome = submit_and_wait(state.ray.dashboard_url, shlex.join(argv), name="paper",
                              timeout_s=args.seconds + args.timeout, show_progress=not args.json)
    data = {"job_id": outcome.job_id, "status": outcome.status, "job_url": outcome.job_url,
            "result": outcome.result}
    text = "\n".join([f"Ray job {outcome.job_id} {outcome.status} in {outcome.seconds:.1f} s",
                      format_paper(outcome.result), f"job: {outcome.job_url}"])
    return Output(data=data, text=text)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "paper", _paper, "paper-trade a strategy on emulated venues through the trading actors")
    add_report_flag(p, "paper")
    add_paper_arguments(p)  # the job's own flags, declared once
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for the job beyond --seconds (default 300)")
