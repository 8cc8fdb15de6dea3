"""Risk reports on bundled or user data: VaR/ES by every method, VaR backtests, stress tests, regimes.

Request → Report: a :class:`RiskRequest` is validated before anything is
computed (bad input raises a named :class:`~raytrader.errors.InputError`);
each ``run_*`` returns a frozen report with ``to_json()``. The numbers come
from the pure ``risk`` package; this module only loads the data and
assembles them. Monte Carlo scenarios run in this process: 100,000
scenarios of 50 assets take well under a second (benchmarks/risk_var.py).

Data: ``--sample`` names a bundled sample (default the 20-stock daily close
panel); ``--data`` a file. A panel (``timestamp`` + one close column per
asset) gives several assets; a bar file (OHLCV) gives one asset, named after
the sample or the file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from raytrader.errors import InputError
from risk import correlation as rc
from risk import regime as rg
from risk import stress as st
from risk import var as rv
from risk import var_backtest as vb

__all__ = ["RiskRequest", "PanelReturns", "request_from_args", "load_returns", "estimate", "one_bar_estimator",
           "run_var", "run_backtest", "run_stress", "run_regimes", "DEFAULT_SAMPLE"]

DEFAULT_SAMPLE = "sp500-close-1d"


class RiskRequestError(InputError):
    """A bad flag of a ``raytrader risk`` command."""


@dataclass(frozen=True)
class RiskRequest:
    """What to measure: the data, the portfolio and the method's settings (validated on construction)."""

    sample: str | None = DEFAULT_SAMPLE
    data: str | None = None
    assets: tuple[str, ...] = ()
    weights: tuple[tuple[str, float], ...] = ()
    start: str | None = None
    end: str | None = None
    confidence: float = 0.99
    horizon: int = 1
    value: float = 1_000_000.0
    methods: tuple[str, ...] = ("historical", "parametric", "cornish-fisher", "fhs", "mc")
    scenarios: int = 100_000
    seed: int = 0
    window: int = 500
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0.5 < self.confidence < 1):
            raise RiskRequestError(f"--confidence: must be in (0.5, 1), got {self.confidence!r}")
        if self.horizon < 1 or self.horizon > 250:
            raise RiskRequestError(f"--horizon: must be 1..250 bars, got {self.horizon!r}")
        if not (np.isfinite(self.value) and self.value > 0):
            raise RiskRequestError(f"--value: the portfolio value must be > 0, got {self.value!r}")
        if not (1_000 <= self.scenarios <= 5_000_000):
            raise RiskRequestError(f"--scenarios: must be 1,000..5,000,000, got {self.scenarios!r}")
        if self.seed < 0:
            raise RiskRequestError(f"--seed: must be >= 0, got {self.seed!r}")
        bad = [m for m in self.methods if m not in rv.METHODS]
        if bad:
            raise RiskRequestError(f"--method: unknown {bad[0]!r}; choose from {', '.join(rv.METHODS)} or all")


@dataclass(frozen=True)
class PanelReturns:
    """Aligned closes and simple returns; ``returns[i]`` is the return into ``timestamps[i + 1]``."""

    assets: tuple[str, ...]
    timestamps: tuple[str, ...]
    closes: np.ndarray
    returns: np.ndarray
    weights: np.ndarray
    source: str


def _parse_weights(text: str | None) -> tuple[tuple[str, float], ...]:
    if not text:
        return ()
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, val = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise RiskRequestError(f"--weights: expected ASSET=WEIGHT[,ASSET=WEIGHT...], got {part!r}")
        try:
            w = float(val)
        except ValueError:
            raise RiskRequestError(f"--weights: {name}={val!r} is not a number") from None
        if not np.isfinite(w) or abs(w) > 100:
            raise RiskRequestError(f"--weights: {name} must be a finite fraction of the portfolio (|w| <= 100), got {val}")
        if name in out:
            raise RiskRequestError(f"--weights: {name} is given twice")
        out[name] = w
    return tuple(out.items())


