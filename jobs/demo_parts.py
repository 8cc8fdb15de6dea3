"""The demo's research parts, kept out of the general job modules: the bundled pairs it runs on, the
walk-forward over all of them (:func:`demo_walkforward`) and a small portfolio selection
(:func:`demo_selection`). Used by :mod:`jobs.demo`."""

from __future__ import annotations

import time
from typing import Any, Sequence

__all__ = ["demo_samples", "demo_walkforward", "demo_selection"]


def demo_samples() -> list[str]:
    """The bundled 5-minute alt/BTC samples (ten pairs, 2018-01-10 .. 2018-01-30)."""
    from market.samples import list_samples  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    return sorted(s.name for s in list_samples() if s.kind == "ohlcv" and s.timeframe == "5m"
                  and s.symbol.endswith("/BTC"))


def demo_walkforward(*, folds: int = 4, grid: tuple[str, ...] = ("fast=6:48:6", "slow=24:192:24"),
                     fees_bps: float = 10.0) -> dict[str, Any]:
    """Walk forward on every bundled alt/BTC 5-minute pair; all folds of all pairs as Ray tasks.

    Rolling folds: 2,880 training bars (10 days), then ``folds`` test windows
    tiling the rest (about 720 bars = 2.5 days each for 4 folds). Returns
    ``{grid, n_configs, folds, fees_bps, table, pairs, seconds}`` where
    ``table`` has one row per pair and fold (chosen ``fast``/``slow``,
    in-sample Sharpe, out-of-sample return/Sharpe/trades) and ``pairs`` one
    row per pair (compounded out-of-sample return, efficiency, modal
    parameters and their share). Connects to the running cluster when Ray is
    not initialised yet. Takes a few seconds on 2 CPUs.
    """
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from jobs.walkforward import WalkForwardRequest, plan_walkforward, run_folds  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.walkforward import summarize  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from market.samples import load_sample  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(address="auto", log_to_driver=False)
    request = WalkForwardRequest(grid=grid, folds=folds, train_bars=2880, metric="sharpe", fees_bps=fees_bps)
    names = demo_samples()
    plans = [plan_walkforward(request, bars=load_sample(name)) for name in names]
    grouped = run_folds(plans)
    table, pairs = [], []
    for plan, results in zip(plans, grouped):
        bars = plan.bars
        summary = summarize(results, request.metric)
        for r in summary.folds:
            table.append({"symbol": bars.symbol, "fold": r.fold.index, "test_start": r.test_time[0],
                          "test_end": r.test_time[1], **r.params, "is_sharpe": r.in_sample["sharpe"],
                          "oos_return": r.out_of_sample["total_return"], "oos_sharpe": r.out_of_sample["sharpe"],
                          "oos_trades": r.out_of_sample["n_trades"]})
        pairs.append({"symbol": bars.symbol, "oos_total_return": summary.oos_total_return,
                      "efficiency": summary.efficiency, "modal_params": summary.stability["modal_params"],
                      "modal_share": summary.stability["modal_share"]})
    return {"job": "walkforward-demo", "strategy": "sma_cross", "grid": list(grid),
            "n_configs": int(plans[0].params.shape[0]), "folds": folds, "train_bars": 2880, "fees_bps": fees_bps,
            "table": table, "pairs": pairs, "seconds": round(time.perf_counter() - started, 3)}


def demo_selection(solvers: Sequence[str] = ("qaoa", "cvar-vqe"), seed: int = 7) -> dict[str, Any]:
    """One small selection (4 of 8 stocks, 2020-01..2022-12, q = 0.5) by each solver beside the exact answer.

    Fast (about 5 s on 2 cores). Keys: ``assets``, ``budget``, ``window``, ``exact_selected``,
    ``exact_objective``, ``runs`` (per solver: ``solver, selected, objective, approx_ratio, p_optimal,
    seconds``), ``text`` (a few printable lines), ``seconds``.
    """
    from jobs.optimize_portfolio import DEMO_ASSETS, OptimizeRequest, selection_problem  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from quantum.classical import solve_exact  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from quantum.solvers import SolverConfig, solve_quantum  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter()
    request = OptimizeRequest(assets=DEMO_ASSETS, budget=4)
    estimate, problem = selection_problem(request)
    exact = solve_exact(problem)
    runs = []
    for solver in solvers:
        r = solve_quantum(problem, solver, SolverConfig(maxiter=100, seed=seed), exact=exact)
        runs.append({"solver": solver, "selected": list(r.selected), "objective": r.objective,
                     "approx_ratio": round(exact.approx_ratio(r.objective), 6), "p_optimal": round(r.p_optimal, 6),
                     "seconds": round(r.seconds, 3)})
    exact_sel = [a for a, b in zip(problem.assets, exact.bits) if b]
    lines = [f"portfolio selection: {problem.budget} of {', '.join(problem.assets)} "
             f"({estimate.start}..{estimate.end}, q = {problem.risk_aversion:g})",
             f"  {'exact':9s} {', '.join(exact_sel):28s} objective {exact.objective:+.6f}"]
    for run in runs:
        lines.append(f"  {run['solver']:9s} {', '.join(run['selected']):28s} objective {run['objective']:+.6f}  "
                     f"P(optimum) {run['p_optimal']:.3f}  {run['seconds']:.1f} s")
    return {"assets": list(problem.assets), "budget": problem.budget,
            "window": {"start": estimate.start, "end": estimate.end, "days": estimate.n_days},
            "exact_selected": exact_sel, "exact_objective": exact.objective, "runs": runs,
            "text": "\n".join(lines), "seconds": round(time.perf_counter() - started, 3)}
