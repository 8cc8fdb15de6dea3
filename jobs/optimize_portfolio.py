"""Portfolio selection on Qiskit simulators beside the exact classical optimum, as a Ray job.

Runs the same code three ways:

* ``raytrader optimize --assets AAPL,MSFT,JPM,XOM --budget 2 --solver cvar-vqe --json`` (one instance, in-process)
* ``python -m jobs.optimize_portfolio ...`` (same flags), e.g. as a Ray job:
  ``ray job submit --address http://127.0.0.1:8265 --working-dir . -- python -m jobs.optimize_portfolio --json``.
  With several ``--windows`` and/or ``--risk-aversions`` the job solves every
  combination as a parallel Ray task (1 CPU each) and adds the long-only
  efficient frontier of the first window.
* :func:`plan_optimize` then :func:`run_optimize` from Python (request, plan, report), or
  :func:`run_optimize_request` for one instance's JSON object in one call (what each Ray task returns; the
  demo's small selection is :func:`jobs.demo_parts.demo_selection`).

One instance's JSON: ``assets``, ``selected`` (names), ``objective`` and
``exact_objective`` (``q·xᵀΣx − μᵀx`` in daily-return units, lower is
better), ``approx_ratio`` (1 = optimal, 0 = worst feasible selection),
``p_optimal`` (probability of the optimal bitstring in the final
distribution; null for classical solvers), ``target_weights`` (fractions
summing to 1, what the trading system rebalances to), ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from jobs.inputs import parse_seed
from raytrader.errors import InputError

__all__ = ["OptimizeRequest", "OptimizePlan", "OptimizeReport", "plan_optimize", "run_optimize", "SOLVER_CHOICES",
           "DEMO_ASSETS", "selection_problem", "add_optimize_arguments", "request_from_args", "run_optimize_request",
           "optimize_many", "frontier_points", "portfolio_point", "plot_results", "main"]

SOLVER_CHOICES = ("qaoa", "xy-qaoa", "cvar-vqe", "warm-qaoa", "exact", "milp")
#: upper bounds of the variational flags: the circuit depth and the work per solve grow with each
#: (QAOA at 1,000 reps was still running after 150 s); past these a run is not a usable experiment here
MAX_REPS = 10
MAX_SHOTS = 1_000_000
MAX_MAXITER = 100_000
#: eight of the bundled stocks across sectors; the demo picks 4 of them
DEMO_ASSETS = ("AAPL", "MSFT", "JPM", "XOM", "KO", "PG", "JNJ", "WMT")


@dataclass(frozen=True)
class OptimizeRequest:
    """One selection problem and how to solve it. ``data`` empty = the bundled 20-stock panel.

    Dates are ISO days, inclusive; ``risk_aversion`` is q; ``budget`` the number of assets (or lots) held.
    """

    assets: tuple[str, ...]
    budget: int
    start: str = "2020-01-01"
    end: str = "2022-12-28"
    risk_aversion: float = 0.5
    solver: str = "cvar-vqe"
    data: str = ""
    reps: int | None = None
    maxiter: int | None = None
    shots: int = 2048
    seed: int = 7
    shrinkage: float = 0.0
    lot_bits: int = 1
    transaction_cost: float = 0.0
    holdings: tuple[int, ...] | None = None
    backend: str = "aer"
    sectors: tuple[tuple[str, str], ...] = ()
    sector_caps: tuple[tuple[str, int], ...] = ()


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _int_in(flag: str, low: int, high: int):
    """An argparse ``type``: an integer in ``low .. high`` (anything else exits 2 naming ``flag``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text[:40]!r}: expected an integer {low}..{high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag} {text[:40]}: must be in {low}..{high}")
        return value

    return parse