def request_from_args(args: argparse.Namespace, **extra: object) -> RiskRequest:
    sample = args.sample if (args.sample or args.data) else DEFAULT_SAMPLE
    methods = tuple(getattr(args, "method", "all").split(",")) if getattr(args, "method", "all") != "all" else rv.METHODS
    return RiskRequest(sample=sample, data=args.data, assets=tuple(a.strip() for a in args.assets.split(",") if a.strip()),
                       weights=_parse_weights(getattr(args, "weights", "")), start=args.start, end=args.end,
                       confidence=getattr(args, "confidence", 0.99), horizon=getattr(args, "horizon", 1),
                       value=getattr(args, "value", 1_000_000.0), methods=methods,
                       scenarios=getattr(args, "scenarios", 100_000), seed=getattr(args, "seed", 0),
                       window=getattr(args, "window", 500), extra=dict(extra))


def _load_frame(req: RiskRequest) -> tuple[pd.DataFrame, str, str]:
    if req.data:
        from market.io import read_table  # noqa: PLC0415 - pyarrow readers load only for files

        path = Path(req.data)
        frame, _meta = read_table(path)
        return frame, str(path), path.name.split(".")[0]
    from market.samples import load_sample_frame  # noqa: PLC0415 - the sample index loads only when asked

    return load_sample_frame(req.sample or DEFAULT_SAMPLE), f"sample {req.sample}", str(req.sample)


def _date(text: str | None, flag: str) -> pd.Timestamp | None:
    if not text:
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise RiskRequestError(f"{flag}: {text!r} is not a date (YYYY-MM-DD)") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def load_returns(req: RiskRequest) -> PanelReturns:
    """The request's assets, window, closes, returns and weights (bad names or windows raise a named error)."""
    frame, source, stem = _load_frame(req)
    if "timestamp" not in frame.columns:
        raise RiskRequestError(f"{source}: no 'timestamp' column")
    ts = frame["timestamp"]
    ts = pd.to_datetime(ts, unit="ms", utc=True) if pd.api.types.is_numeric_dtype(ts) else pd.to_datetime(ts, utc=True)
    if "close" in frame.columns:  # one asset's bars
        closes = pd.DataFrame({stem: frame["close"].to_numpy(dtype=np.float64)})
    else:
        closes = frame.drop(columns=["timestamp"]).apply(pd.to_numeric, errors="coerce")
    wanted = list(req.assets) or [a for a, _ in req.weights] or list(closes.columns)
    missing = [a for a in wanted if a not in closes.columns]
    if missing:
        raise RiskRequestError(f"--assets: {missing[0]!r} is not in {source} (it has {', '.join(map(str, closes.columns))})")
    wmap = dict(req.weights)
    extra = [a for a in wmap if a not in wanted]
    if extra:
        raise RiskRequestError(f"--weights: {extra[0]!r} is not among --assets")
    mask = np.ones(len(ts), dtype=bool)
    lo, hi = _date(req.start, "--start"), _date(req.end, "--end")
    if lo is not None:
        mask &= (ts >= lo).to_numpy()
    if hi is not None:
        mask &= (ts <= hi).to_numpy()
    px = closes.loc[mask, wanted].to_numpy(dtype=np.float64)
    stamps = ts[mask]
    keep = np.all(np.isfinite(px) & (px > 0), axis=1)  # a panel's assets listed later start with empty cells
    px, stamps = px[keep], stamps[keep]
    if px.shape[0] < 30:
        raise RiskRequestError(f"--start/--end: {px.shape[0]} bars with prices for every asset; need at least 30")
    w = np.array([wmap.get(a, 0.0) for a in wanted]) if wmap else np.full(len(wanted), 1.0 / len(wanted))
    return PanelReturns(tuple(wanted), tuple(t.isoformat() for t in stamps), px, px[1:] / px[:-1] - 1.0, w, source)


