"""Optuna's TPE sampler driven in batches inside Ray Tune (``raytrader sweep --search optuna``).

Ray Tune's own ``OptunaSearch`` works with optuna 5 but makes one Tune trial
per configuration (about 4 s each here), so the sweep drives optuna's
ask/tell itself: :class:`OptunaBatches` is the Ray-free core, and
:func:`tune_searcher` wraps it as a Tune ``Searcher`` on the driver. Each
trial evaluates a whole batch with the batched kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["OptunaBatches", "tune_searcher"]


class OptunaBatches:
    """Optuna ask/tell in batches, deterministic for a seed; the pure core of the Tune searcher (no Ray).

    ``suggest(key)`` returns the next batch as a Tune config
    (``{"batch", "rows", "configs"}``), ``None`` while it must wait for
    earlier batches, or ``FINISHED``; ``complete(key, result)`` records a
    trial's last report. Batch ``b`` is asked only after batches
    ``0 .. b - parallel`` have been told, in batch order, so the sequence of
    asks and tells, hence every suggestion, depends only on the seed.

    Constraints: an infeasible suggestion is told PRUNED (no value) and
    never evaluated; a repeat of an evaluated configuration is told its
    value; a repeat of one still running is told FAIL (ignored by TPE).
    After ``max_asks`` asks for one batch, seeded uniform draws of unseen
    grid points fill it. Values are the metric of the configuration; with
    folds, a configuration whose trial was stopped early is reported at its
    last fold and told PRUNED.
    """

    FINISHED = "FINISHED"

    def __init__(self, *, strategy: Any, names: tuple[str, ...], axes: list[list[Any]], grid: np.ndarray,
                 n_configs: int, batch: int, parallel: int, metric: str, folds: int, seed: int,
                 max_asks: int = 200) -> None:
        import optuna  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.strategy, self.names, self.metric, self.folds = strategy, names, metric, folds
        self.grid = grid
        self.n_configs, self.batch, self.parallel = n_configs, batch, max(1, parallel)
        self.n_batches = -(-n_configs // batch)
        self.max_asks = max(max_asks, 20 * batch)
        from backtest.metrics import ranking_mode  # noqa: PLC0415 - keeps `raytrader --help` free of numba

        self.direction = "minimize" if ranking_mode(metric) == "min" else "maximize"
        self.study = optuna.create_study(direction=self.direction,
                                         sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True))
        self.rng = np.random.default_rng(seed)
        self.fixed = {n: v[0] for n, v in zip(names, axes) if len(v) == 1}
        self.distributions = {n: _distribution(optuna, v) for n, v in zip(names, axes) if len(v) > 1}
        self.asked = 0  # batches handed out
        self.told = 0  # batches told back
        self.batch_of: dict[str, int] = {}
        self.done: dict[int, dict[str, Any] | None] = {}
        self.pending: dict[int, list[tuple[tuple[Any, ...], Any]]] = {}
        self.values: dict[tuple[Any, ...], float] = {}
        self.seen: set[tuple[Any, ...]] = set()
        self.counts = {"asked": 0, "infeasible": 0, "repeated": 0, "random_fill": 0}

    def suggest(self, key: str) -> dict[str, Any] | str | None:
        b = self.asked
        if b >= self.n_batches:
            return self.FINISHED
        while self.told <= b - self.parallel:
            if self.told not in self.done:
                return None  # wait: telling out of order would make the run depend on timing
            self._tell(self.told)
            self.told += 1
        size = min(self.batch, self.n_configs - b * self.batch)
        combos = self._ask(b, size)
        self.batch_of[key] = b
        self.asked += 1
        start = b * self.batch
        return {"batch": b, "rows": list(range(start, start + size)), "configs": [list(c) for c in combos]}

    def complete(self, key: str, result: dict[str, Any] | None, error: bool = False) -> None:
        b = self.batch_of.get(key)
        if b is not None:
            self.done[b] = None if error or not result or "rows" not in result else result

    def finish(self) -> None:
        """Tell every remaining completed batch (the study then holds every evaluation)."""
        while self.told < self.asked and self.told in self.done:
            self._tell(self.told)
            self.told += 1

    def _allowed(self, combo: tuple[Any, ...]) -> bool:
        values = dict(zip(self.names, combo))
        return all(c.predicate(values) for c in self.strategy.constraints)

    def _ask(self, b: int, size: int) -> list[tuple[Any, ...]]:
        TrialState = self._optuna.trial.TrialState
        out: list[tuple[Any, ...]] = []
        trials = []
        asks = 0
        while len(out) < size and asks < self.max_asks:
            asks += 1
            trial = self.study.ask(self.distributions)
            self.counts["asked"] += 1
            combo = tuple(self.fixed[n] if n in self.fixed else trial.params[n] for n in self.names)
            if not self._allowed(combo):
                self.counts["infeasible"] += 1
                self.study.tell(trial, state=TrialState.PRUNED)
            elif combo in self.values:
                self.counts["repeated"] += 1
                self.study.tell(trial, self.values[combo])
            elif combo in self.seen:
                self.counts["repeated"] += 1
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.seen.add(combo)
                out.append(combo)
                trials.append((combo, trial))
        if len(out) < size:  # Optuna keeps repeating itself: fill with unseen grid points, seeded
            unseen = [i for i, row in enumerate(self.grid.tolist()) if tuple(row) not in self.seen]
            for i in np.sort(self.rng.choice(len(unseen), size=size - len(out), replace=False)):
                combo = tuple(self.grid[unseen[i]].tolist())
                self.seen.add(combo)
                out.append(combo)
                self.counts["random_fill"] += 1
        self.pending[b] = trials
        return out

    def _tell(self, b: int) -> None:
        TrialState = self._optuna.trial.TrialState
        result = self.done.get(b)
        for combo, trial in self.pending.pop(b, []):
            if result is None:
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            i = [tuple(p) for p in result["params"]].index(tuple(combo))
            value = float(result[self.metric][i])
            if not np.isfinite(value):
                self.study.tell(trial, state=TrialState.FAIL)
            elif int(result["fold"]) < self.folds:  # stopped early by ASHA: a partial value
                trial.report(value, step=int(result["fold"]))
                self.study.tell(trial, state=TrialState.PRUNED)
            else:
                self.values[combo] = value
                self.study.tell(trial, value)


def _distribution(optuna: Any, values: list[Any]) -> Any:
    """An Optuna distribution over one grid axis: an int range with its step when evenly spaced, else a choice."""
    if all(isinstance(v, int) for v in values):
        ordered = sorted(values)
        steps = {b - a for a, b in zip(ordered, ordered[1:])}
        if len(steps) == 1:
            return optuna.distributions.IntDistribution(ordered[0], ordered[-1], step=steps.pop())
    return optuna.distributions.CategoricalDistribution(values)


def tune_searcher(core: OptunaBatches, mode: str) -> Any:
    """A Ray Tune ``Searcher`` around :class:`OptunaBatches` (defined lazily: Ray is imported here)."""
    from ray.tune.search import Searcher  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    class _BatchedOptuna(Searcher):
        def __init__(self) -> None:
            super().__init__(metric="score", mode=mode)

        def set_search_properties(self, metric: Any, mode: Any, config: Any, **spec: Any) -> bool:
            return True

        def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
            out = core.suggest(trial_id)
            return Searcher.FINISHED if out == OptunaBatches.FINISHED else out

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
            core.complete(trial_id, result, error)

    return _BatchedOptuna()
