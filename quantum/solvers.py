"""Variational quantum solvers on Qiskit simulators, reported against the exact optimum.

Every solver works on :meth:`PortfolioProblem.qubo` (normalised objective,
tight penalty), transpiles its parameterised circuit once with a preset pass
manager for ``AerSimulator`` and evaluates parameter sets on qiskit-aer's
``SamplerV2`` (``backend="aer"``) or Qiskit's ``StatevectorSampler``
(``backend="statevector"``, for tiny cases). The classical loop is scipy's
COBYLA on the sample-estimated energy (mean, or CVaR_α for ``cvar-vqe``).

Solvers (:data:`SOLVERS`):

* ``qaoa`` — QAOA, |+⟩ start, X mixer, budget as a penalty.
* ``xy-qaoa`` — QAOA from the Dicke state with a ring XY mixer: every sample
  meets the budget, no penalty (single-lot problems without sector caps).
* ``warm-qaoa`` — warm-start QAOA from the continuous relaxation (ε-clipped).
* ``cvar-vqe`` — SamplingVQE-style RY/CX ansatz minimising CVaR_α.

A run reports the returned selection (the best feasible sampled bitstring
of the final distribution), its objective (daily-return units), the
probability of the exact optimum in the final distribution, the feasible
fraction of final shots, circuit evaluations (one per parameter set sampled)
and wall-clock seconds. ``parameters`` of one run can start another of the
same size and kind (parameter transfer): the normalised objective makes
the angles comparable across instances.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from quantum.circuits import qaoa_circuit, ry_ansatz, warm_start_angles
from quantum.classical import ExactResult, relaxation, solve_exact
from quantum.errors import SolverOptionError
from quantum.problem import PortfolioProblem

__all__ = ["SolverConfig", "QuantumResult", "SOLVERS", "solve_quantum", "make_sampler", "with_initial_point"]

SOLVERS = ("qaoa", "xy-qaoa", "warm-qaoa", "cvar-vqe")


@dataclass(frozen=True)
class SolverConfig:
    """Options of a variational run (defaults in brackets).

    reps: QAOA depth p [2], or ansatz entangling layers for cvar-vqe [1]; None = that default.
    shots: samples per parameter set while optimising [2048].
    final_shots: samples of the final distribution that p_optimal and the
        feasibility rate are measured on [8192].
    maxiter: COBYLA iterations; None = 200 up to 12 qubits, else 30 per qubit
        (more angles to settle: at n = 16, 480 lifted the median P(optimum) from 0.07) [None].
    alpha: CVaR fraction α ∈ (0, 1] (1 = mean) for cvar-vqe [0.25]; QAOA solvers use the mean.
    alpha_final: when set, cvar-vqe spends half its iterations at ``alpha`` and then
        continues at ``alpha_final`` (an ascending CVaR: CVaR_α alone stops improving
        once the optimum holds α of the mass); None = a single stage [1.0].
    epsilon: warm-start clipping ε ∈ [0, 0.5] [0.25].
    grid: points per axis of the linear-ramp scan that picks COBYLA's start (QAOA family) [6].
    seed: simulator and optimiser seed [7].
    backend: ``"aer"`` (qiskit-aer SamplerV2) or ``"statevector"`` [aer].
    initial_point: transferred parameters; skips the scan when given [None].
    """

    reps: int | None = None
    shots: int = 2048
    final_shots: int = 8192
    maxiter: int | None = None
    alpha: float = 0.25
    alpha_final: float | None = 1.0
    epsilon: float = 0.25
    grid: int = 6
    seed: int = 7
    backend: str = "aer"
    initial_point: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("reps", "shots", "final_shots", "maxiter", "grid"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise SolverOptionError(name, f"must be ≥ 1, got {getattr(self, name)}")
        if self.alpha_final is not None and not 0 < self.alpha_final <= 1:
            raise SolverOptionError("alpha_final", f"must be in (0, 1], got {self.alpha_final}")
        if not 0 < self.alpha <= 1:
            raise SolverOptionError("alpha", f"CVaR α must be in (0, 1], got {self.alpha}")
        if not 0 <= self.epsilon <= 0.5:
            raise SolverOptionError("epsilon", f"warm-start ε must be in [0, 0.5], got {self.epsilon}")
        if self.backend not in ("aer", "statevector"):
            raise SolverOptionError("backend", f"use aer or statevector, got {self.backend!r}")


@dataclass(frozen=True, eq=False)
class QuantumResult:
    """Outcome of one variational run; objectives in daily-return units (lower is better).

    ``objective`` is NaN (and ``selected`` empty) when no final sample was feasible.
    """

    solver: str
    bits: np.ndarray
    selected: tuple[str, ...]
    objective: float
    exact_objective: float
    p_optimal: float
    feasibility_rate: float
    evaluations: int
    seconds: float
    parameters: tuple[float, ...]
    n_qubits: int

    @property
    def found_optimum(self) -> bool:
        return bool(np.isclose(self.objective, self.exact_objective, rtol=1e-9, atol=1e-12))


def make_sampler(backend: str, shots: int, seed: int):
    """qiskit-aer ``SamplerV2`` or ``StatevectorSampler``, seeded."""
    if backend == "statevector":
        from qiskit.primitives import StatevectorSampler  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

        return StatevectorSampler(default_shots=shots, seed=seed)
    from qiskit_aer.primitives import SamplerV2  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

    # one thread: 2-3x faster than Aer's default for ≤ 16 qubits on a small machine, and one Ray CPU per task
    return SamplerV2(default_shots=shots, seed=seed, options={"backend_options": {"max_parallel_threads": 1}})


def _pass_manager():
    from qiskit.transpiler import generate_preset_pass_manager  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used
    from qiskit_aer import AerSimulator  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

    return generate_preset_pass_manager(optimization_level=1, backend=AerSimulator())


class _Landscape:
    """Samples a transpiled circuit and scores samples with the QUBO; counts evaluations."""

    def __init__(self, problem: PortfolioProblem, circuit, config: SolverConfig) -> None:
        qubo = problem.qubo()
        self.problem = problem
        self.n = qubo.get_num_vars()
        self.const = qubo.objective.constant
        self.lin = qubo.objective.linear.to_array()
        self.quad = qubo.objective.quadratic.to_array(symmetric=True)
        self.circuit = _pass_manager().run(circuit)
        self.sampler = make_sampler(config.backend, config.shots, config.seed)
        self.evaluations = 0
        self._cache: dict[str, tuple[np.ndarray, float]] = {}

    def energies(self, bits: np.ndarray) -> np.ndarray:
        return self.const + bits @ self.lin + np.einsum("ij,ij->i", bits @ self.quad, bits)

    def sample(self, params: np.ndarray, shots: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each row of params: (bits (m, n), probabilities (m,)) of the distinct sampled bitstrings."""
        params = np.atleast_2d(params)
        self.evaluations += len(params)
        raw = self.sampler.run([(self.circuit, params)], shots=shots).result()[0].data.meas.array
        raw = raw.reshape(len(params), shots, -1)
        out = []
        for i in range(len(params)):
            # BitArray bytes are big-endian: the last bit is qubit 0
            bits = np.unpackbits(raw[i], axis=1)[:, ::-1][:, : self.n]
            uniq, counts = np.unique(bits, axis=0, return_counts=True)
            out.append((uniq.astype(np.float64), counts / shots))
        return out

    @staticmethod
    def aggregate(values: np.ndarray, probs: np.ndarray, alpha: float) -> float:
        order = np.argsort(values)
        v, p = values[order], probs[order]
        if alpha >= 1:
            return float(v @ p)
        cum = np.cumsum(p)
        take = np.minimum(p, np.maximum(alpha - (cum - p), 0.0))
        return float(v @ take / alpha)