def estimate(method: str, p: PanelReturns, req: RiskRequest) -> rv.RiskEstimate:
    """VaR/ES of the weighted portfolio ``p`` by ``method`` (one of ``risk.var.METHODS``) with the request's
    confidence, horizon and method settings; Monte Carlo goes to Ray tasks when large and Ray is connected."""
    rp = p.returns @ p.weights
    if method == "historical":
        return rv.historical(rp, req.confidence, req.horizon)
    if method == "parametric":
        return rv.gaussian(rp, req.confidence, req.horizon)
    if method == "cornish-fisher":
        return rv.cornish_fisher(rp, req.confidence, req.horizon)
    if method == "fhs":
        return rv.filtered_historical(rp, req.confidence, req.horizon, vol=str(req.extra.get("vol", "ewma")))
    mc = rv.monte_carlo
    if req.scenarios >= MC_RAY_THRESHOLD and _ray_connected():
        mc = monte_carlo_ray  # type: ignore[assignment]
    return mc(p.returns, p.weights, req.confidence, req.horizon, n_scenarios=req.scenarios,
              copula=str(req.extra.get("copula", "t")), marginals="empirical", seed=req.seed)


def _ray_connected() -> bool:
    ray = sys.modules.get("ray")  # never imported here: a process that did not start Ray stays single-process
    return bool(ray is not None and ray.is_initialized())


@dataclass(frozen=True)
class VarReport:
    """VaR/ES of one portfolio by several methods; ``components`` is the Gaussian Euler split of VaR."""

    source: str
    assets: tuple[str, ...]
    weights: tuple[float, ...]
    start: str
    end: str
    n_returns: int
    value: float
    estimates: tuple[rv.RiskEstimate, ...]
    components: rv.ComponentRisk
    position_var: tuple[float, ...]

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "assets": list(self.assets), "weights": list(self.weights),
                "start": self.start, "end": self.end, "n_returns": self.n_returns, "value": self.value,
                "estimates": [dict(e.to_json(), var_value=e.var * self.value, es_value=e.es * self.value)
                              for e in self.estimates],
                "component_var": {"measure": self.components.measure, "total": self.components.total,
                                  "by_asset": dict(zip(self.assets, self.components.components))},
                "position_var": dict(zip(self.assets, self.position_var))}


def run_var(req: RiskRequest) -> VarReport:
    p = load_returns(req)
    ests = tuple(estimate(m, p, req) for m in req.methods)
    comps = rv.component_var_gaussian(p.returns, p.weights, req.confidence, req.horizon)
    pos = rv.position_var(p.returns, p.weights, req.confidence, req.horizon)
    return VarReport(p.source, p.assets, tuple(p.weights.tolist()), p.timestamps[0][:10], p.timestamps[-1][:10],
                     p.returns.shape[0], req.value, ests, comps, pos)


def run_backtest(req: RiskRequest) -> list[vb.VarBacktest]:
    """A rolling one-bar backtest of each method (Monte Carlo excluded: use parametric for its Gaussian case)."""
    p = load_returns(req)
    rp = p.returns @ p.weights
    if not (50 <= req.window < rp.size - 20):
        raise RiskRequestError(f"--window: must be 50..{rp.size - 21} bars for {rp.size} returns, got {req.window}")
    return [vb.backtest(rp, one_bar_estimator(m, req), req.window, confidence=req.confidence, method=m)
            for m in req.methods if m != "mc"]


def one_bar_estimator(method: str, req: RiskRequest) -> Callable[[np.ndarray], rv.RiskEstimate]:
    """``f(returns) -> RiskEstimate``: one-bar VaR/ES of a return series by ``method`` with the request's
    settings; what a VaR backtest re-estimates on each rolling window (:func:`run_backtest`, its report)."""
    sub = replace(req, methods=(method,), horizon=1)

    def est(x: np.ndarray) -> rv.RiskEstimate:
        return estimate(method, PanelReturns(("portfolio",), (), np.empty((0, 1)), x[:, None], np.ones(1), ""), sub)

    return est


