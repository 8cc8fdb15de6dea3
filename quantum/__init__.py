"""Quantum portfolio selection on Qiskit simulators, checked against exact classical optima.

Pure package (no Ray). Flow: :func:`load_panel` → :func:`estimate_returns`
(μ, Σ of daily simple returns) → :func:`problem_from_estimate`
(:class:`PortfolioProblem`: QuadraticProgram, normalised QUBO) →
:func:`solve_exact` / :func:`solve_milp` (references) and
:func:`solve_quantum` (QAOA, XY-QAOA, warm-start QAOA, CVaR-VQE).
"""

from quantum.classical import (ExactResult, FrontierPoint, efficient_frontier, relaxation, solve_exact,
                               solve_milp)
from quantum.errors import (BudgetError, CovarianceError, PortfolioInputError, ProblemOptionError,
                            SolverOptionError, UnknownAssetError, WindowError)
from quantum.problem import PortfolioProblem, problem_from_estimate
from quantum.returns import DEFAULT_PANEL, ReturnEstimate, estimate_returns, load_panel
from quantum.solvers import SOLVERS, QuantumResult, SolverConfig, solve_quantum, with_initial_point

__all__ = [
    "ExactResult", "FrontierPoint", "efficient_frontier", "relaxation", "solve_exact", "solve_milp",
    "BudgetError", "CovarianceError", "PortfolioInputError", "ProblemOptionError", "SolverOptionError",
    "UnknownAssetError", "WindowError", "PortfolioProblem", "problem_from_estimate", "DEFAULT_PANEL",
    "ReturnEstimate", "estimate_returns", "load_panel", "SOLVERS", "QuantumResult", "SolverConfig",
    "solve_quantum", "with_initial_point",
]