def _exact(problem: PortfolioProblem, exact: ExactResult | None) -> ExactResult:
    if exact is not None:
        return exact
    if (problem.lot_bits == 1 and problem.n_assets <= 25) or problem.n_vars <= 24:
        return solve_exact(problem)
    from quantum.classical import solve_milp  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

    return solve_milp(problem)


def _ramp(reps: int, g: float, b: float) -> np.ndarray:
    k = (np.arange(reps) + 0.5) / reps
    return np.concatenate([g * k, b * (1 - k)])


def solve_quantum(problem: PortfolioProblem, solver: str = "xy-qaoa", config: SolverConfig = SolverConfig(),
                  *, exact: ExactResult | None = None) -> QuantumResult:
    """Run one variational solver; ``exact`` (computed when not given) is the reference optimum."""
    if solver not in SOLVERS:
        raise SolverOptionError("solver", f"unknown solver {solver!r}; use one of {', '.join(SOLVERS)}")
    if solver == "xy-qaoa" and not problem.unconstrained:
        raise SolverOptionError("solver", "xy-qaoa keeps only the budget: it needs lot_bits = 1 and no sector caps")
    ref = _exact(problem, exact)  # not timed: ``seconds`` is the variational run alone
    started = time.perf_counter()
    if config.reps is None:
        config = replace(config, reps=1 if solver == "cvar-vqe" else 2)
    if config.maxiter is None:
        n_q = problem.qubo().get_num_vars()
        config = replace(config, maxiter=200 if n_q <= 12 else 30 * n_q)
    qubo = problem.qubo()
    op, _offset = qubo.to_ising()
    rng = np.random.default_rng(config.seed)
    alpha = config.alpha if solver == "cvar-vqe" else 1.0
    if solver == "cvar-vqe":
        thetas0 = None
        if problem.lot_bits == 1 and qubo.get_num_vars() == problem.n_vars:
            thetas0 = warm_start_angles(relaxation(problem), 0.15)
        circuit, n_params = ry_ansatz(op.num_qubits, config.reps)
    else:
        mixer = {"qaoa": "x", "xy-qaoa": "xy", "warm-qaoa": "warm"}[solver]
        thetas = None
        if solver == "warm-qaoa":
            if problem.lot_bits != 1 or qubo.get_num_vars() != problem.n_vars:
                raise SolverOptionError("solver", "warm-qaoa needs lot_bits = 1 and no slack bits (no sector caps "
                                                  "that need slack)")
            thetas = warm_start_angles(relaxation(problem), config.epsilon)
        circuit, n_params = qaoa_circuit(op, config.reps, mixer=mixer, budget=problem.budget, thetas=thetas)
    land = _Landscape(problem, circuit, config)

    def cost(params: np.ndarray, a: float) -> float:
        bits, probs = land.sample(params, config.shots)[0]
        return land.aggregate(land.energies(bits), probs, a)

    if config.initial_point is not None:
        if len(config.initial_point) != n_params:
            raise SolverOptionError("initial_point", f"{solver} with reps={config.reps} on {op.num_qubits} qubits "
                                                     f"takes {n_params} parameters, got {len(config.initial_point)}")
        x0 = np.asarray(config.initial_point, dtype=np.float64)
    elif solver == "cvar-vqe":
        x0 = np.zeros(n_params)
        if thetas0 is not None:
            x0[-op.num_qubits:] = thetas0  # last RY layer starts at the relaxed solution
        x0 = x0 + rng.normal(scale=0.05, size=n_params)
    else:
        # scan linear-ramp schedules (γ, β scales) in one batched sampler call, start from the best
        gs = np.linspace(0.2, 2.0, config.grid) * (np.pi / max(problem.penalty, 1.0) if solver == "qaoa" else 1.0)
        bs = np.concatenate([-np.linspace(0.1, 0.9, config.grid), np.linspace(0.1, 0.9, config.grid)]) * (np.pi / 2)
        grid = np.array([_ramp(config.reps, g, b) for g in gs for b in bs])
        scored = [land.aggregate(land.energies(bits), probs, alpha) for bits, probs in land.sample(grid, config.shots)]
        x0 = grid[int(np.argmin(scored))]
    stages = [(alpha, config.maxiter)]
    if solver == "cvar-vqe" and config.alpha_final is not None:
        half = max(config.maxiter // 2, 1)
        stages = [(alpha, half), (config.alpha_final, max(config.maxiter - half, 1))]
    params = x0
    for a, iters in stages:
        res = minimize(cost, params, args=(a,), method="COBYLA", options={"maxiter": iters, "rhobeg": 0.3})
        params = np.asarray(res.x, dtype=np.float64)

    bits, probs = land.sample(params, config.final_shots)[0]
    dec = bits[:, : problem.n_vars]
    feas = problem.feasible(dec)
    values = problem.evaluate(dec)
    optimal = np.all(dec == ref.bits[None, :], axis=1)
    if feas.any():
        k = int(np.argmin(np.where(feas, values, np.inf)))
        chosen, objective = dec[k].astype(np.int8), float(values[k])
    else:
        chosen, objective = np.zeros(problem.n_vars, dtype=np.int8), float("nan")
    lots = problem.lots(chosen)[0]
    return QuantumResult(
        solver=solver, bits=chosen, selected=tuple(a for a, l in zip(problem.assets, lots) if l > 0),
        objective=objective, exact_objective=ref.objective, p_optimal=float(probs[optimal].sum()),
        feasibility_rate=float(probs[feas].sum()), evaluations=land.evaluations,
        seconds=time.perf_counter() - started, parameters=tuple(float(v) for v in params),
        n_qubits=op.num_qubits,
    )


def with_initial_point(config: SolverConfig, result: QuantumResult) -> SolverConfig:
    """``config`` starting from ``result.parameters`` (parameter transfer between same-size instances)."""
    return replace(config, initial_point=result.parameters)



