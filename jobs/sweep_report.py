"""What a finished sweep reports (:func:`jobs.sweep.run_sweep`): the best and top configurations, how Ray Tune
ran them, ASHA's and Optuna's part, and where the run folder's files are; ``to_json()`` is the sweep's one JSON
object (``--json``, ``summary.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.inputs import describe_source

if TYPE_CHECKING:
    from jobs.sweep import SweepPlan

__all__ = ["SweepReport", "AshaSummary", "OptunaSummary"]


@dataclass(frozen=True, kw_only=True)
class AshaSummary:
    """What ASHA did: per trial the folds it ran (``trial_folds``), how many it stopped early, and how many
    configurations saw every fold (only those compete for ``best``)."""

    folds: int
    fold_ends: tuple[int, ...]
    trial_folds: tuple[int, ...]
    stopped_trials: int
    configs_all_folds: int

    def to_json(self) -> dict[str, Any]:
        return {"folds": self.folds, "fold_ends": list(self.fold_ends), "trial_folds": list(self.trial_folds),
                "stopped_trials": self.stopped_trials, "configs_all_folds": self.configs_all_folds}


@dataclass(frozen=True, kw_only=True)
class OptunaSummary:
    """What Optuna's TPE sampler suggested: batches of ``batch``, suggestions asked, infeasible ones (told as
    pruned, never run), repeats, and seeded uniform draws that filled a batch."""

    seed: int
    batch: int
    suggestions: int
    infeasible_pruned: int
    repeats: int
    random_fill: int

    def to_json(self) -> dict[str, Any]:
        return {"sampler": "TPESampler", "seed": self.seed, "batch": self.batch, "suggestions": self.suggestions,
                "infeasible_pruned": self.infeasible_pruned, "repeats": self.repeats, "random_fill": self.random_fill}


@dataclass(frozen=True, kw_only=True)
class SweepReport:
    """A finished sweep: the best and top rows (parameters, in-sample metrics, ``out_of_sample`` on the held-out
    bars), how Tune ran it, and where its files are. Times are seconds; ``trial_*`` are per batch, in batch order.
    """

    plan: SweepPlan
    n_configs: int
    best: dict[str, Any]
    top: tuple[dict[str, Any], ...]
    n_trials: int
    trial_cpus: float
    threads_per_trial: int
    concurrent_trials: int
    cluster_cpus: float
    tune_seconds: float
    configs_per_second: float | None  # n_configs over the unrounded Tune time; None if it took no time
    trial_nodes: tuple[str, ...]  # per batch: the Ray node id it ran on
    trial_eval_seconds: tuple[float, ...]
    trial_eval_cpu_seconds: tuple[float, ...]
    phases: dict[str, float]  # wall clock from Tuner.fit's start
    seconds: float
    run_dir: Path
    results_path: Path  # one row per configuration (Parquet)
    asha: AshaSummary | None = None
    optuna: OptunaSummary | None = None

    def to_json(self) -> dict[str, Any]:
        """The job's JSON object (printed by ``--json``, written to ``summary.json``)."""
        plan, request = self.plan, self.plan.request
        bars = plan.bars
        out: dict[str, Any] = {
            "job": "sweep",
            "strategy": request.strategy,
            "sizing": request.sizing or None,
            "symbol": bars.symbol,
            "timeframe": bars.timeframe,
            "source": describe_source(request),
            "bars": len(bars) + (len(plan.holdout_bars) if plan.holdout_bars is not None else 0),
            "in_sample": _span(bars),
            "out_of_sample": _span(plan.holdout_bars) if plan.holdout_bars is not None else None,
            "fees_bps": request.fees_bps,
            "fill": request.fill,
            "periods_per_year": plan.periods_per_year,
            "periods_per_year_source": "given" if request.periods_per_year is not None else "measured",
            "search": request.search,
            "scheduler": request.scheduler,
            "grid": list(request.grid),
            "param_names": list(plan.param_names),
            "n_configs": self.n_configs,
            "metric": request.metric,
            "best": self.best,
            "top": list(self.top),
            "n_trials": self.n_trials,
            "trial_cpus": self.trial_cpus,
            "threads_per_trial": self.threads_per_trial,
            "concurrent_trials": self.concurrent_trials,
            "cluster_cpus": self.cluster_cpus,
            "tune_seconds": self.tune_seconds,
            "trial_nodes": list(self.trial_nodes),
            "trial_eval_seconds": list(self.trial_eval_seconds),
            "trial_eval_cpu_seconds": list(self.trial_eval_cpu_seconds),
            "phases": dict(self.phases),
            "seconds": self.seconds,
            "configs_per_second": self.configs_per_second,
            "run_dir": str(self.run_dir),
            "results_path": str(self.results_path),
            "summary_path": str(self.run_dir / "summary.json"),
        }
        if self.asha is not None:
            out["asha"] = self.asha.to_json()
        if self.optuna is not None:
            out["optuna"] = self.optuna.to_json()
        return out


def _span(bars: Any) -> dict[str, Any]:
    from backtest.trades import ms_to_iso  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    return {"bars": len(bars), "start": ms_to_iso(int(bars.timestamp[0])), "end": ms_to_iso(int(bars.timestamp[-1]))}
