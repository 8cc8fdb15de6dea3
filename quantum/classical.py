"""Classical references: exact brute force, the MILP, the continuous relaxation and the efficient frontier.

* :func:`solve_exact` enumerates every feasible selection, vectorised in
  chunks (single-lot problems: all C(n, B) subsets, n ≤ 25; lot problems:
  all 2**n_vars bit vectors, n_vars ≤ 24).
* :func:`solve_milp` writes the same problem as a MILP with linearised
  products (``y_kl = x_k·x_l`` via ``y ≤ x_k, y ≤ x_l, y ≥ x_k + x_l − 1``)
  and solves it with scipy's HiGHS; for larger n.
* :func:`relaxation` solves the continuous relaxation (x ∈ [0, 1]) of a
  single-lot problem; warm-start QAOA starts from it.
* :func:`efficient_frontier` returns long-only Markowitz frontier points
  (minimum variance to maximum return) as data; :mod:`quantum.plot` draws
  them (``raytrader optimize --plot FILE.png``).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp, minimize

from quantum.errors import SolverOptionError
from quantum.problem import PortfolioProblem

__all__ = ["ExactResult", "FrontierPoint", "solve_exact", "solve_milp", "relaxation", "efficient_frontier",
           "MAX_EXACT_ASSETS"]

#: largest single-lot problem :func:`solve_exact` enumerates
MAX_EXACT_ASSETS = 25
_CHUNK = 100_000


@dataclass(frozen=True, eq=False)
class ExactResult:
    """An optimal selection: ``bits`` (n_vars 0/1), its objective (daily-return units), and how it was found.

    ``worst_objective`` is the largest objective of any feasible selection, so that
    :meth:`approx_ratio` can place an answer between worst (0) and optimal (1).
    """

    bits: np.ndarray
    objective: float
    worst_objective: float
    method: str
    n_candidates: int
    seconds: float

    def approx_ratio(self, objective: float) -> float:
        """``(worst − objective) / (worst − optimum)``: 1 at the optimum, 0 at the worst feasible selection."""
        span = self.worst_objective - self.objective
        if not np.isfinite(objective):
            return 0.0
        return 1.0 if span <= 0 else float((self.worst_objective - objective) / span)

    def bitstring(self) -> str:
        """Qiskit's order: bit 0 is the rightmost character."""
        return "".join(str(int(b)) for b in self.bits[::-1])


def _combination_chunks(n: int, k: int):
    it = itertools.combinations(range(n), k)
    while True:
        block = np.fromiter(itertools.chain.from_iterable(itertools.islice(it, _CHUNK)), dtype=np.int64)
        if block.size == 0:
            return
        idx = block.reshape(-1, k)
        x = np.zeros((len(idx), n), dtype=np.float64)
        np.put_along_axis(x, idx, 1.0, axis=1)
        yield x


def _bit_chunks(n: int):
    total = 1 << n
    shifts = np.arange(n, dtype=np.int64)
    for lo in range(0, total, _CHUNK):
        codes = np.arange(lo, min(lo + _CHUNK, total), dtype=np.int64)
        yield ((codes[:, None] >> shifts) & 1).astype(np.float64)


def solve_exact(problem: PortfolioProblem) -> ExactResult:
    """The optimum by enumerating every feasible selection (ties broken by enumeration order)."""
    started = time.perf_counter()
    if problem.lot_bits == 1:
        if problem.n_assets > MAX_EXACT_ASSETS:
            raise SolverOptionError("solver", f"exact enumeration handles n ≤ {MAX_EXACT_ASSETS} assets, "
                                              f"got {problem.n_assets}; use milp")
        chunks = _combination_chunks(problem.n_assets, problem.budget)
        n_cand = math.comb(problem.n_assets, problem.budget)
    else:
        if problem.n_vars > 24:
            raise SolverOptionError("solver", f"exact enumeration handles ≤ 24 bits, got {problem.n_vars}; use milp")
        chunks = _bit_chunks(problem.n_vars)
        n_cand = 1 << problem.n_vars
    best_val, best_bits, worst = math.inf, None, -math.inf
    for x in chunks:
        vals = problem.evaluate(x)
        ok = problem.feasible(x)
        if ok.any():
            worst = max(worst, float(vals[ok].max()))
        vals = np.where(ok, vals, np.inf)
        k = int(np.argmin(vals))
        if vals[k] < best_val:
            best_val, best_bits = float(vals[k]), x[k].copy()
    if best_bits is None:
        raise SolverOptionError("sector_caps", "no selection meets the budget and the sector caps")
    return ExactResult(bits=best_bits.astype(np.int8), objective=best_val, worst_objective=worst, method="exact",
                       n_candidates=n_cand, seconds=time.perf_counter() - started)


