"""``raytrader train-rl``: reinforcement learning (RLlib PPO) on bars, evaluated walk-forward on the cluster.

Validates the flags and the data first (bad input exits 2 naming the flag,
even without a cluster), then attaches this process as a Ray driver to the
cluster that ``raytrader up`` started and runs :func:`jobs.train_rl.run_train_rl`
(the same code ``python -m jobs.train_rl`` runs as a Ray job). Each fold and
seed trains in one Ray task; a progress bar counts them on stderr.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from raytrader.cli import Output, add_command
from raytrader.config import Config
from raytrader.runs import fmt_return

__all__ = ["register", "format_train_rl"]


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def _row(label: str, m: dict[str, Any]) -> str:
    return (f"{label:14s} {fmt_return(m['total_return']):>9s} {m['sharpe']:8.2f} {m['max_drawdown']:7.2%} "
            f"{m['turnover']:9.2f} {m['fees']:7.2%} {m['trades']:6d}")


def format_train_rl(r: dict[str, Any]) -> str:
    """Human summary of a ``jobs.train_rl`` result: per fold and in total, the agent's seeds beside the baselines."""
    req = r["request"]
    head = f"{'':14s} {'return':>9s} {'sharpe':>8s} {'max DD':>7s} {'turnover':>9s} {'fees':>7s} {'trades':>6s}"
    lines = [f"{r['algo'].upper()} on {r['symbol']} {r['timeframe']} ({r['bars']} bars, {r['source']}), "
             f"fees {r['fees_bps']:g} bps, {req['timesteps']} steps per fold and seed, {len(r['folds'])} folds x "
             f"{req['seeds']} seeds, {r['task_cpus']:g} CPU per task, {r['seconds']:.0f} s",
             "each fold trains on one window and is evaluated greedily, from flat, on the next (never on its own "
             "bars); returns, turnover and fees as fractions of starting equity, net of costs"]
    tuned = r.get("tune")
    if tuned:
        lines.append(f"Ray Tune ({tuned['scheduler']}, up to {tuned['max_iterations']} iterations, ranked by "
                     f"{tuned['metric']}) on bars before {tuned['train_end']}; {len(tuned['trials'])} trials:")
        for t in sorted(tuned["trials"], key=lambda t: -t["episode_return_mean"]):
            lines.append(f"  lr {t['lr']:g} entropy {t['entropy']:g} epochs {t['epochs']}: {t['iterations']} "
                         f"iterations, episode return {t['episode_return_mean']:+.4f}")
        best = tuned["best"]
        lines.append(f"  best: lr {best['lr']:g} entropy {best['entropy']:g} epochs {best['epochs']} (trains every fold)")
    for f in r["folds"]:
        lines += [f"fold {f['fold']}: train bars [{f['train_start']}, {f['train_end']}) "
                  f"{_when(f['train_time'][0])} .. {_when(f['train_time'][1])}, test bars "
                  f"[{f['test_start']}, {f['test_end']}) {_when(f['test_time'][0])} .. {_when(f['test_time'][1])}",
                  head]
        for s in f["seeds"]:
            lines.append(_row(f"agent seed {s['seed']}", s["test"]) +
                         f"   (train: greedy {s['greedy_train_return']:+.3f} vs random "
                         f"{s['random_train_return']:+.3f} log return per episode)")
        lines += [_row("buy-and-hold", f["buy_hold"]), _row("flat", f["flat"])]
        if "rule" in f:
            params = " ".join(f"{k}={v}" for k, v in f["rule"]["params"].items())
            lines.append(_row(r.get("rule", "rule")[:14], f["rule"]) + f"   (chosen on the training window: {params})")
    t = r["total"]
    lines += [f"total over the {len(r['folds'])} test windows, chained", head]
    for s, m in zip(range(req["seed"], req["seed"] + req["seeds"]), t["agent"]):
        lines.append(_row(f"agent seed {s}", m))
    lines += [_row("buy-and-hold", t["buy_hold"]), _row("flat", t["flat"])]
    if "rule" in t:
        lines.append(_row(r.get("rule", "rule")[:14], t["rule"]) + "   (walk-forward: re-chosen each fold)")
    lines += [
              f"agent return over seeds: mean {fmt_return(t['agent_return_mean'])}, min "
              f"{fmt_return(t['agent_return_min'])}, max {fmt_return(t['agent_return_max'])}; buy-and-hold "
              f"{fmt_return(t['buy_hold']['total_return'])}",
              f"checkpoint: {r['checkpoint']} (round trip: {r['roundtrip_actions']} actions, "
              f"{'identical' if r['roundtrip_identical'] else 'DIFFERENT'})"]
    if r.get("policy"):
        lines.append(f"policy: strategy {r['policy_strategy']} in {r['policy_dir']} (exported module replays the "
                     f"checkpoint's actions: {'identical' if r['policy_roundtrip_identical'] else 'DIFFERENT'})")
    return "\n".join(lines)


def _train_rl(args: argparse.Namespace, config: Config) -> Output:
    from cluster.driver import ray_driver  # noqa: PLC0415 - attaching to the cluster: one shared rule
    from cluster.progress import progress_bar, progress_enabled  # noqa: PLC0415 - rich only when it runs
    from jobs.train_rl import prepare, run_train_rl  # noqa: PLC0415

    request = prepare(args)  # bad input exits 2 before Ray
    total = request.folds * request.seeds
    with ray_driver(config, args.verbose), \
            progress_bar("train-rl", total, enabled=progress_enabled(args.json), unit="fold x seed") as update:
        result = run_train_rl(request, home=config.cluster.home, progress=update)
    return Output(data=result, text=format_train_rl(result))


def register(sub: argparse._SubParsersAction) -> None:
    from jobs.train_rl import add_train_rl_arguments  # noqa: PLC0415

    p = add_command(sub, "train-rl", _train_rl,
                    "train an RL agent (RLlib PPO) on bars and evaluate it walk-forward against buy-and-hold and flat")
    add_train_rl_arguments(p)
    p.set_defaults(record="train_rl")  # recorded for `raytrader runs`
    p.add_argument("-v", "--verbose", action="store_true", help="show Ray's INFO and WARNING log lines")
