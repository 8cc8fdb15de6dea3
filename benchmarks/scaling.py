"""Scaling out: the 14,950-configuration sweep and Monte Carlo paths on 1, 2 and 3 local Ray nodes.

Reproduce (several minutes on 2 CPUs; run it on a quiet machine)::

    .venv/bin/python -m benchmarks.scaling                 # writes the "scaling" section of RESULTS.md
    .venv/bin/python -m benchmarks.scaling --bars 131400   # a quarter of the bars: about 4x faster

What runs: a private raytrader cluster (``cluster.lifecycle.up`` in a temp run folder on free
ports, a head offering 1 CPU), measured; then a worker node joins (``raytrader join``'s
:func:`cluster.commands.join.join`, 1 CPU), measured; then a third, measured. Each measurement:

* **sweep**: ``jobs.sweep.run_sweep`` (the real job code) of ``sma_cross`` with fast in 5..500
  and slow in 5..1000, step 5, fast < slow = 14,950 configurations, on seeded synthetic 1-minute
  bars (``benchmarks.sweep_vs_vectorbt.synthetic_bars``: a random walk, NOT market data), one
  single-threaded 1-CPU trial per node (``--trial-cpus 1``). Timed: ``Tuner.fit`` wall (what the
  throughput is computed from), and the slowest trial's in-trial kernel time.
* **Monte Carlo**: ``jobs.montecarlo.run_montecarlo`` block bootstrap of the bundled ETH-BTC-5m
  backtest's returns, ``--paths`` paths in 4 tasks per node. Timed: the whole call.

Scaling efficiency with k nodes = throughput(k) / (k * throughput(1)).

**This machine has 2 cores and the nodes share them.** Node 1 and node 2 each get one of Ray's
logical CPUs, but nothing pins them to a core; node 3 is a third logical CPU on 2 cores. So the
numbers show what scaling out *costs* (trial and worker start on a new node, the bars shipped to
its object store, results back to the driver, scheduling across raylets); they cannot show
*more CPUs*: from 2 to 3 nodes no speed-up is possible here, and any gain from 1 to 2 nodes is the
second core, which a single node with 2 CPUs would get as well (README "sweep" measures that).

The 100-node estimate at the end is arithmetic on the measured numbers, written out in the
section with every input, not a measurement.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


from benchmarks._results import machine_line, write_section

REPRODUCE = ".venv/bin/python -m benchmarks.scaling"
GRID = ("fast=5:500:5", "slow=5:1000:5")
FEES_BPS = 10.0


def _env(home: Path) -> dict[str, str]:
    from tests.conftest import cluster_env  # the test suite's private-cluster env: free, distinct ports

    env = cluster_env(home)
    env["RAYTRADER_CLUSTER__NUM_CPUS"] = "1"
    env["RAYTRADER_CLUSTER__START_TIMEOUT_S"] = "300"  # `join` retries Ray's own 30 s start wait within this
    return env


def _sweep(bars: Any, out: Path, nodes: int, grid: tuple[str, ...] = GRID) -> dict[str, Any]:
    from dataclasses import replace

    from jobs.sweep import SweepRequest, plan_sweep, run_sweep

    request = SweepRequest(grid=grid, fees_bps=FEES_BPS, trial_cpus=1.0, trials=nodes, out=str(out),
                           sample="ETH-BTC-5m", holdout=0.0, periods_per_year=525_600.0)
    plan = plan_sweep(request)  # the constrained grid, as the CLI plans it; then the synthetic bars instead
    return run_sweep(replace(plan, bars=bars, holdout_bars=None)).to_json()


def _montecarlo(paths: int, tasks: int) -> dict[str, Any]:
    from jobs.montecarlo import MonteCarloRequest, plan_montecarlo, run_montecarlo

    request = MonteCarloRequest(sample="ETH-BTC-5m", params=(("fast", "10"), ("slow", "30")), method="bootstrap",
                                paths=paths, tasks=tasks, seed=7)
    return run_montecarlo(plan_montecarlo(request)).to_json()


def _measure(bars: Any, root: Path, nodes: int, repeats: int, paths: int) -> dict[str, Any]:
    import ray

    assert len([n for n in ray.nodes() if n["Alive"]]) == nodes
    sweeps, mcs = [], []
    for r in range(repeats):
        s = _sweep(bars, root / f"sweep-{nodes}-{r}", nodes)
        assert len(set(s["trial_nodes"])) == nodes, s["trial_nodes"]  # one trial on every node
        sweeps.append(s)
        t0 = time.perf_counter()
        m = _montecarlo(paths, 4 * nodes)
        mc_s = time.perf_counter() - t0
        mcs.append({"seconds": mc_s, "nodes_used": len(set(m["task_nodes"]))})
    best = min(sweeps, key=lambda s: s["tune_seconds"])
    return {
        "nodes": nodes,
        "n_configs": best["n_configs"],
        "tune_seconds": [s["tune_seconds"] for s in sweeps],
        "best_tune_s": best["tune_seconds"],
        "max_trial_eval_s": max(best["trial_eval_seconds"]),
        "fit_to_last_trial_s": best["phases"]["fit_to_last_trial"],
        "trial_imports_max_s": best["phases"]["trial_imports_max"],
        "last_report_to_fit_end_s": best["phases"]["last_report_to_fit_end"],
        "post_fit_s": round(best["seconds"] - best["tune_seconds"], 3),
        "mc_seconds": [round(m["seconds"], 3) for m in mcs],
        "mc_best_s": min(m["seconds"] for m in mcs),
        "mc_nodes_used": max(m["nodes_used"] for m in mcs),
        "load_after": round(os.getloadavg()[0], 1),  # 1-minute load average when this node count was done
    }


def _after_reports(s: dict[str, Any]) -> float:
    """Driver-side time after the trials computed: last report -> fit end, then the job's own work after fit."""
    return s["phases"]["last_report_to_fit_end"] + s["seconds"] - s["tune_seconds"]


