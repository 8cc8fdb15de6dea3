"""NumPy's float64 pairwise summation, re-implemented in numba so a kernel's sums carry the same bits.

``np.sum`` / ``np.mean`` / ``np.std`` of a contiguous float64 array do not
add left to right: they split the array in halves (rounded to multiples of
8) down to blocks of at most 128, and add each block with eight
accumulators (``numpy/core/src/umath/loops_utils.h``). A numba loop that
sums in plain order differs in the last bits, so a batched kernel could
not promise the very Sharpe ratio :func:`backtest.metrics.sharpe` gives.
:func:`np_sum` walks the same tree; :func:`pairwise_sum` with ``sqdev``
sums ``(a[i] - mean) ** 2`` in that tree, as ``np.std`` does after
subtracting the mean. Pure: no ``import ray``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["np_sum", "pairwise_sum"]


@njit(cache=True)
def _block_sum(a, lo, n):
    """NumPy's leaf of the pairwise sum (n <= 128): eight accumulators, then the rest in order."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    m = n - (n % 8)
    while i < m:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _block_sqdev(a, lo, n, mean):
    """:func:`_block_sum` of ``(a[i] - mean) ** 2`` (as NumPy's ``x = a - mean; x * x``), without storing it."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            d = a[i] - mean
            res += d * d
        return res
    d0 = a[lo] - mean
    d1 = a[lo + 1] - mean
    d2 = a[lo + 2] - mean
    d3 = a[lo + 3] - mean
    d4 = a[lo + 4] - mean
    d5 = a[lo + 5] - mean
    d6 = a[lo + 6] - mean
    d7 = a[lo + 7] - mean
    r0 = d0 * d0
    r1 = d1 * d1
    r2 = d2 * d2
    r3 = d3 * d3
    r4 = d4 * d4
    r5 = d5 * d5
    r6 = d6 * d6
    r7 = d7 * d7
    i = 8
    m = n - (n % 8)
    while i < m:
        j = lo + i
        d0 = a[j] - mean
        d1 = a[j + 1] - mean
        d2 = a[j + 2] - mean
        d3 = a[j + 3] - mean
        d4 = a[j + 4] - mean
        d5 = a[j + 5] - mean
        d6 = a[j + 6] - mean
        d7 = a[j + 7] - mean
        r0 += d0 * d0
        r1 += d1 * d1
        r2 += d2 * d2
        r3 += d3 * d3
        r4 += d4 * d4
        r5 += d5 * d5
        r6 += d6 * d6
        r7 += d7 * d7
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        d = a[lo + i] - mean
        res += d * d
        i += 1
    return res


@njit(cache=True)
def _leaf(a, lo, n, mean, sqdev):
    return _block_sqdev(a, lo, n, mean) if sqdev else _block_sum(a, lo, n)


@njit(cache=True)
def pairwise_sum(a, lo, n, mean=0.0, sqdev=False):
    """NumPy's float64 pairwise summation (``loops_utils.h``), same blocking, so the same bits.

    NumPy recurses ``sum(n) = sum(n2) + sum(n - n2)`` with ``n2 = n // 2``
    rounded down to a multiple of 8, down to blocks of <= 128; this walks
    the same tree with an explicit stack (numba cannot cache recursion).
    With ``sqdev`` it sums ``(a[i] - mean) ** 2`` instead, in the same tree.
    """
    if n <= 128:
        return _leaf(a, lo, n, mean, sqdev)
    s_lo = np.empty(128, dtype=np.int64)
    s_n = np.empty(128, dtype=np.int64)
    s_stage = np.empty(128, dtype=np.int64)
    vals = np.empty(128)
    sp = 1
    vp = 0
    s_lo[0] = lo
    s_n[0] = n
    s_stage[0] = 0
    while sp > 0:
        top = sp - 1
        l = s_lo[top]
        m = s_n[top]
        if m <= 128:
            vals[vp] = _leaf(a, l, m, mean, sqdev)
            vp += 1
            sp -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        stage = s_stage[top]
        if stage == 0:
            s_stage[top] = 1
            s_lo[sp] = l
            s_n[sp] = n2
            s_stage[sp] = 0
            sp += 1
        elif stage == 1:
            s_stage[top] = 2
            s_lo[sp] = l + n2
            s_n[sp] = m - n2
            s_stage[sp] = 0
            sp += 1
        else:
            vals[vp - 2] = vals[vp - 2] + vals[vp - 1]
            vp -= 1
            sp -= 1
    return vals[0]


@njit(cache=True)
def np_sum(a):
    """``np.add.reduce(a)`` for a contiguous float64 array: 0.0 + pairwise sum."""
    return 0.0 + pairwise_sum(a, 0, a.shape[0], 0.0, False)
