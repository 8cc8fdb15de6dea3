"""The result of a parameter sweep: one row of metrics per configuration.

Pure: no ``import ray``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from backtest.errors import EmptySweepError, GridSpecError
from backtest.metrics import rank_order

__all__ = ["METRICS", "SweepResult"]

#: the metric columns of a :class:`SweepResult`, in order
METRICS: tuple[str, ...] = ("total_return", "sharpe", "max_drawdown", "n_trades", "final_equity")


@dataclass(frozen=True, kw_only=True)
class SweepResult:
    """Per-configuration metrics of a sweep; row ``i`` belongs to ``configs[i]``.

    Attributes:
        strategy: registered strategy name.
        param_names: parameter names, the column order of ``params``.
        params: int64/float64 array, shape ``(n_configs, n_params)``.
        total_return: fraction (0.1 is +10 %), per config.
        sharpe: annualised Sharpe of per-bar returns (zero risk-free rate).
        max_drawdown: positive fraction (0.25 is -25 %).
        n_trades: round trips, an open one included (int64).
        final_equity: quote currency at the last close (0 for a ruined configuration).
        ruined_at: int64 bar index at which the configuration's account was
            liquidated, -1 where it survived; ``None`` when the producer did
            not record it (rows built from :data:`METRICS` alone).
        periods_per_year: bars per year the Sharpe ratios were annualised
            with (measured from the timestamps unless given), or ``None``
            when not recorded.
    """

    strategy: str
    param_names: tuple[str, ...]
    params: np.ndarray
    total_return: np.ndarray
    sharpe: np.ndarray
    max_drawdown: np.ndarray
    n_trades: np.ndarray
    final_equity: np.ndarray
    ruined_at: np.ndarray | None = None
    periods_per_year: float | None = None

    @property
    def n_ruined(self) -> int:
        """Configurations whose account was liquidated (0 when not recorded)."""
        return 0 if self.ruined_at is None else int(np.count_nonzero(self.ruined_at >= 0))

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def config(self, i: int) -> dict[str, int | float]:
        """Parameters of row ``i`` as a plain dict (Python ints/floats)."""
        return {name: self.params[i, j].item() for j, name in enumerate(self.param_names)}

    def row(self, i: int) -> dict[str, int | float | None]:
        """Row ``i`` as a flat dict: the parameters, then :data:`METRICS`, then ``ruined_at`` (None: survived) if recorded."""
        out: dict[str, int | float | None] = dict(self.config(i))
        for m in METRICS:
            out[m] = getattr(self, m)[i].item()
        if self.ruined_at is not None:
            at = int(self.ruined_at[i])
            out["ruined_at"] = None if at < 0 else at
        return out

    def columns(self) -> dict[str, np.ndarray]:
        """Column name -> array (parameters first, ``ruined_at`` last if recorded), for a DataFrame or Parquet table."""
        cols = {name: self.params[:, j] for j, name in enumerate(self.param_names)}
        cols.update({m: getattr(self, m) for m in METRICS})
        if self.ruined_at is not None:
            cols["ruined_at"] = self.ruined_at
        return cols

    def best(self, metric: str = "sharpe") -> int:
        """Row index of the best ``metric`` (:func:`backtest.metrics.rank_order`: lowest for a
        :data:`backtest.metrics.LOWER_IS_BETTER` metric such as ``max_drawdown``, else highest); first row on ties."""
        if metric not in METRICS:
            raise GridSpecError("metric", f"metric: unknown {metric!r}; choose one of {', '.join(METRICS)}")
        return int(rank_order(getattr(self, metric), metric)[0])

    @staticmethod
    def concat(parts: Sequence["SweepResult"]) -> "SweepResult":
        """Rows of several results of the same strategy, in order."""
        if not parts:
            raise EmptySweepError("configs: nothing to concatenate")
        first = parts[0]
        ruined = None if any(p.ruined_at is None for p in parts) else np.concatenate([p.ruined_at for p in parts])
        return SweepResult(strategy=first.strategy, param_names=first.param_names,
                           params=np.concatenate([p.params for p in parts]), ruined_at=ruined,
                           periods_per_year=first.periods_per_year,
                           **{m: np.concatenate([getattr(p, m) for p in parts]) for m in METRICS})
