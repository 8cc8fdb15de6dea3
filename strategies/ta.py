"""TA-Lib's indicators (201 functions in ta-lib 0.8.2) for strategies, with the conventions of :mod:`strategies.indicators`.

The ``ta-lib`` wheel (0.8.x) bundles the C library; this adapter calls it
so that its indicators behave like ours:

* inputs: 1-D series of one length (any real dtype, computed as
  contiguous float64); leading NaNs are skipped, a NaN or inf after the
  first finite row is rejected with :class:`IndicatorError` naming the
  series and row (TA-Lib itself would silently turn everything after it
  into NaN);
* outputs: float64, the input's length, NaN during warm-up (TA-Lib's
  lookback); integer outputs (candlestick patterns: -100/0/100) become float64;
* ``out[t]`` uses inputs up to row ``t`` only (TA-Lib's functions are causal);
* a bad parameter raises :class:`IndicatorError` naming the function and
  its parameters, not TA-Lib's bare ``Exception``.

Call any TA-Lib function by its name, with TA-Lib's parameter names::

    from strategies import ta
    r = ta.RSI(close, timeperiod=14)                      # ndarray
    upper, middle, lower = ta.BBANDS(close, timeperiod=20)  # one array per output
    atr = ta.on_bars("ATR", bars, timeperiod=14)           # inputs (high, low, close) taken from bars

Functions with several outputs return a tuple in TA-Lib's order
(:func:`outputs` names them). :func:`functions` lists every name.

Where both exist, TA-Lib and our numba indicators agree (tested on the
bundled data): SMA, EMA (both seeded with the mean of the first ``n``
values), RSI and ATR (Wilder, seeded with a simple mean of the first ``n``
changes/true ranges), Bollinger bands (population standard deviation),
rolling standard deviation. Two conventions differ:

* MACD: TA-Lib seeds the fast EMA at the slow EMA's first bar (row
  ``slow - 1``, with the mean of the ``fast`` values ending there), ours at
  its own (row ``fast - 1``); and TA-Lib shows the MACD line only from the
  signal's first bar (row ``slow + signal - 2``), ours from row ``slow - 1``.
  The signal and histogram start on the same row in both; the values differ
  early on and converge geometrically (factor ``(fast - 1) / (fast + 1)``
  per bar): from row ``slow + 12 * fast`` they agree within 1e-8 of the price.
* TA-Lib's "unstable period" setting (``talib.set_unstable_period``) is left
  at TA-Lib's default 0; a non-zero one shifts its EMA/RSI/ATR warm-up.

The numba indicators stay where speed matters (the sweep's kernels); use
this module for breadth.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import talib
from talib import abstract

from strategies.bar_field import bar_field
from strategies.errors import IndicatorError
from strategies.indicators._common import prepare_many

__all__ = ["call", "on_bars", "functions", "groups", "inputs", "outputs"]


@functools.cache
def functions() -> tuple[str, ...]:
    """Every TA-Lib function name (``"ADX"``, ``"BBANDS"``, ``"CDLDOJI"``, ...), sorted."""
    return tuple(sorted(talib.get_functions()))


def groups() -> dict[str, list[str]]:
    """TA-Lib's function groups (``"Momentum Indicators"`` -> names)."""
    return {k: list(v) for k, v in talib.get_function_groups().items()}


@functools.cache
def inputs(name: str) -> tuple[str, ...]:
    """The bar fields ``name`` reads, in call order (``"ATR"`` -> ``("high", "low", "close")``).

    Raises:
        IndicatorError: not a TA-Lib function.
    """
    spec = abstract.Function(_known(name)).input_names
    fields: list[str] = []
    for value in spec.values():
        fields.extend([value] if isinstance(value, str) else list(value))
    return tuple(fields)


@functools.cache
def outputs(name: str) -> tuple[str, ...]:
    """TA-Lib's output names of ``name`` (``"MACD"`` -> ``("macd", "macdsignal", "macdhist")``)."""
    return tuple(abstract.Function(_known(name)).output_names)


def call(name: str, *series: object, **params: Any) -> np.ndarray | tuple[np.ndarray, ...]:
    """``talib.<name>(*series, **params)`` under our conventions (see the module doc).

    ``series`` are the inputs in TA-Lib's order (:func:`inputs`). Returns
    one float64 array, or a tuple of them for several outputs.

    Raises:
        IndicatorError: unknown function, wrong number of series, a bad
            series (named, with the row), or a parameter TA-Lib refuses.
    """
    fn = getattr(talib, _known(name))
    wanted = inputs(name)
    if len(series) != len(wanted):
        raise IndicatorError(f"{name}: expected {len(wanted)} series ({', '.join(wanted)}), got {len(series)}")
    labels = [f"{name}.{field}" if wanted.count(field) == 1 else f"{name}.{field}{i}"
              for i, field in enumerate(wanted)]
    arrays, _ = prepare_many(dict(zip(labels, series, strict=True)))
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
    for key, value in params.items():
        if isinstance(value, bool):
            raise IndicatorError(f"{name}: parameter {key} must be a number, got {value!r}")
    try:
        result = fn(*arrays, **params)
    except TypeError as exc:
        known = ", ".join(abstract.Function(name).parameters) or "(none)"
        raise IndicatorError(f"{name}: {exc}; its parameters: {known}") from None
    except Exception as exc:  # noqa: BLE001 - TA-Lib raises a bare Exception for TA_BAD_PARAM
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "the defaults"
        raise IndicatorError(f"{name}: TA-Lib refused {shown}: {' '.join(str(exc).split())}") from None
    if isinstance(result, tuple):
        return tuple(np.asarray(r, dtype=np.float64) for r in result)
    return np.asarray(result, dtype=np.float64)


def on_bars(name: str, bars: object, **params: Any) -> np.ndarray | tuple[np.ndarray, ...]:
    """:func:`call` with the inputs read from ``bars`` by field name (``bars.high``, ``bars.close``, ...)."""
    return call(name, *(bar_field(bars, field) for field in inputs(name)), **params)


def _known(name: str) -> str:
    if not isinstance(name, str) or name not in _names():
        raise IndicatorError(f"{name!r}: not a TA-Lib function (see strategies.ta.functions())")
    return name


@functools.cache
def _names() -> frozenset[str]:
    return frozenset(functions())


def __getattr__(name: str) -> Callable[..., np.ndarray | tuple[np.ndarray, ...]]:
    """``ta.RSI`` etc.: :func:`call` bound to a TA-Lib function name."""
    if name in _names():
        wrapper = functools.partial(call, name)
        wrapper.__doc__ = f"TA-Lib {name} under raytrader's conventions; inputs {inputs(name)}, outputs {outputs(name)}."
        return wrapper
    raise AttributeError(f"module 'strategies.ta' has no attribute {name!r}")
