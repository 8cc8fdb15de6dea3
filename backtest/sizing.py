"""Position sizing for backtests and sweeps: a strategy's signal scaled by a sizing rule, bar by bar, with no lookahead.

A sizing spec is text, as given to ``raytrader backtest --sizing`` and
``raytrader sweep --sizing``: ``METHOD[:VALUE][,KEY=VALUE...]``.

* ``fixed:W`` — every target times ``W`` (``fixed:0.5`` = half size).
* ``vol-target:SIGMA[,lam=0.94,max=1,warmup=20,ppy=N]`` — target times
  ``min(SIGMA / σ̂[t], max)``, ``σ̂[t]`` the annualised EWMA volatility (decay
  ``lam``) of the close-to-close log returns up to and including bar ``t``
  (:func:`risk.sizing.vol_target_weights`), annualised with ``ppy`` bars per
  year (default: calendar bars per year of the timeframe, 365.25 days); 0
  for the first ``warmup`` bars. Single-asset strategies only.
* ``kelly:FRACTION[,window=250,cap=1]`` — target ``s[t]`` times
  ``clip(FRACTION · sign(s[t]) · μ/σ², 0, cap)``, ``μ`` and ``σ²`` the mean
  and variance of the last ``window`` log returns up to bar ``t`` (the
  formula of :func:`risk.sizing.kelly_fraction`, for the side the signal
  takes: a drift against the signal sizes it to 0). Single-asset only.
* ``risk-parity[,window=60,every=20]`` — multi-asset strategies: at every
  ``every``-th bar the equal-risk-contribution weights
  (:func:`risk.sizing.risk_parity_weights`) of the assets the strategy holds
  are computed from the covariance of the last ``window`` log returns up to
  that bar, and held until the next; each held asset gets
  ``sign(s[t, j]) · rp_j · Σ_j |s[t, j]|`` (the strategy's gross exposure is
  kept, its split follows risk). 0 before the first full window.

No lookahead: the sized target at bar ``t`` uses the signal at ``t`` and
closes up to ``t`` only (tested with :func:`backtest.lookahead.check_lookahead`
on :func:`sized_strategy`). The sized targets are clipped to
``±MAX_ABS_TARGET`` of the engine. Pure: no ``import ray``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from backtest.engine import MAX_ABS_TARGET
from backtest.errors import BacktestInputError
from risk.sizing import risk_parity_weights, vol_target_weights
from strategies.bar_field import bar_field
from strategies.registry import Strategy

__all__ = ["SizingSpec", "SizingSpecError", "SIZING_METHODS", "parse_sizing", "size_targets", "sized_strategy"]

#: method -> (needs a value, {option: default}, single-asset, multi-asset)
_METHODS: dict[str, tuple[bool, dict[str, float], bool, bool]] = {
    "fixed": (True, {}, True, True),
    "vol-target": (True, {"lam": 0.94, "max": 1.0, "warmup": 20.0, "ppy": 0.0}, True, False),
    "kelly": (True, {"window": 250.0, "cap": 1.0}, True, False),
    "risk-parity": (False, {"window": 60.0, "every": 20.0}, False, True),
}
#: the sizing methods ``--sizing`` accepts
SIZING_METHODS: tuple[str, ...] = tuple(_METHODS)

_YEAR_MS = 365.25 * 86_400_000


class SizingSpecError(BacktestInputError):
    """A ``--sizing`` spec is malformed, has an option out of range, or does not fit the strategy (the part named)."""


@dataclass(frozen=True)
class SizingSpec:
    """A parsed sizing spec: ``method``, its ``value`` (None for risk-parity) and every option (defaults filled in)."""

    method: str
    value: float | None
    options: tuple[tuple[str, float], ...]
    text: str

    def option(self, name: str) -> float:
        return dict(self.options)[name]


def parse_sizing(text: str) -> SizingSpec:
    """Parse ``METHOD[:VALUE][,KEY=VALUE...]`` (see the module docstring).

    Raises:
        SizingSpecError: unknown method, missing/extra value, unknown option, a
            number that does not parse or is out of range (the part named).
    """
    if not isinstance(text, str) or not text.strip():
        raise SizingSpecError(f"--sizing: expected METHOD[:VALUE][,KEY=VALUE...] with METHOD one of "
                              f"{', '.join(SIZING_METHODS)}, got {text!r}")
    head, *rest = [p.strip() for p in text.strip().split(",")]
    method, sep, raw = head.partition(":")
    method = method.strip()
    if method not in _METHODS:
        raise SizingSpecError(f"--sizing {text!r}: unknown method {method!r}; expected one of {', '.join(SIZING_METHODS)}")
    needs_value, defaults, _, _ = _METHODS[method]
    value: float | None = None
    if needs_value:
        if not sep or not raw.strip():
            raise SizingSpecError(f"--sizing {text!r}: {method} needs a value ({method}:X)")
        value = _number(text, method, raw)
    elif sep:
        raise SizingSpecError(f"--sizing {text!r}: {method} takes no value, only options (e.g. {method},window=60)")
    options = dict(defaults)
    for part in rest:
        key, eq, raw_opt = part.partition("=")
        key = key.strip()
        if not eq or key not in defaults:
            known = ", ".join(defaults) or "none"
            raise SizingSpecError(f"--sizing {text!r}: unknown option {part!r} for {method} (options: {known})")
        options[key] = _number(text, key, raw_opt)
    _check(text, method, value, options)
    return SizingSpec(method, value, tuple(options.items()), text.strip())


def _number(text: str, name: str, raw: str) -> float:
    try:
        x = float(raw)
    except ValueError:
        raise SizingSpecError(f"--sizing {text!r}: {name}: {raw.strip()!r} is not a number") from None
    if not math.isfinite(x):
        raise SizingSpecError(f"--sizing {text!r}: {name}: must be finite, got {raw.strip()!r}")
    return x


def _check(text: str, method: str, value: float | None, o: Mapping[str, float]) -> None:
    def bad(name: str, want: str, got: float) -> SizingSpecError:
        return SizingSpecError(f"--sizing {text!r}: {name} must be {want}, got {got:g}")

    if method == "fixed" and not (0 < abs(value) <= MAX_ABS_TARGET):  # type: ignore[arg-type]
        raise bad("fixed", f"non-zero with |W| <= {MAX_ABS_TARGET:g}", value)  # type: ignore[arg-type]
    if method == "vol-target":
        if not 0 < value <= 5:  # type: ignore[operator]
            raise bad("vol-target", "an annual volatility in (0, 5] (0.2 = 20 %)", value)  # type: ignore[arg-type]
        if not 0 < o["lam"] < 1:
            raise bad("lam", "in (0, 1)", o["lam"])
        if not 0 < o["max"] <= MAX_ABS_TARGET:
            raise bad("max", f"in (0, {MAX_ABS_TARGET:g}]", o["max"])
        if o["warmup"] < 2 or o["warmup"] != int(o["warmup"]):
            raise bad("warmup", "a whole number of bars >= 2", o["warmup"])
        if o["ppy"] < 0:
            raise bad("ppy", "> 0 (0 = from the timeframe)", o["ppy"])
    if method == "kelly":
        if not 0 < value <= 1:  # type: ignore[operator]
            raise bad("kelly", "a Kelly fraction in (0, 1] (0.5 = half Kelly)", value)  # type: ignore[arg-type]
        if o["window"] < 2 or o["window"] != int(o["window"]):
            raise bad("window", "a whole number of bars >= 2", o["window"])
        if not 0 < o["cap"] <= MAX_ABS_TARGET:
            raise bad("cap", f"in (0, {MAX_ABS_TARGET:g}]", o["cap"])
    if method == "risk-parity":
        if o["window"] < 3 or o["window"] != int(o["window"]):
            raise bad("window", "a whole number of bars >= 3", o["window"])
        if o["every"] < 1 or o["every"] != int(o["every"]):
            raise bad("every", "a whole number of bars >= 1", o["every"])


def _log_returns(close: np.ndarray) -> np.ndarray:
    """``r[t] = ln(close[t] / close[t-1])`` with ``r[0] = 0`` (known at bar ``t``'s close)."""
    r = np.zeros(close.shape[0])
    r[1:] = np.diff(np.log(close))
    return r


def size_targets(bars: object, signal: object, spec: SizingSpec) -> np.ndarray:
    """The sized targets: ``signal`` (one per bar, or ``(bars, assets)``) scaled by ``spec``; see the module docstring.

    ``bars`` is one bars object (single-asset) or a sequence of aligned ones
    (multi-asset, ``signal`` then ``(bars, assets)``).

    Raises:
        SizingSpecError: the method does not fit a single-/multi-asset strategy.
    """
    s = np.asarray(signal, dtype=np.float64)
    _, _, single_ok, multi_ok = _METHODS[spec.method]
    multi = s.ndim == 2
    if multi and not multi_ok:
        raise SizingSpecError(f"--sizing {spec.text!r}: {spec.method} sizes one asset; a multi-asset strategy takes "
                              "fixed or risk-parity")
    if not multi and not single_ok:
        raise SizingSpecError(f"--sizing {spec.text!r}: {spec.method} splits risk across assets; a single-asset "
                              "strategy takes fixed, vol-target or kelly")
    if spec.method == "fixed":
        out = s * float(spec.value)  # type: ignore[arg-type]
    elif spec.method == "vol-target":
        out = s * _vol_scale(bars, spec)
    elif spec.method == "kelly":
        out = _kelly(bar_field(bars, "close"), s, spec)
    else:
        out = _risk_parity(bars, s, spec)
    return np.clip(out, -MAX_ABS_TARGET, MAX_ABS_TARGET) + 0.0


def _vol_scale(bars: object, spec: SizingSpec) -> np.ndarray:
    close = bar_field(bars, "close")
    ppy = spec.option("ppy")
    if ppy == 0:
        step = float(getattr(bars, "timeframe_ms", 0) or 0)
        if step <= 0:
            raise SizingSpecError(f"--sizing {spec.text!r}: the bars have no timeframe; give ppy=BARS_PER_YEAR")
        ppy = _YEAR_MS / step
    r = _log_returns(close)
    # vol_target_weights(x)[t] uses x[:t]; with x[j] = r[j + 1] that is the returns of bars 1..t: up to t itself
    # (the last x is never read)
    return vol_target_weights(np.append(r[1:], 0.0), float(spec.value), periods_per_year=ppy, lam=spec.option("lam"),
                              max_leverage=spec.option("max"), warmup=int(spec.option("warmup")))


def _kelly(close: np.ndarray, s: np.ndarray, spec: SizingSpec) -> np.ndarray:
    window = int(spec.option("window"))
    r = _log_returns(close)
    n = close.shape[0]
    f = np.zeros(n)
    if n > window:
        win = np.lib.stride_tricks.sliding_window_view(r[1:], window)  # win[k] = r[k+1 .. k+window], ends at bar k+window
        mu = win.mean(axis=1)
        var = win.var(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            f[window:] = np.where(var > 0, float(spec.value) * mu / var, 0.0)  # type: ignore[arg-type]
    return s * np.clip(np.sign(s) * f, 0.0, spec.option("cap"))


def _risk_parity(bars: object, s: np.ndarray, spec: SizingSpec) -> np.ndarray:
    series = list(bars)  # type: ignore[call-overload]
    close = np.column_stack([bar_field(b, "close") for b in series])
    n, k = close.shape
    if s.shape != (n, k):
        raise SizingSpecError(f"--sizing {spec.text!r}: signal shape {s.shape} does not match {(n, k)} bars x assets")
    r = np.zeros((n, k))
    r[1:] = np.diff(np.log(close), axis=0)
    window, every = int(spec.option("window")), int(spec.option("every"))
    out = np.zeros((n, k))
    cov = None
    cache: dict[bytes, np.ndarray] = {}
    for t in range(n):
        if t >= window and (t - window) % every == 0:
            cov = np.cov(r[t - window + 1:t + 1], rowvar=False).reshape(k, k)  # returns of bars t-window+1 .. t
            cache = {}
        if cov is None:
            continue
        held = s[t] != 0
        if not held.any():
            continue
        key = held.tobytes()
        if key not in cache:
            idx = np.flatnonzero(held)
            sub = cov[np.ix_(idx, idx)]
            rp = np.full(idx.size, 1.0 / idx.size) if np.any(np.diag(sub) <= 0) else risk_parity_weights(sub)
            w = np.zeros(k)
            w[idx] = rp
            cache[key] = w
        out[t] = np.sign(s[t]) * cache[key] * np.abs(s[t]).sum()
    return out


def sized_strategy(strategy: Strategy, spec: SizingSpec) -> Strategy:
    """A strategy record whose targets are ``strategy``'s sized by ``spec`` (named ``NAME@SPEC``; never batched).

    Runs wherever a record runs: the engine, a sweep (the per-configuration
    path), the lookahead checker.
    """
    base = strategy.fn

    def fn(bars: object, **params: object) -> np.ndarray:
        return size_targets(bars, base(bars, **params), spec)

    return replace(strategy, name=f"{strategy.name}@{spec.text}", fn=fn, batched=None)
