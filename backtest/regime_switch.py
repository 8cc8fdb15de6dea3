"""A regime-switching strategy: at each bar, the target of the candidate strategy chosen for the current market regime.

Everything is walk-forward; nothing at bar ``t`` depends on a later bar:

* **Regimes** (:mod:`risk.regime`): features ``[log return, trailing
  volatility]``; at each refit point ``s`` (the first after ``train`` valid
  feature rows, then every ``refit_every`` bars) a Gaussian HMM (or
  mixture) is fitted on the rows **before** ``s``; its *filtered* state
  probabilities (forward recursion, rows up to each bar) label the bars.
* **Choice per regime**: at ``s``, for each regime ``k`` the candidate with
  the highest mean per-bar return over the past bars ``t < s`` whose
  previous bar was labelled ``k`` (by the model fitted at ``s``, on rows
  before ``s``) is chosen; a regime never seen picks ``flat``. The per-bar
  return of a candidate is ``target[t - 1] · (close[t] / close[t - 1] − 1)``
  (held over bar ``t``, fees ignored: only for the choice).
* **Target** for ``t`` in ``[s, s + refit_every)``: the chosen candidate's
  target at ``t`` for the regime labelled at ``t``; 0 before the first refit.

The candidates include ``flat`` (always 0), so "stay out in the volatile
regime" can be learned. Strategies come in as registry records; this module
lives in ``backtest`` because ``risk`` and ``strategies`` may not import
each other. :func:`regime_switch_strategy` wraps it as a strategy record for
the lookahead checker and the engine; :func:`evaluate_out_of_sample` runs the
engine on the bars after the first refit for the switch and for each
candidate alone. Pure: no ``import ray``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtest.engine import run_backtest
from backtest.errors import BacktestInputError
from backtest.metrics import resolve_periods_per_year, summary
from risk.regime import features, filtered_probabilities, fit
from strategies.bar_field import bar_field
from strategies.params import validate_params
from strategies.registry import Strategy

__all__ = ["Candidate", "RegimeSwitchError", "RegimeSwitch", "regime_switch", "regime_switch_strategy",
           "evaluate_out_of_sample", "FLAT"]

#: the name of the always-flat candidate
FLAT = "flat"


class RegimeSwitchError(BacktestInputError):
    """A regime-switch setting is out of range or the data is too short for it (the setting named)."""


@dataclass(frozen=True)
class Candidate:
    """A strategy record and its parameters (``strategy`` None: the flat candidate)."""

    name: str
    strategy: Strategy | None
    params: tuple[tuple[str, Any], ...] = ()

    def targets(self, bars: object, n: int) -> np.ndarray:
        if self.strategy is None:
            return np.zeros(n)
        return np.asarray(self.strategy.run(bars, dict(self.params)), dtype=np.float64)


@dataclass(frozen=True)
class RegimeSwitch:
    """The switch's targets and how they came about (arrays one value per bar)."""

    target: np.ndarray
    labels: np.ndarray  # regime per bar, -1 before the first refit
    chosen: np.ndarray  # index into ``candidates`` per bar, -1 before the first refit
    candidates: tuple[str, ...]
    refits: tuple[tuple[int, tuple[str, ...]], ...]  # (bar of the refit, candidate chosen per regime)
    start: int  # the first bar the switch trades (first refit)


def _check(n_states: int, train: int, refit_every: int, vol_window: int) -> None:
    if int(n_states) < 2:
        raise RegimeSwitchError(f"states: need 2 or more regimes, got {n_states}")
    if int(train) < 20 * int(n_states):
        raise RegimeSwitchError(f"train: need >= {20 * int(n_states)} bars for {n_states} regimes, got {train}")
    if int(refit_every) < 1:
        raise RegimeSwitchError(f"refit_every: must be >= 1 bar, got {refit_every}")
    if int(vol_window) < 2:
        raise RegimeSwitchError(f"vol_window: must be >= 2 bars, got {vol_window}")