def solve_milp(problem: PortfolioProblem, *, time_limit: float = 60.0) -> ExactResult:
    """The optimum as a MILP with linearised products, solved by HiGHS (``scipy.optimize.milp``)."""
    started = time.perf_counter()
    const, lin, quad = problem.terms
    scale = problem.scale
    nv = problem.n_vars
    pairs = [(k, l) for k in range(nv) for l in range(k + 1, nv) if quad[k, l] != 0.0]
    ny = len(pairs)
    cost = np.concatenate([lin / scale, [2.0 * quad[k, l] / scale for k, l in pairs]])
    rows, lo, hi = [], [], []
    for j, (k, l) in enumerate(pairs):
        for coeffs, bounds in (({nv + j: 1.0, k: -1.0}, (-np.inf, 0.0)), ({nv + j: 1.0, l: -1.0}, (-np.inf, 0.0)),
                               ({nv + j: 1.0, k: -1.0, l: -1.0}, (-1.0, np.inf))):
            r = np.zeros(nv + ny)
            for idx, v in coeffs.items():
                r[idx] = v
            rows.append(r)
            lo.append(bounds[0])
            hi.append(bounds[1])
    a = problem.lot_matrix
    budget_row = np.concatenate([a.sum(axis=0), np.zeros(ny)])
    rows.append(budget_row)
    lo.append(problem.budget)
    hi.append(problem.budget)
    for name, cap in problem.sector_caps:
        r = sum(a[i] for i, s in enumerate(problem.sectors or ()) if s == name)
        rows.append(np.concatenate([r, np.zeros(ny)]))
        lo.append(-np.inf)
        hi.append(int(cap))
    integrality = np.concatenate([np.ones(nv), np.zeros(ny)])
    found = []
    for sign in (1.0, -1.0):  # the optimum, then the worst feasible selection (for approx_ratio)
        res = milp(sign * cost, constraints=LinearConstraint(np.array(rows), lo, hi), integrality=integrality,
                   bounds=Bounds(0, 1), options={"time_limit": time_limit, "mip_rel_gap": 1e-9})
        if res.x is None:
            raise SolverOptionError("solver", f"milp found no solution: {res.message}")
        if res.status != 0:
            raise SolverOptionError("solver", f"milp stopped before proving optimality: {res.message}")
        found.append(np.rint(res.x[:nv]).astype(np.int8))
    best, worst = found
    return ExactResult(bits=best, objective=float(problem.evaluate(best)[0]),
                       worst_objective=float(problem.evaluate(worst)[0]), method="milp",
                       n_candidates=0, seconds=time.perf_counter() - started)


def relaxation(problem: PortfolioProblem) -> np.ndarray:
    """Continuous relaxation of a single-lot problem: x ∈ [0, 1]^n with the budget and caps; returns x.

    Uses the convex form ``q xᵀΣx − μᵀx + c·‖x − h‖²`` (equal to f on 0/1 points).
    """
    if problem.lot_bits != 1:
        raise SolverOptionError("solver", "the continuous relaxation (warm start) needs lot_bits = 1")
    n = problem.n_assets
    h = np.asarray(problem.holdings if problem.holdings is not None else (0,) * n, dtype=np.float64)
    q, c, mu, sig = problem.risk_aversion, problem.transaction_cost, problem.mu, problem.sigma
    s = problem.scale

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        val = q * x @ sig @ x - mu @ x + c * (x - h) @ (x - h)
        grad = 2 * q * sig @ x - mu + 2 * c * (x - h)
        return val / s, grad / s

    cons = [{"type": "eq", "fun": lambda x: x.sum() - problem.budget, "jac": lambda x: np.ones(n)}]
    for name, cap in problem.sector_caps:
        mask = np.array([1.0 if sct == name else 0.0 for sct in problem.sectors or ()])
        cons.append({"type": "ineq", "fun": lambda x, m=mask, k=cap: k - m @ x, "jac": lambda x, m=mask: -m})
    x0 = np.full(n, problem.budget / n)
    res = minimize(f, x0, jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * n, constraints=cons,
                   options={"maxiter": 500, "ftol": 1e-12})
    return np.clip(res.x, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class FrontierPoint:
    """One long-only efficient portfolio: weights (fractions, sum 1), daily mean return and daily volatility."""

    weights: np.ndarray
    expected_return: float
    volatility: float


def efficient_frontier(mu: np.ndarray, sigma: np.ndarray, n_points: int = 20) -> list[FrontierPoint]:
    """Long-only Markowitz frontier from the minimum-variance portfolio to the maximum-return asset.

    Each point minimises ``wᵀΣw`` subject to ``Σw = 1``, ``w ≥ 0``, ``μᵀw = target``;
    targets are evenly spaced. Returned as data (:mod:`quantum.plot` draws it).
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    n = len(mu)
    if n_points < 2:
        raise SolverOptionError("points", f"need at least 2 frontier points, got {n_points}")
    s = float(np.abs(sigma).max())
    bounds = [(0.0, 1.0)] * n
    budget = {"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)}

    def var(w: np.ndarray) -> tuple[float, np.ndarray]:
        return float(w @ sigma @ w) / s, 2 * sigma @ w / s

    w0 = np.full(n, 1.0 / n)
    minvar = minimize(var, w0, jac=True, method="SLSQP", bounds=bounds, constraints=[budget],
                      options={"maxiter": 500, "ftol": 1e-14}).x
    lo, hi = float(mu @ minvar), float(mu.max())
    points = []
    w = minvar
    for target in np.linspace(lo, hi, n_points):
        cons = [budget, {"type": "eq", "fun": lambda w, t=target: (mu @ w - t) / max(abs(hi), 1e-12),
                         "jac": lambda w: mu / max(abs(hi), 1e-12)}]
        w = minimize(var, w, jac=True, method="SLSQP", bounds=bounds, constraints=cons,
                     options={"maxiter": 500, "ftol": 1e-14}).x
        w = np.clip(w, 0.0, None)
        w = w / w.sum()
        points.append(FrontierPoint(weights=w, expected_return=float(mu @ w),
                                    volatility=float(np.sqrt(max(w @ sigma @ w, 0.0)))))
    return points
