"""Each variational solver on real simulators finds the exact optimum of small real instances (fixed seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from quantum.circuits import dicke_state
from quantum.classical import solve_exact
from quantum.errors import SolverOptionError
from quantum.problem import problem_from_estimate
from quantum.returns import estimate_returns
from quantum.solvers import SolverConfig, solve_quantum, with_initial_point


@pytest.fixture(scope="module")
def small(panel):
    est = estimate_returns(panel, ["AAPL", "JPM", "XOM", "KO", "PG"], "2020-01-01", "2022-12-28")
    p = problem_from_estimate(est, 2)
    return p, solve_exact(p)


@pytest.mark.parametrize("n,k", [(4, 2), (5, 1), (6, 3), (7, 4), (3, 3)])
def test_dicke_state_is_uniform_over_weight_k(n, k) -> None:
    probs = Statevector(dicke_state(n, k)).probabilities()
    weights = np.array([bin(i).count("1") for i in range(2 ** n)])
    np.testing.assert_allclose(probs, np.where(weights == k, 1 / math.comb(n, k), 0.0), atol=1e-12)


# uniform sampling would give 1/32 over all bitstrings and 1/10 over the C(5, 2) feasible ones
@pytest.mark.parametrize("solver,min_p", [("qaoa", 0.06), ("xy-qaoa", 0.25), ("warm-qaoa", 0.3), ("cvar-vqe", 0.8)])
def test_solver_finds_the_optimum(small, solver, min_p) -> None:
    p, ex = small
    r = solve_quantum(p, solver, SolverConfig(seed=11, maxiter=60), exact=ex)
    assert r.found_optimum
    assert r.selected == tuple(a for a, b in zip(p.assets, ex.bits) if b)
    assert r.p_optimal >= min_p
    assert 0 < r.feasibility_rate <= 1
    assert r.evaluations > 10 and r.seconds > 0
    if solver == "xy-qaoa":
        assert r.feasibility_rate == 1.0  # the XY mixer never leaves the budget subspace


def test_statevector_sampler_for_tiny_cases(panel) -> None:
    est = estimate_returns(panel, ["MSFT", "WMT", "CVX"], "2015-01-01", "2019-12-31")
    p = problem_from_estimate(est, 1)
    r = solve_quantum(p, "xy-qaoa", SolverConfig(backend="statevector", seed=3, maxiter=30, reps=1))
    assert r.found_optimum and r.feasibility_rate == 1.0
    assert r.p_optimal > 1 / 3


def test_parameter_transfer_between_instances_of_one_size(panel) -> None:
    a = problem_from_estimate(estimate_returns(panel, ["AAPL", "JPM", "XOM", "KO"], "2016-01-01", "2018-12-31"), 2)
    b = problem_from_estimate(estimate_returns(panel, ["MSFT", "BAC", "CVX", "PG"], "2019-01-01", "2021-12-31"), 2)
    first = solve_quantum(a, "xy-qaoa", SolverConfig(seed=5, maxiter=40))
    config = with_initial_point(SolverConfig(seed=5, maxiter=10), first)
    second = solve_quantum(b, "xy-qaoa", config)
    assert second.found_optimum
    assert second.evaluations == 10 + 1  # no start-point scan: COBYLA's 10, then the final distribution
    with pytest.raises(SolverOptionError, match="initial_point"):
        solve_quantum(b, "xy-qaoa", SolverConfig(initial_point=(0.1, 0.2, 0.3)))


def test_solver_rejects_what_it_cannot_do(panel) -> None:
    est = estimate_returns(panel, ["AAPL", "JPM", "XOM"], "2020-01-01", "2022-12-28")
    lots = problem_from_estimate(est, 3, lot_bits=2)
    with pytest.raises(SolverOptionError, match="xy-qaoa"):
        solve_quantum(lots, "xy-qaoa")
    with pytest.raises(SolverOptionError, match="unknown solver"):
        solve_quantum(lots, "grover")
    with pytest.raises(SolverOptionError, match="alpha"):
        SolverConfig(alpha=0.0)


def test_cvar_vqe_handles_integer_lots(panel) -> None:
    est = estimate_returns(panel, ["AAPL", "XOM", "KO"], "2020-01-01", "2022-12-28")
    p = problem_from_estimate(est, 3, lot_bits=2)
    r = solve_quantum(p, "cvar-vqe", SolverConfig(seed=2, maxiter=120))
    assert r.n_qubits == 6
    assert r.found_optimum
    assert p.lots(r.bits)[0].sum() == 3
