"""Classical references: brute force against MILP and a naive loop; relaxation; efficient frontier."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from quantum.classical import efficient_frontier, relaxation, solve_exact, solve_milp
from quantum.errors import SolverOptionError
from quantum.problem import PortfolioProblem, problem_from_estimate
from quantum.returns import estimate_returns


def _random_problem(panel, rng, n, **kwargs) -> PortfolioProblem:
    names = [c for c in panel.columns if c != "timestamp"]
    assets = list(rng.choice(names, n, replace=False))
    year = int(rng.integers(2000, 2021))
    est = estimate_returns(panel, assets, f"{year}-01-01", f"{year + 2}-12-31")
    return problem_from_estimate(est, kwargs.pop("budget", n // 2), float(rng.uniform(0.1, 2.0)), **kwargs)


def test_brute_force_matches_naive_loop(panel) -> None:
    p = _random_problem(panel, np.random.default_rng(3), 7, budget=3)
    naive = min(
        (p.evaluate(np.isin(np.arange(7), c).astype(float))[0], c) for c in itertools.combinations(range(7), 3))
    ex = solve_exact(p)
    assert ex.objective == pytest.approx(naive[0], abs=1e-15)
    assert np.flatnonzero(ex.bits).tolist() == list(naive[1])
    assert ex.n_candidates == 35
    assert ex.worst_objective > ex.objective
    assert ex.approx_ratio(ex.objective) == 1.0 and ex.approx_ratio(ex.worst_objective) == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_brute_force_matches_milp_on_random_instances(panel, seed) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 13))
    p = _random_problem(panel, rng, n, budget=int(rng.integers(1, n)))
    ex, mi = solve_exact(p), solve_milp(p)
    assert mi.objective == pytest.approx(ex.objective, rel=1e-9, abs=1e-13)
    assert mi.worst_objective == pytest.approx(ex.worst_objective, rel=1e-9, abs=1e-13)
    assert p.feasible(mi.bits)[0]


def test_milp_matches_brute_force_with_lots_costs_and_caps(panel) -> None:
    rng = np.random.default_rng(7)
    p = _random_problem(panel, rng, 6, budget=5, lot_bits=2, holdings=[1, 0, 2, 0, 0, 1], transaction_cost=2e-4)
    ex, mi = solve_exact(p), solve_milp(p)
    assert mi.objective == pytest.approx(ex.objective, rel=1e-9)
    labels = ("t", "t", "t", "o", "o", "o")
    capped = PortfolioProblem(p.assets, p.mu, p.sigma, budget=5, lot_bits=2, sectors=labels,
                              sector_caps=(("t", 1),))
    ex_c, mi_c = solve_exact(capped), solve_milp(capped)
    assert mi_c.objective == pytest.approx(ex_c.objective, rel=1e-9)
    assert capped.lots(ex_c.bits)[0][:3].sum() <= 1


def test_exact_refuses_too_many_assets(panel) -> None:
    mu = np.full(26, 1e-3)
    p = PortfolioProblem(tuple(f"A{i}" for i in range(26)), mu, np.eye(26) * 1e-4, budget=3)
    with pytest.raises(SolverOptionError, match="milp"):
        solve_exact(p)


def test_relaxation_respects_bounds_and_budget(panel) -> None:
    p = _random_problem(panel, np.random.default_rng(5), 10, budget=4)
    x = relaxation(p)
    assert x.min() >= 0 and x.max() <= 1
    assert x.sum() == pytest.approx(4, abs=1e-6)
    # the relaxation is a lower bound on the integer optimum, and no worse than another feasible
    # continuous point (the uniform one, budget / n everywhere)
    def f(w):
        return p.risk_aversion * w @ p.sigma @ w - p.mu @ w

    cont = f(x)
    assert cont <= solve_exact(p).objective + 1e-12
    assert cont <= f(np.full(p.n_assets, 4 / p.n_assets)) + 1e-12


def test_efficient_frontier_runs_from_min_variance_to_max_return(panel) -> None:
    est = estimate_returns(panel, ["AAPL", "MSFT", "JPM", "XOM", "KO", "PG"], "2018-01-01", "2022-12-28")
    pts = efficient_frontier(est.mu, est.sigma, 8)
    assert len(pts) == 8
    rets = [p.expected_return for p in pts]
    vols = [p.volatility for p in pts]
    assert all(b >= a - 1e-12 for a, b in zip(rets, rets[1:]))
    assert all(b >= a - 1e-9 for a, b in zip(vols, vols[1:]))
    assert rets[-1] == pytest.approx(est.mu.max(), rel=1e-4)
    for p in pts:
        assert p.weights.min() >= 0 and p.weights.sum() == pytest.approx(1.0)
    # no long-only portfolio on a grid has lower variance than the first point
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(6), size=2000)
    assert np.sqrt(np.einsum("ij,jk,ik->i", w, est.sigma, w)).min() >= vols[0] - 1e-9
