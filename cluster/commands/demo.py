"""``raytrader demo``: submit the demo backtest as a Ray job through the Jobs API and print its result."""

from __future__ import annotations

import argparse
from typing import Any

from raytrader.cli import Output, add_command
from raytrader.config import Config
from cluster.jobs import JobOutcome, submit_and_wait
from cluster.lifecycle import live_state
from raytrader.errors import InputError

__all__ = ["register", "format_demo", "format_exchange"]


def format_demo(result: dict[str, Any]) -> str:
    lines = [f"{result['strategy']} fast={result['params']['fast']} slow={result['params']['slow']}, "
             f"fees {result['fees_bps']:g} bps/side, fills at the {result['fill']}",
             f"{'pair':10s} {'bars':>6s} {'return':>9s} {'sharpe':>7s} {'max DD':>8s} {'trades':>6s}"]
    for r in result["results"]:
        lines.append(f"{r['symbol']:10s} {r['bars']:6d} {r['total_return']:+9.2%} {r['sharpe']:7.2f} "
                     f"{r['max_drawdown']:8.2%} {r['n_trades']:6d}")
    c = result["cluster"]
    research = result.get("timings", {}).get("research_s")  # backtests, walk-forward and selection together
    took = f"research {research:.1f} s of the job's {result['seconds']:.1f} s" if research is not None else \
        f"the job {result['seconds']:.1f} s"
    lines.append(f"{len(result['results'])} backtests as Ray tasks ({c['task_cpus']:g} CPU each) on "
                 f"{c['nodes']} node(s), {c['cpus']:g} CPUs; {took}")
    wf = result.get("walkforward")
    if wf:
        lines += ["", f"walk-forward {wf['strategy']} over {wf['n_configs']} configs ({' '.join(wf['grid'])}): "
                      f"chosen on {wf['train_bars']} bars in-sample, then {wf['folds']} out-of-sample windows",
                  f"{'pair':10s} {'out-of-sample returns by fold':>36s}  {'compounded':>10s} {'efficiency':>10s}  params (share)"]
        by_pair: dict[str, list[dict[str, Any]]] = {}
        for row in wf["table"]:
            by_pair.setdefault(row["symbol"], []).append(row)
        for pair in wf["pairs"]:
            folds = " ".join(f"{r['oos_return']:+7.2%}" for r in sorted(by_pair[pair["symbol"]], key=lambda r: r["fold"]))
            eff = "n/a" if pair["efficiency"] is None else f"{pair['efficiency']:.2f}"
            params = " ".join(f"{k}={v}" for k, v in pair["modal_params"].items())
            lines.append(f"{pair['symbol']:10s} {folds:>36s} {pair['oos_total_return']:+10.2%} {eff:>10s}  "
                         f"{params} ({pair['modal_share']:.0%})")
    if result.get("quantum"):
        lines += ["", result["quantum"]["text"]]
    if result.get("exchange"):
        lines += ["", *format_exchange(result["exchange"])]
    if result.get("paper"):
        from cluster.commands.paper import format_paper  # noqa: PLC0415 - keeps `raytrader --help` fast

        lines += ["", format_paper(result["paper"])]
    return "\n".join(lines)


def format_exchange(ex: dict[str, Any]) -> list[str]:
    """Lines for the demo's exchange part: per venue, the streams, the orders and the fills."""
    lines = [f"exchange: {len(ex['venues'])} emulated venues on loopback, one ExchangeActor each (ccxt), "
             f"{ex['symbol']} replayed at x{ex['speed']:g}, in {ex['seconds']:.1f} s"]
    for name, v in ex["venues"].items():
        streams = ", ".join(f"{kind} seq 1..{s['last_seq']} ({s['seq_holes']} holes)" for kind, s in v["streams"].items())
        lines.append(f"  {name:10s} fees {v['fees_bps']['maker']:g}/{v['fees_bps']['taker']:g} bps maker/taker; "
                     f"{streams}")
        for o in v["orders"]:
            state = o["status"] + (" -> canceled" if o["client_order_id"] in v["canceled"] else "")
            avg = f" @ {o['average']:.8f}" if o.get("average") else ""
            lines.append(f"    {o['side']:4s} {o['type']:6s} {o['amount']:g} {state:18s} filled {o['filled']:g}{avg}"
                         f"  id {o['client_order_id']}")
        for f in v["fills"]:
            lines.append(f"    fill {f['side']:4s} {f['qty']:g} @ {f['price']:.8f}  fee {f['fee']:g} {f['fee_currency']}")
    return lines


def _demo(args: argparse.Namespace, config: Config) -> Output:
    state, ray_ok, _ = live_state(config)
    if not (state and state.ray and ray_ok):
        raise InputError("the cluster is not running: start it with `raytrader up` (`make run` does both)")
    entrypoint = (f"python -m jobs.demo --fast {args.fast} --slow {args.slow} --fees-bps {args.fees_bps:g} "
                  f"--paper-seconds {args.paper_seconds:g} --json")
    outcome: JobOutcome = submit_and_wait(state.ray.dashboard_url, entrypoint, name="demo",
                                          timeout_s=args.timeout, show_progress=not args.json)
    result = outcome.result
    data = {"job_id": outcome.job_id, "status": outcome.status, "dashboard_url": state.ray.dashboard_url,
            "job_url": outcome.job_url, "seconds": outcome.seconds, "result": result}
    text = "\n".join([
        f"Ray job {outcome.job_id} {outcome.status} in {outcome.seconds:.1f} s",
        format_demo(result),
        "",
        f"job:       {outcome.job_url}",
        f"dashboard: {state.ray.dashboard_url}",
    ])
    return Output(data=data, text=text)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "demo", _demo, "run the demo: a backtest per bundled alt/BTC pair, as a Ray job")
    p.add_argument("--fast", type=int, default=12, help="fast SMA window (default 12)")
    p.add_argument("--slow", type=int, default=48, help="slow SMA window (default 48)")
    p.add_argument("--fees-bps", type=float, default=10.0, help="fee in bps, each side (default 10)")
    p.add_argument("--paper-seconds", type=float, default=20.0,
                   help="seconds of the demo's paper-trading session (default 20; 0 skips it)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the job (default 600)")