def add_optimize_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags shared by ``raytrader optimize`` and ``python -m jobs.optimize_portfolio``."""
    parser.add_argument("--data", metavar="FILE", default="",
                        help="close panel file (timestamp + one column per asset); default: the bundled 20 stocks")
    parser.add_argument("--assets", default=",".join(DEMO_ASSETS), help="comma-separated asset columns")
    parser.add_argument("--start", default="2020-01-01", help="first day of the estimation window (YYYY-MM-DD)")
    parser.add_argument("--end", default="2022-12-28", help="last day of the estimation window (YYYY-MM-DD)")
    parser.add_argument("--budget", type=int, default=4, help="assets to select (lots with --lot-bits > 1)")
    parser.add_argument("--risk-aversion", type=float, default=0.5, help="q in q·xᵀΣx − μᵀx (default 0.5)")
    parser.add_argument("--solver", choices=SOLVER_CHOICES, default="cvar-vqe", help="default cvar-vqe")
    parser.add_argument("--reps", type=_int_in("--reps", 1, MAX_REPS), default=None,
                        help=f"QAOA depth p (default 2) or VQE layers (default 1); 1..{MAX_REPS}")
    parser.add_argument("--maxiter", type=_int_in("--maxiter", 1, MAX_MAXITER), default=None,
                        help="COBYLA iterations (default 200 up to 12 qubits, else 30 per qubit)")
    parser.add_argument("--shots", type=_int_in("--shots", 1, MAX_SHOTS), default=2048,
                        help="shots per circuit evaluation (default 2048)")
    parser.add_argument("--seed", type=parse_seed, default=7, help="simulator and optimiser seed (0..2**32-1)")
    parser.add_argument("--shrinkage", type=float, default=0.0,
                        help="blend Σ toward its mean variance·I, in [0, 1) (fixes a singular covariance)")
    parser.add_argument("--lot-bits", type=int, default=1, help="bits per asset: 2**bits − 1 lots at most (1..4)")
    parser.add_argument("--transaction-cost", type=float, default=0.0,
                        help="cost per lot traded against --holdings, as a fraction (0.001 = 10 bps)")
    parser.add_argument("--holdings", default="", help="current lots per asset, comma-separated, in --assets order")
    parser.add_argument("--backend", choices=("aer", "statevector"), default="aer", help="sampler (default aer)")
    parser.add_argument("--sector-caps", default="", metavar="SECTOR=K,...",
                        help="at most K lots per sector, e.g. information-technology=1,energy=1 "
                             "(the bundled stocks carry their GICS sectors)")
    parser.add_argument("--sectors", default="", metavar="ASSET=SECTOR,...",
                        help="sector labels for --sector-caps (needed for assets outside the bundled panel)")
    parser.add_argument("--plot", default="", metavar="FILE.png",
                        help="also write the efficient frontier with the selection(s) marked to this PNG")


def request_from_args(args: argparse.Namespace) -> OptimizeRequest:
    holdings = None
    if args.holdings:
        try:
            holdings = tuple(int(v) for v in _csv(args.holdings))
        except ValueError as exc:
            raise InputError(f"holdings: expected comma-separated integers, got {args.holdings!r}") from exc
    from quantum.sectors import parse_sector_caps, parse_sectors  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    caps = parse_sector_caps(args.sector_caps) if args.sector_caps else {}
    sectors = parse_sectors(args.sectors) if args.sectors else {}
    if sectors and not caps:
        raise InputError("sectors: only used with --sector-caps")
    return OptimizeRequest(
        sectors=tuple(sectors.items()), sector_caps=tuple(caps.items()),
        assets=tuple(_csv(args.assets)), budget=args.budget, start=args.start, end=args.end,
        risk_aversion=args.risk_aversion, solver=args.solver, data=args.data or "", reps=args.reps,
        maxiter=args.maxiter, shots=args.shots, seed=args.seed, shrinkage=args.shrinkage, lot_bits=args.lot_bits,
        transaction_cost=args.transaction_cost, holdings=holdings, backend=args.backend,
    )


def selection_problem(request: OptimizeRequest, panel=None):
    from quantum.problem import problem_from_estimate  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from quantum.returns import estimate_returns, load_panel  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from quantum.sectors import sectors_for  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    if panel is None:
        panel = load_panel(request.data or None)
    estimate = estimate_returns(panel, request.assets, request.start, request.end, shrinkage=request.shrinkage)
    caps = dict(request.sector_caps)
    sectors = sectors_for(estimate.assets, dict(request.sectors), caps) if caps else None
    problem = problem_from_estimate(estimate, request.budget, request.risk_aversion, lot_bits=request.lot_bits,
                                    holdings=request.holdings, transaction_cost=request.transaction_cost,
                                    sectors=sectors, sector_caps=caps or None)
    return estimate, problem


@dataclass(frozen=True)
class OptimizePlan:
    """A validated selection problem: the estimate of μ and Σ on the window (``quantum.returns``) and the
    QUBO built from it (``quantum.problem``)."""

    request: OptimizeRequest
    estimate: Any
    problem: Any


def plan_optimize(request: OptimizeRequest, panel=None) -> OptimizePlan:
    """Check the solver settings, estimate the window and build the problem (no Ray, no solving).

    Raises:
        InputError: a bad solver setting (``SolverOptionError`` names it), asset, window or constraint.
    """
    from quantum.errors import SolverOptionError  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    if request.solver not in SOLVER_CHOICES:
        raise SolverOptionError("solver", f"unknown solver {request.solver!r}; use one of {', '.join(SOLVER_CHOICES)}")
    for name, value, high in (("reps", request.reps, MAX_REPS), ("shots", request.shots, MAX_SHOTS),
                              ("maxiter", request.maxiter, MAX_MAXITER), ("seed", request.seed, 2**32 - 1)):
        low = 0 if name == "seed" else 1
        if value is not None and not low <= value <= high:
            raise SolverOptionError(name, f"must be in {low}..{high}, got {value}")
    estimate, problem = selection_problem(request, panel)
    return OptimizePlan(request, estimate, problem)


@dataclass(frozen=True)
class OptimizeReport:
    """One solved selection: the solver's bitstring and objective beside the exact reference (brute force where
    it fits, else the MILP); quantum diagnostics are None for classical solvers; ``seconds`` is wall time."""

    plan: OptimizePlan
    exact: Any  # quantum.classical's result: bits, objective, method, approx_ratio()
    bits: Any
    objective: float
    p_optimal: float | None
    feasibility_rate: float
    evaluations: int
    n_qubits: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """One instance's JSON object (see the module docstring)."""
        problem, estimate, request, exact = self.plan.problem, self.plan.estimate, self.plan.request, self.exact
        lots = problem.lots(self.bits)[0]
        exact_lots = problem.lots(exact.bits)[0]
        out: dict[str, Any] = {
            "assets": list(problem.assets), "budget": problem.budget, "risk_aversion": problem.risk_aversion,
            "window": {"start": estimate.start, "end": estimate.end, "days": estimate.n_days},
            "solver": request.solver, "exact_method": exact.method,
            "p_optimal": self.p_optimal, "feasibility_rate": self.feasibility_rate, "evaluations": self.evaluations,
            "n_qubits": self.n_qubits,
            "selected": [a for a, n in zip(problem.assets, lots) if n > 0],
            "exact_selected": [a for a, n in zip(problem.assets, exact_lots) if n > 0],
            "objective": self.objective if math.isfinite(self.objective) else None,
            "exact_objective": exact.objective,
            "approx_ratio": round(exact.approx_ratio(self.objective), 6),
            "target_weights": problem.weights(self.bits), "exact_target_weights": problem.weights(exact.bits),
            "seconds": self.seconds,
        }
        if problem.sector_caps:
            out["sector_caps"] = dict(problem.sector_caps)
            out["selected_sectors"] = {a: s for a, s, n in zip(problem.assets, problem.sectors or (), lots) if n > 0}
        return out


