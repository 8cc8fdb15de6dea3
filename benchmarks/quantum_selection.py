"""Quantum portfolio selection: qiskit-optimization's default QAOA against ours, both checked by brute force.

Reproduce (writes the ``quantum`` section of ``benchmarks/RESULTS.md``)::

    .venv/bin/python -m benchmarks.quantum_selection                       # full run
    .venv/bin/python -m benchmarks.quantum_selection --sizes 4,6 --instances 3 --no-write   # smoke run

Instances: random subsets of the bundled 20-stock panel (daily simple returns
2020-01-02..2022-12-28), budget B = n/2, q = 0.5, seeded. For each instance:

* **baseline** — ``MinimumEigenOptimizer(QAOA(aer SamplerV2, COBYLA(maxiter=100), reps=2, pass_manager))``
  on the raw QuadraticProgram (automatic penalty, no normalisation): qiskit-optimization's default recipe.
* **ours** — :func:`quantum.solvers.solve_quantum` with the named solver and its defaults
  (normalised QUBO, tight penalty; cvar-vqe: RY/CX ansatz warm-started from the relaxation,
  CVaR α 0.25 then 1.0, COBYLA 200 iterations up to 12 qubits and 30 per qubit above, 2048 shots,
  final distribution 8192 shots).

Per size: how often the returned selection is the exact optimum, how often the optimum is among
the final samples, the median probability of the optimal bitstring, median seconds per solve.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

WINDOW = ("2020-01-01", "2022-12-28")


def _baseline(problem, exact) -> dict[str, Any]:
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2
    from qiskit_optimization.algorithms import MinimumEigenOptimizer
    from qiskit_optimization.minimum_eigensolvers import QAOA
    from qiskit_optimization.optimizers import COBYLA

    started = time.perf_counter()
    pm = generate_preset_pass_manager(optimization_level=1, backend=AerSimulator())
    qaoa = QAOA(SamplerV2(seed=7), COBYLA(maxiter=100), reps=2, pass_manager=pm)
    res = MinimumEigenOptimizer(qaoa).solve(problem.quadratic_program())
    seconds = time.perf_counter() - started
    opt = exact.bits.astype(int)
    p_opt = sum(s.probability for s in res.samples if np.array_equal(np.rint(s.x).astype(int), opt))
    among = any(np.array_equal(np.rint(s.x).astype(int), opt) for s in res.samples)
    returned = np.array_equal(np.rint(res.x).astype(int), opt)
    return {"returned": returned, "among": among, "p_optimal": float(p_opt), "seconds": seconds}


def _ours(problem, exact, solver: str) -> dict[str, Any]:
    from quantum.solvers import SolverConfig, solve_quantum

    r = solve_quantum(problem, solver, SolverConfig(), exact=exact)
    return {"returned": r.found_optimum, "among": r.p_optimal > 0, "p_optimal": r.p_optimal, "seconds": r.seconds,
            "evaluations": r.evaluations, "feasibility": r.feasibility_rate}


def _instances(panel, n: int, count: int, seed: int):
    from quantum.problem import problem_from_estimate
    from quantum.returns import estimate_returns

    names = [c for c in panel.columns if c != "timestamp"]
    rng = np.random.default_rng(seed * 1000 + n)
    for _ in range(count):
        assets = list(rng.choice(names, n, replace=False))
        yield problem_from_estimate(estimate_returns(panel, assets, *WINDOW), n // 2, 0.5)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"n": len(rows), "returned": sum(r["returned"] for r in rows), "among": sum(r["among"] for r in rows),
            "median_p": statistics.median(r["p_optimal"] for r in rows),
            "median_s": statistics.median(r["seconds"] for r in rows), "max_s": max(r["seconds"] for r in rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,6,8,10,12,16,20", help="asset counts n")
    parser.add_argument("--instances", type=int, default=20, help="instances per size up to --big")
    parser.add_argument("--big", type=int, default=14, help="sizes above this get --big-instances instances")
    parser.add_argument("--big-instances", type=int, default=2, help="instances per size above --big")
    parser.add_argument("--baseline-max", type=int, default=16, help="largest n the baseline runs on")
    parser.add_argument("--solver", default="cvar-vqe", help="our solver (default cvar-vqe)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", default="", help="append one JSON line per solve to this file")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    parser.add_argument("--from-log", default="", help="build the main table from a --log file instead of solving")
    parser.add_argument("--log-origin", default="", help="the command that wrote --from-log's file (for the text)")
    parser.add_argument("--compare", default="", help="also run these solvers of ours (e.g. qaoa,xy-qaoa,warm-qaoa)")
    parser.add_argument("--compare-sizes", default="6,10", help="sizes for --compare")
    parser.add_argument("--compare-instances", type=int, default=5, help="instances per size for --compare")
    args = parser.parse_args(argv)

    from benchmarks._results import machine_line, write_section
    from quantum.classical import solve_exact
    from quantum.returns import load_panel

    table: list[tuple[int, dict | None, dict]] = []
    started = time.perf_counter()
    if args.from_log:
        by_size: dict[int, list[dict]] = {}
        logged_seconds = 0.0
        with open(args.from_log) as fh:
            for raw in fh:
                line = json.loads(raw)
                by_size.setdefault(line["n"], []).append(line)
                logged_seconds += line["ours"]["seconds"] + (line["baseline"] or {"seconds": 0.0})["seconds"]
        for n in sorted(by_size):
            base = [ln["baseline"] for ln in by_size[n] if ln["baseline"]]
            table.append((n, _summary(base) if base else None, _summary([ln["ours"] for ln in by_size[n]])))
    panel = None if args.from_log else load_panel()
    for n in [] if args.from_log else [int(s) for s in args.sizes.split(",")]:
        count = args.instances if n <= args.big else args.big_instances
        base_rows, our_rows = [], []
        for i, problem in enumerate(_instances(panel, n, count, args.seed)):
            exact = solve_exact(problem)
            b = _baseline(problem, exact) if n <= args.baseline_max else None
            o = _ours(problem, exact, args.solver)
            if b:
                base_rows.append(b)
            our_rows.append(o)
            line = {"n": n, "i": i, "assets": list(problem.assets), "baseline": b, "ours": o}
            print(json.dumps(line), file=sys.stderr, flush=True)
            if args.log:
                with open(args.log, "a") as fh:
                    fh.write(json.dumps(line) + "\n")
        table.append((n, _summary(base_rows) if base_rows else None, _summary(our_rows)))
    total = time.perf_counter() - started
    if args.from_log:  # solver seconds only (the exact reference and data loading are not in the log)
        total = logged_seconds

    def cell(s: dict | None, key: str) -> str:
        if s is None:
            return "—"
        if key in ("returned", "among"):
            return f"{s[key]}/{s['n']}"
        if key == "median_p":
            return f"{s[key]:.3f}"
        return f"{s['median_s']:.1f} (max {s['max_s']:.1f})"

    lines = [
        "## Quantum portfolio selection (`benchmarks/quantum_selection.py`)",
        "",
        f"Measured {machine_line()}; `{' '.join(['.venv/bin/python -m benchmarks.quantum_selection'] + (argv or sys.argv[1:]))}`,"
        f" {'about ' if args.from_log else ''}{total / 60:.1f} min in all. Random subsets of the bundled 20-stock panel, daily returns "
        f"{WINDOW[0]}..{WINDOW[1]}, budget B = n/2, q = 0.5, aer `SamplerV2` (1 thread for ours). "
        "*Baseline*: qiskit-optimization's default QAOA (reps 2, COBYLA 100, automatic penalty, raw coefficients) "
        f"through `MinimumEigenOptimizer`. *Ours*: `solve_quantum(problem, \"{args.solver}\")` with its defaults "
        "(normalised QUBO with the tight penalty; RY/CX ansatz warm-started from the continuous relaxation, "
        "CVaR α = 0.25 then 1.0, COBYLA 200 iterations up to n = 12 and 30·n above, 2048 shots per evaluation, "
        "8192 final shots). "
        "*Returned*: the selection the solver returns is the brute-force optimum. *Among*: the optimum was sampled "
        "at all. *P(opt)*: median probability of the optimal bitstring in the final distribution.",
        "",
        "| n | instances | returned (base) | returned (ours) | among samples (base) | among (ours) "
        "| median P(opt) base | median P(opt) ours | s/solve base (median) | s/solve ours (median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, b, o in table:
        lines.append(f"| {n} | {o['n']} | {cell(b, 'returned')} | {cell(o, 'returned')} | {cell(b, 'among')} | "
                     f"{cell(o, 'among')} | {cell(b, 'median_p')} | {cell(o, 'median_p')} | {cell(b, 's')} | "
                     f"{cell(o, 's')} |")
    lines += ["", "At n ≤ 12 the feasible set has at most C(12, 6) = 924 points and the final distribution "
              "8192 shots, so *returned* alone says little; P(opt) is the quality measure. Seconds are wall "
              "clock on a shared 2-core machine."]
    if args.from_log and args.log_origin:
        lines.insert(3, f"Main table rebuilt from the per-solve log of {args.log_origin}; the time above sums solver "
                        "seconds only.")
    if args.compare:
        panel = panel if panel is not None else load_panel()
        lines += ["", f"Our other solvers, same instance generator, {args.compare_instances} instances per size "
                  "(defaults: depth p = 2, COBYLA 200, 2048 shots; start point from a batched linear-ramp scan):", "",
                  "| solver | n | returned | median P(opt) | median feasible | s/solve (median) |", "|---|---|---|---|---|---|"]
        for solver in args.compare.split(","):
            for n in [int(v) for v in args.compare_sizes.split(",")]:
                rows = []
                for problem in _instances(panel, n, args.compare_instances, args.seed):
                    rows.append(_ours(problem, solve_exact(problem), solver))
                    print(json.dumps({"solver": solver, "n": n, **rows[-1]}), file=sys.stderr, flush=True)
                sm = _summary(rows)
                feas = statistics.median(r["feasibility"] for r in rows)
                lines.append(f"| {solver} | {n} | {sm['returned']}/{sm['n']} | {sm['median_p']:.3f} | {feas:.2f} | "
                             f"{sm['median_s']:.1f} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("quantum", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