def _serial_fit(bars: Any, root: Path, repeats: int) -> dict[str, float]:
    """The driver's serial cost split into a fixed part and a part per configuration row: the same 1-node
    sweep on the full grid and on a grid 4x coarser (step 10: ~3,700 rows), each the median of ``repeats``
    runs; per row = the difference of their after-report times over the difference of their rows (a
    two-point line, not a single ratio, which would count Tune's fixed teardown as per-row work)."""
    import statistics

    coarse = ("fast=5:500:10", "slow=5:1000:10")
    runs = {g: [_sweep(bars, root / f"serial-{i}-{j}", 1, g) for j in range(repeats)]
            for i, g in enumerate((GRID, coarse))}
    rows = {g: runs[g][0]["n_configs"] for g in runs}
    after = {g: statistics.median(_after_reports(s) for s in runs[g]) for g in runs}
    slope = (after[GRID] - after[coarse]) / (rows[GRID] - rows[coarse])
    # a slope not above zero: the per-row part is below this measurement's noise; bound it from above instead
    # (the full grid's whole after-report time counted as per-row work), so the estimate stays conservative
    bound = slope <= 0
    per_row = after[GRID] / rows[GRID] if bound else slope
    return {"rows_full": rows[GRID], "rows_coarse": rows[coarse], "after_full_s": after[GRID],
            "after_coarse_s": after[coarse], "per_row_s": per_row, "per_row_is_bound": bound,
            "fixed_s": 0.0 if bound else max(0.0, after[coarse] - per_row * rows[coarse])}


def _estimate(rows: list[dict[str, Any]], serial_fit: dict[str, float], node_cpus: int, n_nodes: int,
              n_configs: float) -> dict[str, float]:
    """The 100-node x 10M-configuration estimate from the measured 1-node numbers (see the section text)."""
    one = rows[0]
    per_cpu = one["n_configs"] / one["max_trial_eval_s"]               # configs/s of one CPU, in-trial
    # trial start on a node, plus the driver's fixed after-report part (Tune's teardown, the job's write-up)
    fixed = max(r["fit_to_last_trial_s"] + r["trial_imports_max_s"] for r in rows) + serial_fit["fixed_s"]
    # driver-side, serial, grows with rows: reports in, parquet and ranking out (two-point fit, _serial_fit)
    serial_per_row = serial_fit["per_row_s"]
    compute = n_configs / (per_cpu * node_cpus * n_nodes)
    serial = serial_per_row * n_configs
    # scaling stops where adding nodes no longer pays: compute on N nodes falls to the serial part
    n_stop = n_configs / (per_cpu * node_cpus * max(serial + fixed, 1e-9))
    return {"per_cpu": per_cpu, "fixed": fixed, "serial_per_row_us": serial_per_row * 1e6, "compute": compute,
            "serial": serial, "total": fixed + compute + serial, "n_stop": n_stop}