def run_optimize(plan: OptimizePlan, started: float | None = None) -> OptimizeReport:
    """Solve the planned problem exactly and with the request's solver, in this process.

    ``started``: a ``time.perf_counter()`` reading the report's ``seconds`` count from (default: now).
    """
    from quantum.classical import solve_exact, solve_milp  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from quantum.solvers import SolverConfig, solve_quantum  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter() if started is None else started
    request, problem = plan.request, plan.problem
    small = problem.n_assets <= 25 if problem.lot_bits == 1 else problem.n_vars <= 24
    # the reference: brute force where it fits, else the MILP; a classical solver's own answer is
    # computed separately, so `milp` on a small problem is checked against the brute force
    exact = solve_exact(problem) if small else solve_milp(problem)
    if request.solver in ("exact", "milp"):
        own = exact if request.solver == exact.method else (solve_milp(problem) if request.solver == "milp"
                                                            else solve_exact(problem))
        return OptimizeReport(plan, exact, own.bits, own.objective, None, 1.0, 0, 0,
                              round(time.perf_counter() - started, 3))
    config = SolverConfig(reps=request.reps, shots=request.shots, maxiter=request.maxiter, seed=request.seed,
                          backend=request.backend)
    result = solve_quantum(problem, request.solver, config, exact=exact)
    return OptimizeReport(plan, exact, result.bits, result.objective, round(result.p_optimal, 6),
                          round(result.feasibility_rate, 6), result.evaluations, result.n_qubits,
                          round(time.perf_counter() - started, 3))


def run_optimize_request(request: OptimizeRequest, panel=None) -> dict[str, Any]:
    """Plan and solve ``request`` in this process; one instance's JSON object (what a Ray task returns)."""
    started = time.perf_counter()
    return run_optimize(plan_optimize(request, panel), started).to_json()


def optimize_many(requests: Sequence[OptimizeRequest], *, task_cpus: float = 1.0) -> list[dict[str, Any]]:
    """Solve many instances as parallel Ray tasks (needs ``ray.init`` done by the caller); results in order.

    Each task asks for ``task_cpus``, or what a node has free when that is less (a task asking for more
    would wait silently); with no CPU free for a few seconds, ResourcesUnavailableError names the holders.
    """
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from jobs.resources import gather, plan_tasks  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    cpus = plan_tasks(task_cpus, what="optimize")
    task = ray.remote(num_cpus=cpus)(run_optimize_request)
    try:
        return gather([task.remote(r) for r in requests], what="optimize", task_cpus=cpus)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause()
        if isinstance(cause, InputError):
            raise InputError(str(cause).splitlines()[-1] if str(cause) else "bad input") from None
        raise


