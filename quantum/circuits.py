"""Parameterised circuits for the variational solvers (pure Qiskit, no simulation here).

Conventions: qubit k holds QUBO bit k; Qiskit prints bit 0 rightmost.
Each builder returns ``(circuit, n_params)`` with the circuit's parameters
in a single :class:`ParameterVector` ``θ`` so that ``θ[:reps]`` are the cost
angles γ and ``θ[reps:]`` the mixer angles β (QAOA family), or the rotation
angles layer by layer (the hardware-efficient ansatz).
"""

from __future__ import annotations

import math

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

__all__ = ["dicke_state", "qaoa_circuit", "ry_ansatz", "warm_start_angles"]


def _scs(qc: QuantumCircuit, n: int, k: int, offset: int) -> None:
    """Split-and-cyclic-shift block SCS_{n,k} of Bärtschi & Eidenbenz (2019) on qubits offset..offset+n-1."""
    q = [offset + i for i in range(n)]  # q[n-1] is the "last" qubit of the block
    last = q[n - 1]
    qc.cx(q[n - 2], last)
    qc.cry(2 * math.acos(math.sqrt(1 / n)), last, q[n - 2])
    qc.cx(q[n - 2], last)
    for l in range(2, k + 1):
        qc.cx(q[n - 1 - l], last)
        qc.mcry(2 * math.acos(math.sqrt(l / n)), [last, q[n - l]], q[n - 1 - l])
        qc.cx(q[n - 1 - l], last)


def dicke_state(n: int, k: int) -> QuantumCircuit:
    """|D^n_k⟩: the uniform superposition of all n-bit strings of Hamming weight k (deterministic, O(nk) gates)."""
    qc = QuantumCircuit(n, name=f"dicke_{n}_{k}")
    if k == 0:
        return qc
    for i in range(n - k, n):
        qc.x(i)
    if k == n:
        return qc
    for m in range(n, k, -1):  # SCS_{m,k} acts on qubits 0..m-1
        _scs(qc, m, k, 0)
    for m in range(k, 1, -1):
        _scs(qc, m, m - 1, 0)
    return qc


def _cost_layer(qc: QuantumCircuit, op: SparsePauliOp, gamma) -> None:
    """exp(-iγ H) for a diagonal H of Z and ZZ terms."""
    for pauli, coeff in zip(op.paulis, op.coeffs):
        idx = [i for i, z in enumerate(pauli.z) if z]
        c = float(np.real(coeff))
        if len(idx) == 1:
            qc.rz(2 * c * gamma, idx[0])
        elif len(idx) == 2:
            qc.rzz(2 * c * gamma, idx[0], idx[1])
        elif idx:
            raise ValueError("cost operator has terms of weight > 2")


def qaoa_circuit(op: SparsePauliOp, reps: int, *, mixer: str = "x", budget: int | None = None,
                 thetas: np.ndarray | None = None) -> tuple[QuantumCircuit, int]:
    """QAOA of depth ``reps`` on Ising operator ``op``.

    ``mixer``: ``"x"`` (|+⟩ⁿ start, RX mixer), ``"xy"`` (Dicke |D^n_budget⟩ start, ring XY mixer
    as parity-ordered RXX·RYY: keeps the Hamming weight, so the budget holds without a penalty),
    ``"warm"`` (start ⊗ RY(θᵢ)|0⟩ from relaxed values, mixer RY(θ)RZ(−2β)RY(−θ); Egger et al. 2021).
    """
    n = op.num_qubits
    params = ParameterVector("θ", 2 * reps)
    gammas, betas = params[:reps], params[reps:]
    qc = QuantumCircuit(n)
    if mixer == "x":
        qc.h(range(n))
    elif mixer == "xy":
        qc.compose(dicke_state(n, int(budget)), inplace=True)
    elif mixer == "warm":
        for i, t in enumerate(thetas):
            qc.ry(float(t), i)
    else:
        raise ValueError(f"unknown mixer {mixer!r}")
    pairs = [(i, i + 1) for i in range(0, n - 1, 2)] + [(i, i + 1) for i in range(1, n - 1, 2)]
    if n > 2:
        pairs.append((n - 1, 0))
    for r in range(reps):
        _cost_layer(qc, op, gammas[r])
        if mixer == "x":
            qc.rx(2 * betas[r], range(n))
        elif mixer == "xy":
            for i, j in pairs:
                qc.rxx(betas[r], i, j)
                qc.ryy(betas[r], i, j)
        else:
            for i, t in enumerate(thetas):
                qc.ry(-float(t), i)
                qc.rz(-2 * betas[r], i)
                qc.ry(float(t), i)
    qc.measure_all()
    return qc, 2 * reps


def ry_ansatz(n: int, reps: int, *, initial: np.ndarray | None = None) -> tuple[QuantumCircuit, int]:
    """Hardware-efficient ansatz: RY layer, then ``reps`` × (linear CX chain, RY layer)."""
    params = ParameterVector("θ", n * (reps + 1))
    qc = QuantumCircuit(n)
    for layer in range(reps + 1):
        if layer:
            for i in range(n - 1):
                qc.cx(i, i + 1)
        for i in range(n):
            qc.ry(params[layer * n + i], i)
    qc.measure_all()
    return qc, n * (reps + 1)


def warm_start_angles(relaxed: np.ndarray, epsilon: float) -> np.ndarray:
    """θᵢ = 2·arcsin(√cᵢ) with cᵢ clipped to [ε, 1−ε] (so every bit keeps some amplitude)."""
    c = np.clip(np.asarray(relaxed, dtype=np.float64), epsilon, 1 - epsilon)
    return 2 * np.arcsin(np.sqrt(c))
