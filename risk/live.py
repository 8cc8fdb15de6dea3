"""Live portfolio risk: VaR/ES and drawdown from the marks and PnL the RiskMonitor samples; limits and breaches. Pure.

Units and conventions:

* A **sample** is one recomputation: the RiskMonitor takes one (at most
  every ``interval_s`` seconds) when a fill or a mark changed the portfolio.
  Each sample records every instrument's mark and every quote currency's
  total PnL, so the histories are aligned by sample index.
* **VaR / ES** (quote currency, positive losses) are historical, over **one
  sample interval**, at ``confidence``: the scenarios are the last
  ``window`` sample-to-sample mark returns ``r[s, i]`` applied to the
  *current* positions, ``pnl[s] = Σ_i qty_i · mark_i · r[s, i]`` (held
  instruments of that quote currency), and
  ``VaR = gross · risk.var.historical(pnl / gross).var`` (likewise ES).
  None until ``min_samples`` returns exist or while nothing is held.
* **Drawdown**: ``drawdown_value = max(pnl history) − pnl now`` (quote
  currency, >= 0; the peak includes the first sample); with ``capital``
  (the quote-currency capital the PnL is earned on) also the fraction
  ``drawdown = drawdown_value / (capital + max pnl)`` (0..1).
* A **breach** is a number above its limit; each breach is one line naming
  the limit, the quote currency and both numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from risk.errors import RiskInputError
from risk.var import historical

__all__ = ["LiveRiskLimits", "LiveRisk", "Holding", "live_risk", "breaches"]


@dataclass(frozen=True)
class LiveRiskLimits:
    """Live risk settings; a limit of None is off.

    Attributes:
        max_var, max_es: quote-currency losses over one sample interval (> 0).
        max_drawdown: a fraction of peak equity in (0, 1] (needs ``capital``).
        max_drawdown_value: quote currency from the PnL peak (> 0).
        capital: quote-currency capital, for the drawdown fraction (> 0), or None.
        confidence: of VaR/ES, in (0.5, 1).
        window: sample returns kept per instrument (>= 10).
        min_samples: returns needed before VaR/ES are reported (>= 5, <= window); they also wait for
            :attr:`samples_needed` (one return in the tail at ``confidence``: 100 at 0.99).
        interval_s: the fewest seconds between two recomputations (> 0): the rate limit.
    """

    max_var: float | None = None
    max_es: float | None = None
    max_drawdown: float | None = None
    max_drawdown_value: float | None = None
    capital: float | None = None
    confidence: float = 0.99
    window: int = 500
    min_samples: int = 30
    interval_s: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_var", "max_es", "max_drawdown_value", "capital"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise RiskInputError(f"{name}: must be a finite number > 0 or None, got {v!r}")
        if self.max_drawdown is not None:
            if not (isinstance(self.max_drawdown, (int, float)) and 0 < self.max_drawdown <= 1):
                raise RiskInputError(f"max_drawdown: must be a fraction in (0, 1], got {self.max_drawdown!r}")
            if self.capital is None:
                raise RiskInputError("max_drawdown: a drawdown fraction needs capital (quote currency)")
        if not 0.5 < self.confidence < 1:
            raise RiskInputError(f"confidence: must be in (0.5, 1), got {self.confidence!r}")
        if int(self.window) != self.window or self.window < 10:
            raise RiskInputError(f"window: must be a whole number of samples >= 10, got {self.window!r}")
        if int(self.min_samples) != self.min_samples or not 5 <= self.min_samples <= self.window:
            raise RiskInputError(f"min_samples: must be a whole number in [5, window], got {self.min_samples!r}")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise RiskInputError(f"interval_s: must be > 0 seconds, got {self.interval_s!r}")

    @property
    def samples_needed(self) -> int:
        """Returns needed before VaR/ES are reported: ``min_samples``, and at least one in the tail."""
        return max(int(self.min_samples), math.ceil(1.0 / (1.0 - self.confidence) - 1e-9))

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Holding:
    """One position now: ``key`` names the instrument (e.g. ``"binance:XRP/ETH"``), ``qty`` signed base units."""

    key: str
    quote: str
    qty: float
    mark: float


@dataclass(frozen=True)
class LiveRisk:
    """Live risk of one quote currency (see the module docstring for units); ``var``/``es`` None until known."""

    quote: str
    var: float | None
    es: float | None
    drawdown_value: float
    drawdown: float | None
    pnl: float
    peak_pnl: float
    gross: float
    n_returns: int
    confidence: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def live_risk(holdings: Sequence[Holding], marks: Mapping[str, Sequence[float]],
              pnl: Mapping[str, Sequence[float]], limits: LiveRiskLimits) -> dict[str, LiveRisk]:
    """Live VaR/ES and drawdown per quote currency.

    ``marks[key]``: that instrument's mark at each sample (oldest first, the
    same samples for every key; the last is now). ``pnl[quote]``: total PnL
    at each sample. Quote currencies are those in ``pnl`` or ``holdings``.
    """
    out: dict[str, LiveRisk] = {}
    quotes = sorted(set(pnl) | {h.quote for h in holdings})
    for q in quotes:
        held = [h for h in holdings if h.quote == q and h.qty != 0 and h.key in marks]
        gross = float(sum(abs(h.qty * h.mark) for h in held))
        var = es = None
        n_ret = 0
        if held:
            n = min(len(marks[h.key]) for h in held)
            n = min(n, limits.window + 1)
            if n >= 2:
                px = np.array([np.asarray(marks[h.key], dtype=np.float64)[-n:] for h in held]).T  # (samples, held)
                if np.all(np.isfinite(px)) and np.all(px > 0):
                    r = px[1:] / px[:-1] - 1.0
                    n_ret = int(r.shape[0])
                    if n_ret >= limits.samples_needed and gross > 0:
                        scen = r @ np.array([h.qty * h.mark for h in held])  # quote-currency PnL per scenario
                        est = historical(scen / gross, limits.confidence)
                        var, es = max(0.0, est.var * gross), max(0.0, est.es * gross)
        hist = np.asarray(pnl.get(q, ()), dtype=np.float64)
        now = float(hist[-1]) if hist.size else 0.0
        peak = float(hist.max()) if hist.size else 0.0
        dd_value = max(0.0, peak - now)
        dd = None
        if limits.capital is not None:
            base = limits.capital + peak
            dd = min(1.0, dd_value / base) if base > 0 else 1.0
        out[q] = LiveRisk(q, var, es, dd_value, dd, now, peak, gross, n_ret, limits.confidence)
    return out


def breaches(risk: Mapping[str, LiveRisk], limits: LiveRiskLimits) -> list[str]:
    """One line per number above its limit (empty: within every limit), quote currencies in order."""
    out = []
    for q in sorted(risk):
        x = risk[q]
        for name, value, limit in (("var_limit", x.var, limits.max_var), ("es_limit", x.es, limits.max_es),
                                   ("drawdown_limit", x.drawdown, limits.max_drawdown),
                                   ("drawdown_value_limit", x.drawdown_value, limits.max_drawdown_value)):
            if limit is not None and value is not None and value > limit:
                out.append(f"{name}: {q} {name.removesuffix('_limit').replace('_', ' ')} {value:.8g} > {limit:g}")
    return out