def frontier_points(request: OptimizeRequest, points: int) -> list[dict[str, Any]]:
    from quantum.classical import efficient_frontier  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    estimate, _problem_ = selection_problem(request)
    return [{"expected_return": p.expected_return, "volatility": p.volatility,
             "weights": {a: round(float(w), 6) for a, w in zip(estimate.assets, p.weights) if w > 1e-6}}
            for p in efficient_frontier(estimate.mu, estimate.sigma, points)]


def portfolio_point(request: OptimizeRequest, weights: dict[str, float]) -> tuple[float, float]:
    """Daily (volatility, mean return) of ``weights`` (fractions by asset; missing = 0) on the request's window:
    a point beside :func:`frontier_points` (the HTML report and ``--plot`` mark selections with it)."""
    import numpy as np  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    estimate, _problem_ = selection_problem(request)
    w = np.array([weights.get(a, 0.0) for a in estimate.assets])
    return float(np.sqrt(w @ estimate.sigma @ w)), float(estimate.mu @ w)


def plot_results(requests: Sequence[OptimizeRequest], results: Sequence[dict[str, Any]],
                 frontier: Sequence[dict[str, Any]], path: str) -> str:
    """Write the first window's frontier with that window's selections (and exact ones) marked; returns the path."""
    from quantum.plot import plot_frontier  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    marks = []
    for request, result in zip(requests, results):
        if result["window"] != results[0]["window"]:
            continue  # the frontier is the first window's; other windows' points would not belong on it
        tag = f"q={result['risk_aversion']:g} {result['window']['start']}..{result['window']['end']}"
        marks.append((f"{result['solver']}: {','.join(result['selected'])} ({tag})",
                      *portfolio_point(request, result["target_weights"])))
        if result["exact_selected"] != result["selected"]:
            marks.append((f"exact: {','.join(result['exact_selected'])} ({tag})",
                          *portfolio_point(request, result["exact_target_weights"])))
    first = results[0]
    title = f"{len(first['assets'])} assets, {first['window']['start']}..{first['window']['end']}"
    return str(plot_frontier([(p["volatility"], p["expected_return"]) for p in frontier], marks, path, title=title))


def _windows(text: str) -> list[tuple[str, str]]:
    out = []
    for part in _csv(text):
        start, sep, end = part.partition(":")
        if not sep:
            raise InputError(f"windows: {part!r} must look like START:END")
        out.append((start, end))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.optimize_portfolio``: one JSON object; exit 2 on bad input."""
    from raytrader.cli import CommandParser  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    parser = CommandParser(prog="python -m jobs.optimize_portfolio", description=__doc__.splitlines()[0])
    add_optimize_arguments(parser)
    parser.add_argument("--windows", default="", help="START:END,START:END... one instance per window (Ray tasks)")
    parser.add_argument("--risk-aversions", default="", help="q values, comma-separated (one instance per value)")
    parser.add_argument("--frontier-points", type=int, default=10, help="efficient-frontier points (0 = none)")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = parser.parse_args(argv)
    try:
        base = request_from_args(args)
        if args.plot:
            from quantum.plot import check_plot_path  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

            check_plot_path(args.plot)
            if args.frontier_points < 2:
                raise InputError("frontier-points: --plot needs at least 2 frontier points")
        windows = _windows(args.windows) if args.windows else [(base.start, base.end)]
        try:
            qs = [float(v) for v in _csv(args.risk_aversions)] if args.risk_aversions else [base.risk_aversion]
        except ValueError as exc:
            raise InputError(f"risk-aversions: expected numbers, got {args.risk_aversions!r}") from exc
        requests = [replace(base, start=s, end=e, risk_aversion=q) for s, e in windows for q in qs]
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        started = time.perf_counter()
        if not ray.is_initialized():
            ray.init(address="auto", log_to_driver=False)
        results = optimize_many(requests)
        frontier = frontier_points(requests[0], args.frontier_points) if args.frontier_points > 0 else []
        plot = plot_results(requests, results, frontier, args.plot) if args.plot else None
    except InputError as exc:
        sys.stderr.write(f"jobs.optimize_portfolio: error: {' '.join(str(exc).split())}\n")
        return 2
    out = {
        "job": "optimize_portfolio", "instances": len(results), "results": results,
        "frontier": frontier, "plot": plot, "target_weights": results[0]["target_weights"],
        "cluster": {"nodes": len([n for n in ray.nodes() if n["Alive"]]), "cpus": ray.cluster_resources().get("CPU", 0.0)},
        "seconds": round(time.perf_counter() - started, 3),
    }
    sys.stdout.write(json.dumps(out, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