def run_stress(req: RiskRequest, *, shock: float = -0.2, vol_k: float = 2.0, window: int = 1,
               count: int = 5) -> list[st.StressResult]:
    p = load_returns(req)
    positions = {a: float(w) * req.value for a, w in zip(p.assets, p.weights)}
    closes = {a: p.closes[:, i] for i, a in enumerate(p.assets)}
    scen = st.worst_windows(p.timestamps, closes, dict(zip(p.assets, p.weights.tolist())), window=window, count=count)
    scen += [st.uniform_shock(p.assets, shock),
             st.correlation_to_one(p.returns, p.assets, positions, req.confidence),
             st.volatility_multiplier(p.returns, p.assets, positions, vol_k, req.confidence)]
    return [st.apply(positions, s) for s in scen]


@dataclass(frozen=True)
class RegimeReport:
    asset: str
    method: str
    n_states: int
    timestamps: tuple[str, ...]
    close: np.ndarray
    labels: np.ndarray
    stats: tuple[dict[str, float], ...]
    correlation_flags: int | None

    def to_json(self) -> dict[str, object]:
        last = int(self.labels[-1])
        return {"asset": self.asset, "method": self.method, "n_states": self.n_states,
                "start": self.timestamps[0][:10], "end": self.timestamps[-1][:10],
                "current_regime": last, "regimes": list(self.stats), "correlation_regime_bars": self.correlation_flags}


def run_regimes(req: RiskRequest, *, n_states: int = 2, method: str = "hmm", train: int = 500,
                refit_every: int = 250) -> RegimeReport:
    """Walk-forward regimes of the first asset (or the weighted portfolio's value for several)."""
    p = load_returns(req)
    value = np.concatenate(([1.0], np.cumprod(1.0 + p.returns @ p.weights))) if len(p.assets) > 1 else p.closes[:, 0]
    x = rg.features(value)
    labels = rg.walk_forward_regimes(x, n_states, train=train, refit_every=refit_every, method=method, seed=req.seed)
    stats_ = []
    for k in range(n_states):
        sel = labels == k
        r = x[sel, 0]
        stats_.append({"regime": k, "bars": int(sel.sum()), "mean_log_return": float(np.mean(r)) if r.size else 0.0,
                       "volatility": float(np.std(r, ddof=1)) if r.size > 1 else 0.0})
    flags = None
    if len(p.assets) > 1 and p.returns.shape[0] > 260:
        flags = int(rc.correlation_regime(p.returns).flag.sum())
    name = p.assets[0] if len(p.assets) == 1 else "portfolio"
    return RegimeReport(name, method, n_states, p.timestamps, value, labels, tuple(stats_), flags)


def plot_regimes(report: RegimeReport, path: str | Path) -> Path:
    """Price (log scale) coloured by regime, written as PNG."""
    from quantum.plot import check_plot_path  # noqa: PLC0415 - shared PNG-path check; matplotlib loads only to plot

    out = check_plot_path(path)
    import matplotlib  # noqa: PLC0415 - matplotlib loads only to plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - matplotlib loads only to plot

    t = pd.to_datetime(list(report.timestamps))
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    try:
        ax.plot(t, report.close, color="0.75", lw=0.8, label="unlabelled (training)")
        colors = ["tab:green", "tab:red", "tab:orange", "tab:purple", "tab:blue"]
        for k in range(report.n_states):
            sel = report.labels == k
            ax.scatter(t[sel], report.close[sel], s=2, color=colors[k % len(colors)],
                       label=f"regime {k} ({'calmest' if k == 0 else 'most volatile' if k == report.n_states - 1 else ''})")
        ax.set_yscale("log")
        ax.set_title(f"{report.asset}: {report.method.upper()} regimes, fitted walk-forward on past bars only")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, markerscale=4)
        fig.tight_layout()
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out


#: candidates of ``raytrader risk switch`` when no ``--candidate`` is given (long-only: a short side ruins
#: bollinger_reversion on BTC's 2013-2024 trend)
DEFAULT_SWITCH_CANDIDATES = ("sma_cross:fast=10,slow=50", "donchian_breakout:short=0", "bollinger_reversion:short=0")


def parse_candidate(text: str) -> tuple[str, dict[str, str]]:
    """``"NAME[:K=V,...]"`` -> ``(NAME, {K: V})`` (values validated later by the strategy's own parameter specs)."""
    name, _, rest = text.partition(":")
    params: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise RiskRequestError(f"--candidate {text!r}: expected NAME[:PARAM=VALUE,...], got {part!r}")
        params[key.strip()] = value.strip()
    if not name.strip():
        raise RiskRequestError(f"--candidate {text!r}: no strategy name")
    return name.strip(), params


