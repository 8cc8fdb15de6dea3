"""Problem construction: hand-computed objectives, QUBO equivalence, return estimates, input errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from quantum.errors import BudgetError, CovarianceError, ProblemOptionError, UnknownAssetError, WindowError
from quantum.problem import PortfolioProblem, problem_from_estimate
from quantum.returns import estimate_returns

MU = np.array([1e-3, 2e-3, 0.5e-3])
SIGMA = np.array([[4e-4, 1e-4, 0.0], [1e-4, 9e-4, 2e-4], [0.0, 2e-4, 1e-4]])


def _qubo_min(problem: PortfolioProblem) -> tuple[np.ndarray, float]:
    qubo = problem.qubo()
    n = qubo.get_num_vars()
    best = min((qubo.objective.evaluate(np.array(b)), b) for b in itertools.product((0, 1), repeat=n))
    return np.array(best[1][: problem.n_vars]), best[0]


def test_objective_matches_hand_computation() -> None:
    p = PortfolioProblem(("A", "B", "C"), MU, SIGMA, budget=2, risk_aversion=0.5)
    # x = (1, 0, 1): 0.5·(Σ00 + Σ22 + 2Σ02) − (μ0 + μ2) = 0.5·(4e-4 + 1e-4) − 1.5e-3
    assert p.evaluate(np.array([1, 0, 1]))[0] == pytest.approx(0.5 * 5e-4 - 1.5e-3, abs=1e-15)
    # x = (1, 1, 0): 0.5·(4e-4 + 9e-4 + 2e-4) − 3e-3
    assert p.evaluate(np.array([1, 1, 0]))[0] == pytest.approx(0.5 * 15e-4 - 3e-3, abs=1e-15)
    qp = p.quadratic_program()
    for x in itertools.product((0, 1), repeat=3):
        assert qp.objective.evaluate(np.array(x)) == pytest.approx(p.evaluate(np.array(x))[0], abs=1e-15)
    norm = p.quadratic_program(normalized=True)
    assert norm.objective.evaluate(np.array([1, 0, 1])) == pytest.approx(p.evaluate(np.array([1, 0, 1]))[0] / p.scale)
    assert p.weights(np.array([1, 0, 1])) == {"A": 0.5, "C": 0.5}


def test_turnover_cost_is_the_cost_of_the_trades() -> None:
    p = PortfolioProblem(("A", "B", "C"), MU, SIGMA, budget=2, holdings=(1, 0, 0), transaction_cost=1e-3)
    base = PortfolioProblem(("A", "B", "C"), MU, SIGMA, budget=2)
    x = np.array([0, 1, 1])  # sell A, buy B and C: three lots traded
    assert p.evaluate(x)[0] - base.evaluate(x)[0] == pytest.approx(3e-3, abs=1e-15)
    x = np.array([1, 1, 0])  # keep A, buy B: one lot traded
    assert p.evaluate(x)[0] - base.evaluate(x)[0] == pytest.approx(1e-3, abs=1e-15)


def test_integer_lots_objective() -> None:
    p = PortfolioProblem(("A", "B", "C"), MU, SIGMA, budget=4, lot_bits=2)
    bits = np.array([1, 1, 0, 0, 1, 0])  # lots (3, 0, 1)
    lots = np.array([3.0, 0.0, 1.0])
    assert p.lots(bits).tolist() == [[3, 0, 1]]
    assert p.evaluate(bits)[0] == pytest.approx(0.5 * lots @ SIGMA @ lots - MU @ lots, abs=1e-15)
    assert p.feasible(bits)[0]
    assert not p.feasible(np.array([1, 1, 1, 1, 0, 0]))[0]  # 3 + 3 = 6 lots, budget 4
    assert p.weights(bits) == {"A": 0.75, "C": 0.25}


@pytest.mark.parametrize("kwargs", [
    {},
    {"holdings": (1, 0, 1, 0, 0), "transaction_cost": 3e-4},
    {"sectors": ("t", "t", "t", "o", "o"), "sector_caps": (("t", 1),)},
])
def test_qubo_minimum_is_the_constrained_optimum(panel, kwargs) -> None:
    from quantum.classical import solve_exact

    est = estimate_returns(panel, ["AAPL", "MSFT", "JPM", "XOM", "KO"], "2019-01-01", "2022-12-28")
    p = PortfolioProblem(est.assets, est.mu, est.sigma, budget=2, **kwargs)
    bits, _val = _qubo_min(p)
    assert p.feasible(bits)[0]
    assert p.evaluate(bits)[0] == pytest.approx(solve_exact(p).objective, abs=1e-15)


def test_normalisation_brings_coefficients_to_order_one(panel) -> None:
    est = estimate_returns(panel, ["AAPL", "MSFT", "JPM", "XOM", "KO", "PG"], "2020-01-01", "2022-12-28")
    p = problem_from_estimate(est, 3)
    assert p.scale < 1e-2  # raw coefficients are ~1e-3
    qp = p.quadratic_program(normalized=True)
    coeffs = np.concatenate([qp.objective.linear.to_array(), qp.objective.quadratic.to_array().ravel()])
    assert np.abs(coeffs).max() == pytest.approx(1.0)
    assert 1.0 < p.penalty < 50.0


def test_estimate_matches_pandas(panel) -> None:
    est = estimate_returns(panel, ["msft", "AAPL"], "2021-01-01", "2021-12-31")
    window = panel[(panel.timestamp >= "2021-01-01") & (panel.timestamp <= "2021-12-31")]
    rets = window[["MSFT", "AAPL"]].pct_change().dropna()
    assert est.assets == ("MSFT", "AAPL")
    assert est.n_days == len(rets) == 251
    np.testing.assert_allclose(est.mu, rets.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(est.sigma, rets.cov(ddof=1).to_numpy(), rtol=1e-12)
    assert est.start == "2021-01-04" and est.end == "2021-12-31"


def test_bad_inputs_name_the_field(panel) -> None:
    est = estimate_returns(panel, ["AAPL", "MSFT", "JPM"], "2020-01-01", "2022-12-28")
    with pytest.raises(BudgetError, match="budget 4 exceeds the 3 assets"):
        problem_from_estimate(est, 4)
    with pytest.raises(BudgetError, match="budget"):
        problem_from_estimate(est, 0)
    with pytest.raises(ProblemOptionError, match="risk_aversion"):
        problem_from_estimate(est, 2, -1.0)
    with pytest.raises(ProblemOptionError, match="holdings"):
        problem_from_estimate(est, 2, holdings=[1, 0])
    with pytest.raises(ProblemOptionError, match="lot_bits"):
        problem_from_estimate(est, 2, lot_bits=9)
    with pytest.raises(UnknownAssetError, match="unknown asset 'TSLA'"):
        estimate_returns(panel, ["AAPL", "TSLA"])
    with pytest.raises(UnknownAssetError, match="listed twice"):
        estimate_returns(panel, ["AAPL", "aapl"])
    with pytest.raises(WindowError, match="holds 5 daily returns"):
        estimate_returns(panel, ["AAPL", "MSFT"], "2022-12-20", "2022-12-28")
    with pytest.raises(WindowError, match="start"):
        estimate_returns(panel, ["AAPL", "MSFT"], "2022-12-20", "2021-12-28")
    with pytest.raises(WindowError, match="not a date"):
        estimate_returns(panel, ["AAPL", "MSFT"], "yesterday")


def test_singular_covariance_is_reported_or_shrunk(panel) -> None:
    frame = panel[["timestamp", "AAPL", "MSFT"]].copy()
    frame["AAPL2"] = frame["AAPL"] * 2.0  # perfectly collinear with AAPL
    with pytest.raises(CovarianceError, match="not positive definite"):
        estimate_returns(frame, ["AAPL", "MSFT", "AAPL2"], "2020-01-01", "2020-12-31")
    # 25 assets-worth of days for 20 assets is fine; 15 days for 20 assets is singular
    names = [c for c in panel.columns if c != "timestamp"]
    with pytest.raises(CovarianceError, match="shrinkage"):
        estimate_returns(panel, names, "2022-11-01", "2022-11-30", min_days=10)
    est = estimate_returns(frame, ["AAPL", "MSFT", "AAPL2"], "2020-01-01", "2020-12-31", shrinkage=0.1)
    assert np.linalg.eigvalsh(est.sigma)[0] > 0
