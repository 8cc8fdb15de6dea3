"""Portfolio selection as a QuadraticProgram and a normalised QUBO.

Decision: ``lots[i]`` ∈ {0, …, 2**lot_bits − 1} lots of asset *i*, encoded
in binary by ``lot_bits`` bits per asset (one bit = pick / don't pick).
Objective (minimised, in daily-return units)::

    f(lots) = q · lotsᵀ Σ lots − μᵀ lots + c · Σᵢ (lotsᵢ − hᵢ)²

subject to ``Σ lots = budget`` and, per sector *s*, ``Σ_{i∈s} lots ≤ cap_s``.
``h`` are current holdings (lots) and ``c`` the transaction cost per lot
traded (a fraction, 0.001 = 10 bps). For single-lot problems
``(lotsᵢ − hᵢ)² = |lotsᵢ − hᵢ|``, so the turnover term is exactly the cost of
the trades; with several lots it charges larger trades quadratically.

Normalisation: μ and Σ are around 1e-3, so a QUBO penalty of order 1 would
flatten the landscape. :meth:`PortfolioProblem.qubo` divides the objective by
:attr:`PortfolioProblem.scale` (its largest coefficient) and uses the
smallest penalty that provably keeps every infeasible point above the best
feasible one (:attr:`PortfolioProblem.penalty`), not qiskit's default
(one plus the objective's whole range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from qiskit_optimization import QuadraticProgram
from qiskit_optimization.converters import QuadraticProgramToQubo

from quantum.errors import BudgetError, ProblemOptionError
from quantum.returns import ReturnEstimate

__all__ = ["PortfolioProblem", "problem_from_estimate"]


@dataclass(frozen=True, eq=False)
class PortfolioProblem:
    """One selection problem.

    Bits are ordered asset-major: bit ``i*lot_bits + b`` is worth ``2**b`` lots of asset *i*.
    ``sectors`` holds one label per asset; ``sector_caps`` are ``(label, max lots)`` pairs.
    """

    assets: tuple[str, ...]
    mu: np.ndarray
    sigma: np.ndarray
    budget: int
    risk_aversion: float = 0.5
    lot_bits: int = 1
    holdings: tuple[int, ...] | None = None
    transaction_cost: float = 0.0
    sectors: tuple[str, ...] | None = None
    sector_caps: tuple[tuple[str, int], ...] = ()
    _terms: tuple = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.assets)
        mu = np.asarray(self.mu, dtype=np.float64)
        sigma = np.asarray(self.sigma, dtype=np.float64)
        if mu.shape != (n,) or sigma.shape != (n, n):
            raise ProblemOptionError("mu/sigma", f"shapes {mu.shape}, {sigma.shape} do not match {n} assets")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise ProblemOptionError("mu/sigma", "must be finite")
        if not np.allclose(sigma, sigma.T, rtol=1e-10, atol=1e-14):
            raise ProblemOptionError("sigma", "covariance must be symmetric")
        bits = self.lot_bits
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 4:
            raise ProblemOptionError("lot_bits", f"must be an integer in 1..4, got {self.lot_bits!r}")
        max_lots = 2 ** int(self.lot_bits) - 1
        if isinstance(self.budget, bool) or not isinstance(self.budget, (int, np.integer)) or self.budget < 1:
            raise BudgetError("budget", f"must be a positive integer, got {self.budget!r}")
        if self.budget > n * max_lots:
            what = f"the {n} assets offered" if max_lots == 1 else f"{n} assets × {max_lots} lots"
            raise BudgetError("budget", f"budget {self.budget} exceeds {what}")
        if not np.isfinite(self.risk_aversion) or self.risk_aversion < 0:
            raise ProblemOptionError("risk_aversion", f"must be ≥ 0, got {self.risk_aversion}")
        if not np.isfinite(self.transaction_cost) or self.transaction_cost < 0:
            raise ProblemOptionError("transaction_cost", f"must be ≥ 0, got {self.transaction_cost}")
        if self.holdings is not None:
            h = tuple(int(v) for v in self.holdings)
            if len(h) != n or any(v < 0 or v > max_lots for v in h):
                raise ProblemOptionError("holdings", f"need {n} values in 0..{max_lots}, got {self.holdings}")
            object.__setattr__(self, "holdings", h)
        if self.sector_caps:
            if self.sectors is None or len(self.sectors) != n:
                raise ProblemOptionError("sectors", f"sector caps need one sector label per asset ({n})")
            for name, cap in self.sector_caps:
                if name not in self.sectors:
                    raise ProblemOptionError("sector_caps", f"unknown sector {name!r}")
                if int(cap) < 0:
                    raise ProblemOptionError("sector_caps", f"cap of {name!r} must be ≥ 0, got {cap}")
        object.__setattr__(self, "assets", tuple(str(a) for a in self.assets))
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", 0.5 * (sigma + sigma.T))
        object.__setattr__(self, "_terms", self._build_terms())

    # ----- shapes ---------------------------------------------------------
    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def n_vars(self) -> int:
        """Number of binary decision variables (qubits before slack bits)."""
        return self.n_assets * self.lot_bits

    @property
    def max_lots(self) -> int:
        return 2 ** self.lot_bits - 1

    @property
    def lot_matrix(self) -> np.ndarray:
        """A with ``lots = A @ bits``; shape (n_assets, n_vars)."""
        a = np.zeros((self.n_assets, self.n_vars))
        for i in range(self.n_assets):
            for b in range(self.lot_bits):
                a[i, i * self.lot_bits + b] = 2.0 ** b
        return a

    def _build_terms(self) -> tuple[float, np.ndarray, np.ndarray]:
        a = self.lot_matrix
        quad = self.risk_aversion * a.T @ self.sigma @ a
        lin = -a.T @ self.mu
        const = 0.0
        if self.transaction_cost > 0:
            h = np.asarray(self.holdings if self.holdings is not None else (0,) * self.n_assets, dtype=np.float64)
            c = self.transaction_cost
            quad = quad + c * a.T @ a
            lin = lin - 2 * c * a.T @ h
            const += c * float(h @ h)
        # bits are 0/1, so x_k² = x_k: move the diagonal into the linear part
        lin = lin + np.diag(quad).copy()
        quad = quad - np.diag(np.diag(quad))
        return const, lin, quad

    @property
    def terms(self) -> tuple[float, np.ndarray, np.ndarray]:
        """``(c, l, Q)`` with ``f(x) = c + lᵀx + xᵀQx`` over bits x; Q symmetric with zero diagonal."""
        return self._terms

    # ----- evaluation -----------------------------------------------------
    def evaluate(self, bits: np.ndarray) -> np.ndarray:
        """Objective f of each row of ``bits`` (shape (m, n_vars) or (n_vars,)), in daily-return units."""
        x = np.atleast_2d(np.asarray(bits, dtype=np.float64))
        c, lin, quad = self._terms
        out = c + x @ lin + np.einsum("ij,ij->i", x @ quad, x)
        return out if np.ndim(bits) > 1 else out[:1]

    def lots(self, bits: np.ndarray) -> np.ndarray:
        """Lots per asset of each row of ``bits``; integer array (m, n_assets)."""
        x = np.atleast_2d(np.asarray(bits, dtype=np.float64))
        return np.rint(x @ self.lot_matrix.T).astype(np.int64)

    def feasible(self, bits: np.ndarray) -> np.ndarray:
        """Whether each row meets the budget and every sector cap."""
        lots = self.lots(bits)
        ok = lots.sum(axis=1) == self.budget
        for name, cap in self.sector_caps:
            idx = [i for i, s in enumerate(self.sectors or ()) if s == name]
            ok &= lots[:, idx].sum(axis=1) <= int(cap)
        return ok

    def weights(self, bits: np.ndarray) -> dict[str, float]:
        """Target portfolio weights (fractions summing to 1) of one selection: lots / budget."""
        lots = self.lots(bits)[0]
        return {a: float(l) / self.budget for a, l in zip(self.assets, lots) if l > 0}

    @property
    def unconstrained(self) -> bool:
        """True when the only constraint is the budget over single-lot bits (XY-mixer compatible)."""
        return self.lot_bits == 1 and not self.sector_caps

    # ----- Qiskit ---------------------------------------------------------
    def _names(self) -> list[str]:
        if self.lot_bits == 1:
            return [f"x_{a}" for a in self.assets]
        return [f"x_{a}_{b}" for a in self.assets for b in range(self.lot_bits)]

    def quadratic_program(self, *, normalized: bool = False) -> QuadraticProgram:
        """The constrained problem; objective divided by :attr:`scale` when ``normalized``."""
        scale = self.scale if normalized else 1.0
        c, lin, quad = self._terms
        qp = QuadraticProgram("portfolio")
        names = self._names()
        for name in names:
            qp.binary_var(name)
        qp.minimize(constant=c / scale, linear=lin / scale, quadratic=quad / scale)
        a = self.lot_matrix
        qp.linear_constraint(linear=a.sum(axis=0), sense="==", rhs=self.budget, name="budget")
        for name, cap in self.sector_caps:
            row = sum(a[i] for i, s in enumerate(self.sectors or ()) if s == name)
            qp.linear_constraint(linear=row, sense="<=", rhs=int(cap), name=f"sector_{name}")
        return qp

    @property
    def scale(self) -> float:
        """Largest absolute objective coefficient (daily-return units); the QUBO divides by it."""
        _c, lin, quad = self._terms
        s = max(float(np.abs(lin).max()), float(np.abs(quad).max()))
        return s if s > 0 else 1.0

    @property
    def penalty(self) -> float:
        """QUBO penalty in normalised units.

        Flipping bit k changes f by at most ``M_k = |l_k| + 2 Σ_j |Q_kj|``; an
        infeasible point v lots away from feasibility is at most ``v·max(M)``·(lot
        weight) better than some feasible point, while the penalty charges it
        ``P·v²``; ``P = 1.1·max(M)·2**(lot_bits-1)`` therefore never lets an
        infeasible point win.
        """
        _c, lin, quad = self._terms
        m = (np.abs(lin) + 2 * np.abs(quad).sum(axis=1)).max() / self.scale
        return float(1.1 * m * 2 ** (self.lot_bits - 1))

    def qubo(self, penalty: float | None = None) -> QuadraticProgram:
        """Normalised, penalised, unconstrained QUBO (slack bits appended after the decision bits)."""
        return QuadraticProgramToQubo(penalty=self.penalty if penalty is None else penalty).convert(
            self.quadratic_program(normalized=True))


def problem_from_estimate(
    estimate: ReturnEstimate,
    budget: int,
    risk_aversion: float = 0.5,
    *,
    lot_bits: int = 1,
    holdings: Sequence[int] | None = None,
    transaction_cost: float = 0.0,
    sectors: Mapping[str, str] | None = None,
    sector_caps: Mapping[str, int] | None = None,
) -> PortfolioProblem:
    """A :class:`PortfolioProblem` on μ, Σ of ``estimate``; ``sectors`` maps asset → sector label."""
    labels = None
    if sectors is not None:
        missing = [a for a in estimate.assets if a not in sectors]
        if missing:
            raise ProblemOptionError("sectors", f"no sector for {', '.join(missing)}")
        labels = tuple(sectors[a] for a in estimate.assets)
    return PortfolioProblem(
        assets=estimate.assets, mu=estimate.mu, sigma=estimate.sigma, budget=budget, risk_aversion=risk_aversion,
        lot_bits=lot_bits, holdings=tuple(holdings) if holdings is not None else None,
        transaction_cost=transaction_cost, sectors=labels,
        sector_caps=tuple(sorted((str(k), int(v)) for k, v in (sector_caps or {}).items())),
    )
