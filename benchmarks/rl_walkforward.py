"""The RL walk-forward table for RESULTS.md, from a recorded ``raytrader train-rl`` run.

``raytrader train-rl`` (or ``python -m jobs.train_rl``) records its result in
the run folder (``raytrader runs``); this script turns one such record (or a
saved ``--json`` output) into the ``rl-walkforward`` section of
``benchmarks/RESULTS.md``: per fold and in total, the agent over its seeds
(mean, min and max) beside buy-and-hold, flat and the rule baseline chosen by
walk-forward on the same folds; return, Sharpe, max drawdown, turnover and
fees, net of costs.

Reproduce::

    raytrader up
    raytrader train-rl --sample ETH-BTC-5m --algo ppo --timesteps 4000 --batch 1000 --folds 3 --seeds 3 \\
        --tune 3 --name eth5m
    .venv/bin/python -m benchmarks.rl_walkforward --run <the run id `raytrader runs --kind train_rl` lists>
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks._results import write_section

__all__ = ["markdown", "main"]


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def _row(label: str, m: dict[str, Any]) -> str:
    return (f"| {label} | {_pct(m['total_return'])} | {m['sharpe']:.2f} | {m['max_drawdown']:.1%} | "
            f"{m['turnover']:.1f} | {m['fees']:.1%} | {m['trades']} |")


def _agent(label: str, ms: list[dict[str, Any]]) -> str:
    def span(key: str, fmt: str) -> str:
        vals = sorted(m[key] for m in ms)
        mean = sum(vals) / len(vals)
        return f"{format(mean, fmt)} ({format(vals[0], fmt)} .. {format(vals[-1], fmt)})"

    return (f"| {label} | {span('total_return', '+.1%')} | {span('sharpe', '.2f')} | {span('max_drawdown', '.1%')} | "
            f"{span('turnover', '.1f')} | {span('fees', '.1%')} | {span('trades', '.0f')} |")


def where_it_loses(r: dict[str, Any]) -> str:
    """One paragraph counted from the result: against which baseline, in how many folds and seeds, the agent lost."""
    folds = r["folds"]
    n = len(folds) * len(folds[0]["seeds"])
    parts = []
    for key, label in (("buy_hold", "buy-and-hold"), ("flat", "flat"), ("rule", r.get("rule", "the rule"))):
        lost = sum(s["test"]["total_return"] < f[key]["total_return"] for f in folds for s in f["seeds"])
        parts.append(f"{label} in {lost} of {n}")
    fees = [s["test"]["fees"] for f in folds for s in f["seeds"]]
    trades = [s["test"]["trades"] for f in folds for s in f["seeds"]]
    best = max(f[k]["total_return"] for f in folds for k in ("buy_hold", "flat", "rule"))
    bars = sum(f["test_end"] - f["test_start"] - 1 for f in folds) / len(folds)
    return ("**Where the agent loses** (counted from this run, fold x seed out of sample): it returned less than "
            + ", ".join(parts) + f". It trades {min(trades)}-{max(trades)} times in a test window of about "
            f"{bars:.0f} decisions and pays {min(fees):.0%}-{max(fees):.0%} of its starting equity in fees per window"
            + (" (more than the best baseline made in any window)" if min(fees) > best else "") + ". Its greedy policy still beat a uniformly random "
            "one on its own training window in "
            f"{sum(s['greedy_train_return'] > s['random_train_return'] for f in folds for s in f['seeds'])} of {n} "
            "(it learned to lose less than random, not to stop churning).")


def markdown(r: dict[str, Any], command: str = "") -> str:
    """The section's markdown for one train-rl result."""
    req = r["request"]
    head = ("| | return | Sharpe | max DD | turnover | fees | trades |\n"
            "|---|---:|---:|---:|---:|---:|---:|")
    seeds = req["seeds"]
    lines = [f"## RL walk-forward: {r['algo'].upper()} vs buy-and-hold, flat and {r.get('rule', 'the rule')} "
             f"(`raytrader train-rl`)", "",
             f"{r['symbol']} {r['timeframe']}, {r['bars']} bars ({r['source']}), fees {r['fees_bps']:g} bps per side, "
             f"{req['timesteps']} env steps per fold and seed, {len(r['folds'])} folds x {seeds} seeds, "
             f"{r['seconds']:.0f} s on the cluster. Every row plays the fold's test window from flat through the same "
             "environment (the engine's fees and next-open fills); returns, drawdown, turnover and fees are fractions "
             "of the window's starting equity, net of costs. Agent rows: mean over seeds (min .. max). The rule is "
             f"{r.get('rule', '')} re-chosen on each fold's training window by in-sample Sharpe over "
             f"{' '.join(r.get('rule_grid', []))}."]
    tuned = r.get("tune")
    if tuned:
        best = tuned["best"]
        lines.append(f"Ray Tune (ASHA) over {len(tuned['trials'])} sampled PPO configurations on the first training "
                     f"window only chose lr {best['lr']:g}, entropy {best['entropy']:g}, epochs {best['epochs']}.")
    for f in r["folds"]:
        lines += ["", f"Fold {f['fold']}: train bars [{f['train_start']}, {f['train_end']}) "
                      f"{time.strftime('%Y-%m-%d', time.gmtime(f['train_time'][0] / 1000))}.., test bars "
                      f"[{f['test_start']}, {f['test_end']}) "
                      f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(f['test_time'][0] / 1000))} .. "
                      f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(f['test_time'][1] / 1000))}", "", head,
                  _agent(f"agent ({seeds} seeds)", [s["test"] for s in f["seeds"]]),
                  _row("buy-and-hold", f["buy_hold"]), _row("flat", f["flat"]),
                  _row(f"{r.get('rule', 'rule')} {' '.join(f'{k}={v}' for k, v in f['rule']['params'].items())}",
                       f["rule"])]
    t = r["total"]
    lines += ["", f"Total over the {len(r['folds'])} test windows, chained:", "", head,
              _agent(f"agent ({seeds} seeds)", t["agent"]), _row("buy-and-hold", t["buy_hold"]),
              _row("flat", t["flat"]), _row(f"{r.get('rule', 'rule')} (walk-forward)", t["rule"])]
    lines += ["", where_it_loses(r)]
    if command:
        lines += ["", f"Reproduce: `{command}`, then `python -m benchmarks.rl_walkforward --run <id>`."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="a train_rl run id (or unique prefix) in the config's run folder")
    src.add_argument("--json", type=Path, help="a saved `raytrader train-rl --json` output")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    command = ""
    if args.run:
        from raytrader.config import load_config
        from raytrader.runs import load_record

        record = load_record(load_config().cluster.home, args.run)
        if record.kind != "train_rl" or record.result is None:
            parser.error(f"run {record.id}: not a finished train_rl run")
        result, command = record.result, record.command
    else:
        result = json.loads(args.json.read_text())
    md = markdown(result, command)
    print(md)
    if not args.no_write:
        write_section("rl-walkforward", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