def regime_switch(bars: object, candidates: Sequence[Candidate], *, n_states: int = 2, train: int = 750,
                  refit_every: int = 250, method: str = "hmm", vol_window: int = 20, seed: int = 0) -> RegimeSwitch:
    """The switch's targets on ``bars`` (see the module docstring).

    Raises:
        RegimeSwitchError: bad settings, no candidate, or too few bars for ``train``.
    """
    _check(n_states, train, refit_every, vol_window)
    if not candidates:
        raise RegimeSwitchError("candidates: need at least one strategy")
    close = bar_field(bars, "close")
    n = close.shape[0]
    first = vol_window + int(train)  # the first valid feature row is vol_window
    if n <= first:
        raise RegimeSwitchError(f"train: {train} training bars (+{vol_window} for the volatility) need more than "
                                f"{first} bars, got {n}")
    X = features(close, vol_window)
    sig = np.vstack([c.targets(bars, n) for c in candidates])  # (candidates, bars)
    r = np.zeros(n)
    r[1:] = close[1:] / close[:-1] - 1.0
    ret = np.zeros_like(sig)
    ret[:, 1:] = sig[:, :-1] * r[1:]  # held over bar t, known at t's close
    target = np.zeros(n)
    labels = np.full(n, -1, dtype=np.int64)
    chosen = np.full(n, -1, dtype=np.int64)
    flat = next((i for i, c in enumerate(candidates) if c.strategy is None), None)
    refits = []
    for s in range(first, n, int(refit_every)):
        stop = min(s + int(refit_every), n)
        model = fit(X[vol_window:s], int(n_states), method=method, seed=seed)  # type: ignore[arg-type]
        lab = np.full(stop, -1, dtype=np.int64)
        lab[vol_window:stop] = filtered_probabilities(model, X[vol_window:stop]).argmax(axis=1)
        pick = []
        for k in range(int(n_states)):
            past = np.flatnonzero(lab[vol_window:s - 1] == k) + vol_window + 1  # bars t < s whose previous bar was k
            if past.size == 0:
                pick.append(flat if flat is not None else 0)
                continue
            pick.append(int(np.argmax(ret[:, past].mean(axis=1))))
        labels[s:stop] = lab[s:stop]
        chosen[s:stop] = np.asarray(pick)[lab[s:stop]]
        target[s:stop] = sig[chosen[s:stop], np.arange(s, stop)]
        refits.append((s, tuple(candidates[i].name for i in pick)))
    return RegimeSwitch(target + 0.0, labels, chosen, tuple(c.name for c in candidates), tuple(refits), first)


def candidates_from(specs: Sequence[tuple[Strategy, Mapping[str, Any]]], *, with_flat: bool = True) -> list[Candidate]:
    """Candidates from ``(record, params)`` pairs (params validated), plus ``flat`` unless ``with_flat`` is False."""
    out = []
    for record, params in specs:
        values = validate_params(record, dict(params))
        label = record.name + ("(" + ",".join(f"{k}={v}" for k, v in values.items()) + ")" if values else "")
        out.append(Candidate(label, record, tuple(values.items())))
    if with_flat:
        out.append(Candidate(FLAT, None))
    return out


def regime_switch_strategy(candidates: Sequence[Candidate], **settings: Any) -> Strategy:
    """The switch as a strategy record (no parameters of its own), for the engine and the lookahead checker."""
    n_states = int(settings.get("n_states", 2))
    train, vol_window = int(settings.get("train", 750)), int(settings.get("vol_window", 20))
    _check(n_states, train, int(settings.get("refit_every", 250)), vol_window)
    cands = tuple(candidates)

    def fn(bars: object) -> np.ndarray:
        return regime_switch(bars, cands, **settings).target

    return Strategy(name="regime_switch", doc="candidate strategy chosen per walk-forward regime", fn=fn, params=(),
                    min_bars=lambda _p: vol_window + train + 1)


def evaluate_out_of_sample(bars: Any, candidates: Sequence[Candidate], *, fees_bps: float = 10.0,
                           **settings: Any) -> dict[str, Any]:
    """The switch and each candidate alone on the same out-of-sample bars (from the first refit on), through the engine.

    Every target series is computed on all bars (indicators warm up on the
    past), then the engine runs from flat on bars ``[start, n)`` with the
    targets of those bars. Returns ``{"start", "end", "bars", "rows":
    [{"name", total_return, sharpe, max_drawdown, n_trades, exposure}],
    "refits"}``; the switch's row is named ``regime_switch``.
    """
    sw = regime_switch(bars, candidates, **settings)
    n = len(bars)
    oos = bars.take(slice(sw.start, n))
    ppy = resolve_periods_per_year(bars.timestamp, bars.timeframe_ms, None)
    rows = []
    for name, tgt in [("regime_switch", sw.target), *((c.name, c.targets(bars, n)) for c in candidates)]:
        stats = summary(run_backtest(oos, tgt[sw.start:], fees_bps=fees_bps), oos.timeframe_ms, periods_per_year=ppy)
        rows.append({"name": name, **{k: stats[k] for k in ("total_return", "sharpe", "max_drawdown", "n_trades",
                                                            "exposure")}})
    return {"start": int(oos.timestamp[0]), "end": int(oos.timestamp[-1]), "bars": len(oos), "start_bar": sw.start,
            "periods_per_year": ppy, "rows": rows,
            "refits": [{"bar": b, "timestamp": int(bars.timestamp[b]), "choice": list(c)} for b, c in sw.refits]}