def run_regime_switch(*, sample: str | None, data: str | None, candidates: tuple[str, ...], n_states: int,
                      method: str, train: int, refit_every: int, fees_bps: float, seed: int = 0) -> dict[str, object]:
    """The regime-switching strategy and each candidate alone, out of sample (:mod:`backtest.regime_switch`)."""
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.costs import fee_fraction  # noqa: PLC0415 - numba-compiled; loaded only for this command
    from backtest.regime_switch import candidates_from, evaluate_out_of_sample  # noqa: PLC0415 - as above
    from backtest.trades import ms_to_iso  # noqa: PLC0415 - as above
    from market.samples import load_sample  # noqa: PLC0415 - as above
    from strategies.registry import get_strategy  # noqa: PLC0415 - as above

    fee_fraction(fees_bps, name="--fees-bps")
    specs = []
    for text in candidates or DEFAULT_SWITCH_CANDIDATES:
        name, params = parse_candidate(text)
        record = get_strategy(name)
        if record.multi_asset:
            raise RiskRequestError(f"--candidate {text!r}: {name} is a multi-asset strategy; the switch trades one series")
        specs.append((record, params))
    cands = candidates_from(specs)
    if data:
        from market.io import read_bars  # noqa: PLC0415 - as above

        bars, source = read_bars(data)[0], data
    else:
        bars, source = load_sample(sample or "BTC-USD-1d"), f"sample:{sample or 'BTC-USD-1d'}"
    rep = evaluate_out_of_sample(bars, cands, fees_bps=fees_bps, n_states=n_states, train=train,
                                 refit_every=refit_every, method=method, seed=seed)
    return {"symbol": bars.symbol, "timeframe": bars.timeframe, "source": source, "n_states": n_states,
            "method": method, "train": train, "refit_every": refit_every, "fees_bps": fees_bps,
            **rep, "start": ms_to_iso(rep["start"]), "end": ms_to_iso(rep["end"]),
            "refits": [{**r, "timestamp": ms_to_iso(r["timestamp"])} for r in rep["refits"]]}


#: Monte Carlo runs of at least this many scenarios (4 blocks of ``risk.var.MC_BLOCK``) go to Ray tasks, one
#: task per block, when this process is connected to Ray (`raytrader risk var` connects when a cluster is up);
#: below it a task's start-up (~10-50 ms) and the transfer cost more than the work (100,000 x 50 assets take
#: under 100 ms on one core)
MC_RAY_THRESHOLD = 1_000_000


def monte_carlo_ray(asset_returns: np.ndarray, weights: np.ndarray, confidence: float = 0.99, horizon: int = 1, *,
                    n_scenarios: int, copula: str = "gaussian", dof: float = 5.0, marginals: str = "gaussian",
                    seed: int = 0) -> rv.RiskEstimate:
    """:func:`risk.var.monte_carlo` with its blocks as Ray tasks (Ray initialised): the same numbers for the same seed.

    The returns go to the object store once; each task returns its block's
    portfolio returns, which are joined in block order before the tail.
    """
    import ray  # noqa: PLC0415 - only when Monte Carlo runs on the cluster

    R = np.asarray(asset_returns, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    rv.portfolio_returns(R, w)  # shape checks, before Ray
    rv.monte_carlo_tail(np.zeros(int(n_scenarios)), confidence, horizon, copula, R.shape[0])  # likewise
    block = ray.remote(num_cpus=1)(rv.monte_carlo_block)
    ref = ray.put(R)
    futures = [block.remote(ref, w, b, n, horizon, copula=copula, dof=dof, marginals=marginals, seed=seed)
               for b, n in rv.mc_blocks(n_scenarios)]
    parts = ray.get(futures)
    return rv.monte_carlo_tail(parts[0] if len(parts) == 1 else np.concatenate(parts), confidence, horizon, copula,
                               R.shape[0])
