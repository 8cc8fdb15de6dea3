"""Return estimates (μ, Σ) for portfolio selection from a close-price panel.

A panel is a DataFrame with a ``timestamp`` column (UTC) and one adjusted
close column per asset, e.g. ``market.samples.load_sample_frame("sp500-close-1d")``.
Returns are *daily simple returns* ``p[t]/p[t-1] - 1`` (fractions, not %) of
the closes inside the window; μ is their mean and Σ their sample covariance
(ddof=1), both per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from quantum.errors import CovarianceError, UnknownAssetError, WindowError

__all__ = ["ReturnEstimate", "DEFAULT_PANEL", "load_panel", "estimate_returns", "MIN_DAYS"]

#: the bundled 20-stock daily close panel (1990-01-02 .. 2022-12-28)
DEFAULT_PANEL = "sp500-close-1d"
#: fewest daily returns an estimate may rest on
MIN_DAYS = 20


@dataclass(frozen=True, eq=False)
class ReturnEstimate:
    """μ and Σ of daily simple returns over one window.

    Invariants: ``mu.shape == (n,)``, ``sigma.shape == (n, n)``, Σ symmetric
    positive definite; ``n_days`` return observations between ``start`` and
    ``end`` (ISO dates, inclusive, the first price day's return dropped).
    """

    assets: tuple[str, ...]
    mu: np.ndarray
    sigma: np.ndarray
    start: str
    end: str
    n_days: int
    shrinkage: float = 0.0


def load_panel(path: str | Path | None = None) -> pd.DataFrame:
    """The bundled panel (``path=None``) or a CSV/Parquet/Feather panel file, validated as daily closes."""
    if path is None:
        from market.samples import load_sample_frame  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

        return load_sample_frame(DEFAULT_PANEL)
    from market.io import read_table  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used
    from market.validate import validate_close_panel  # noqa: PLC0415 - late: Qiskit, matplotlib and file readers load only when used

    frame, _meta = read_table(path)
    validate_close_panel(frame, "1d", source=str(path))
    frame = frame.copy()
    frame["timestamp"] = _timestamps(frame["timestamp"])
    return frame


def _timestamps(col: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col):
        return pd.to_datetime(col, unit="ms", utc=True)
    return pd.to_datetime(col, utc=True)


def _date(text: str | None, field: str) -> pd.Timestamp | None:
    if text is None or text == "":
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise WindowError(field, f"{text!r} is not a date (use YYYY-MM-DD)") from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def estimate_returns(
    panel: pd.DataFrame,
    assets: Sequence[str],
    start: str | None = None,
    end: str | None = None,
    *,
    min_days: int = MIN_DAYS,
    shrinkage: float = 0.0,
) -> ReturnEstimate:
    """μ, Σ of daily simple returns of ``assets`` between ``start`` and ``end`` (inclusive).

    ``shrinkage`` δ ∈ [0, 1) blends Σ toward ``mean(diag Σ)·I``:
    ``(1-δ)Σ + δ·v̄·I``; with δ = 0 a Σ that is not positive definite
    (collinear or constant series, fewer days than assets) raises
    :class:`CovarianceError` naming the remedy.
    """
    columns = {str(c): c for c in panel.columns if str(c) != "timestamp"}
    lower = {k.lower(): k for k in columns}
    names: list[str] = []
    for raw in assets:
        name = str(raw).strip()
        key = name if name in columns else lower.get(name.lower())
        if key is None:
            raise UnknownAssetError("assets", f"unknown asset {name!r}; the panel has {', '.join(columns)}")
        if key in names:
            raise UnknownAssetError("assets", f"asset {key!r} is listed twice")
        names.append(key)
    if len(names) < 2:
        raise UnknownAssetError("assets", f"need at least 2 assets, got {len(names)}")
    if not 0.0 <= shrinkage < 1.0:
        raise CovarianceError("shrinkage", f"must be in [0, 1), got {shrinkage}")
    lo, hi = _date(start, "start"), _date(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise WindowError("window", f"start {start} is after end {end}")
    ts = _timestamps(panel["timestamp"])
    mask = np.ones(len(panel), dtype=bool)
    if lo is not None:
        mask &= (ts >= lo).to_numpy()
    if hi is not None:
        mask &= (ts <= hi).to_numpy()
    prices = panel.loc[mask, [columns[n] for n in names]].to_numpy(dtype=np.float64)
    days = ts[mask]
    n_days = max(len(prices) - 1, 0)
    if n_days < min_days:
        span = f"{start or 'first day'}..{end or 'last day'}"
        raise WindowError("window", f"{span} holds {n_days} daily returns; need at least {min_days}")
    rets = prices[1:] / prices[:-1] - 1.0
    mu = rets.mean(axis=0)
    sigma = np.cov(rets, rowvar=False, ddof=1)
    if shrinkage > 0:
        sigma = (1 - shrinkage) * sigma + shrinkage * float(np.mean(np.diag(sigma))) * np.eye(len(names))
    sigma = 0.5 * (sigma + sigma.T)
    eig = np.linalg.eigvalsh(sigma)
    if eig[0] <= 1e-10 * max(eig[-1], 1e-300):
        raise CovarianceError(
            "covariance",
            f"the sample covariance of {', '.join(names)} over {n_days} days is not positive definite "
            f"(smallest eigenvalue {eig[0]:.3g}); use a longer window, drop collinear assets, or set --shrinkage",
        )
    return ReturnEstimate(assets=tuple(names), mu=mu, sigma=sigma,
                          start=days.iloc[0].strftime("%Y-%m-%d"), end=days.iloc[-1].strftime("%Y-%m-%d"),
                          n_days=n_days, shrinkage=shrinkage)