def _markdown(rows: list[dict[str, Any]], est: dict[str, float], fit: dict[str, float], args: argparse.Namespace,
              load: str) -> str:
    one = rows[0]
    lines = [
        "## Scaling out: 1, 2, 3 local Ray nodes (`benchmarks/scaling.py`)",
        "",
        f"{machine_line()}; load average before the run {load}, 1-minute load after each node count "
        f"{', '.join(str(r['load_after']) for r in rows)} (other work shared the machine). Reproduce: `{REPRODUCE} --bars {args.bars}"
        f" --repeats {args.repeats} --paths {args.paths}`.",
        "",
        f"Sweep: `sma_cross`, fast 5..500 × slow 5..1000 step 5 = {one['n_configs']:,} configurations, "
        f"{args.bars:,} synthetic 1-minute bars (seeded random walk, not market data), one 1-CPU single-threaded "
        "trial per node, `Tuner.fit` wall, best of the repeats. Monte Carlo: block bootstrap of the bundled "
        f"ETH-BTC-5m backtest, {args.paths:,} paths in 4 tasks per node. Each node offers 1 logical CPU.",
        "",
        "**The nodes share this machine's 2 cores** (nothing pins a node to a core). What this shows: the cost "
        "of scaling out — a trial and its worker starting on another node, the bars shipped to that node's "
        "object store, results back to the driver, scheduling across raylets. What it cannot show: more CPUs. "
        "From 2 to 3 nodes no speed-up is possible here (3 logical CPUs on 2 cores), and the gain from 1 to 2 "
        "nodes is the second core, which one node with 2 CPUs gets as well.",
        "",
        "| nodes | sweep `Tuner.fit` s (runs) | configs/s | efficiency | slowest trial's kernel s | "
        "trial start s | Monte Carlo s (runs) | paths/s | efficiency |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base_c = one["n_configs"] / one["best_tune_s"]
    base_p = args.paths / one["mc_best_s"]
    for r in rows:
        c = r["n_configs"] / r["best_tune_s"]
        p = args.paths / r["mc_best_s"]
        lines.append(
            f"| {r['nodes']} | {r['best_tune_s']:.1f} ({', '.join(f'{t:.1f}' for t in r['tune_seconds'])}) | "
            f"{c:,.0f} | {c / (r['nodes'] * base_c):.0%} | {r['max_trial_eval_s']:.1f} | "
            f"{r['fit_to_last_trial_s'] + r['trial_imports_max_s']:.1f} | "
            f"{r['mc_best_s']:.1f} ({', '.join(f'{t:.1f}' for t in r['mc_seconds'])}) | {p:,.0f} | "
            f"{p / (r['nodes'] * base_p):.0%} |")
    lines += [
        "",
        "Trial start = `Tuner.fit` start to the last trial entering, plus the slowest trial's imports (the "
        "fixed cost a node adds before it computes).",
        "",
        f"### Estimate: {args.est_nodes} nodes × {args.est_cpus} CPUs, {args.est_configs:,.0f} configurations "
        "(arithmetic, not a measurement)",
        "",
        f"* Per-CPU kernel throughput, measured on 1 node: {one['n_configs']:,} configs / "
        f"{one['max_trial_eval_s']:.1f} s = **{est['per_cpu']:,.0f} configs/s** on these bars.",
        f"* Compute: {args.est_configs:,.0f} / ({est['per_cpu']:,.0f} × {args.est_cpus} × {args.est_nodes}) = "
        f"**{est['compute']:,.1f} s**, if the work splits evenly (one trial per node holding its CPUs, the "
        "kernel's threads inside, as the sweep does by default).",
        f"* Fixed: about **{est['fixed']:.1f} s** - the largest trial start measured here (in parallel on "
        f"every node) plus the driver's fixed after-report part, {fit['fixed_s']:.2f} s (Tune's teardown, the "
        "job's write-up); measured on a 2-core machine, so an upper bound.",
        f"* Serial on the driver, growing with the rows: reports in, Parquet and ranking out. Measured as a "
        f"line through two 1-node sweeps: {fit['rows_full']:,} rows -> {fit['after_full_s']:.3f} s after the "
        f"last report, {fit['rows_coarse']:,} rows -> {fit['after_coarse_s']:.3f} s (medians), so "
        + ("no per-row cost above this measurement's noise; bounded from above by the full grid's whole "
           "after-report time over its rows: at most " if fit.get("per_row_is_bound") else "") +
        f"{est['serial_per_row_us']:.2f} µs per configuration → **{est['serial']:,.1f} s** for "
        f"{args.est_configs:,.0f} rows (plus the bars shipped once to each of {args.est_nodes} object stores: "
        "megabytes per node, in parallel).",
        f"* Total ≈ {est['fixed']:.1f} + {est['compute']:,.1f} + {est['serial']:,.1f} = **{est['total']:,.0f} s**.",
        f"* Where it stops scaling: compute per node falls to the serial part at about "
        f"**{est['n_stop']:,.0f} nodes** of {args.est_cpus} CPUs; beyond that the driver collecting every "
        "configuration's row is the bottleneck. A larger sweep keeps scaling only if trials reduce on the node "
        "(send back the top rows, write their own Parquet part files) instead of reporting every row to one driver.",
        "",
        "Raw per-node-count numbers:",
        "",
        "```",
        *[str(r) for r in rows],
        "```",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=525_600, help="synthetic 1-minute bars (default 525600: a year)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per node count (default 2; best is shown)")
    parser.add_argument("--paths", type=int, default=200_000, help="Monte Carlo paths per run (default 200000)")
    parser.add_argument("--max-nodes", type=int, default=3)
    parser.add_argument("--est-nodes", type=int, default=100)
    parser.add_argument("--est-cpus", type=int, default=16, help="CPUs per node of the estimate (default 16)")
    parser.add_argument("--est-configs", type=float, default=10_000_000)
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still stops its nodes (finally)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # the driver joins the loopback head (cluster/rayenv.py)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    root = Path(tempfile.mkdtemp(prefix="rt-scale-", dir="/tmp"))
    head_env = _env(root / "head")
    os.environ.update(head_env)

    import ray

    from benchmarks.sweep_vs_vectorbt import synthetic_bars
    from cluster.commands.join import join
    from cluster.lifecycle import down, up
    from raytrader.config import load_config

    config = load_config(env=head_env)
    homes: list[Path] = []
    rows: list[dict[str, Any]] = []
    bars = synthetic_bars(7, args.bars)
    try:
        state = up(config).state
        url = state.redis.url()
        ray.init(address=state.ray.gcs_address, log_to_driver=False)
        for k in range(1, args.max_nodes + 1):
            if k > 1:
                home = root / f"node{k}"
                homes.append(home)
                join(load_config(env=dict(head_env, RAYTRADER_CLUSTER__HOME=str(home), REDIS_URL=url)),
                     state.ray.gcs_address, num_cpus=1, object_store_mb=300)
                deadline = time.monotonic() + 120
                while len([n for n in ray.nodes() if n["Alive"]]) < k and time.monotonic() < deadline:
                    time.sleep(0.5)
            rows.append(_measure(bars, root, k, args.repeats, args.paths))
            print(rows[-1], flush=True)
            if k == 1:
                fit = _serial_fit(bars, root, max(3, args.repeats))
                print(fit, flush=True)
    finally:
        ray.shutdown()
        for home in homes:
            down(load_config(env=dict(head_env, RAYTRADER_CLUSTER__HOME=str(home))))
        down(config)
        shutil.rmtree(root, ignore_errors=True)
    est = _estimate(rows, fit, args.est_cpus, args.est_nodes, args.est_configs)
    text = _markdown(rows, est, fit, args, load)
    print(text)
    if not args.no_write:
        print(f"wrote {write_section('scaling', text)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
