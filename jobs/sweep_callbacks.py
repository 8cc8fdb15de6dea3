"""The Tune callbacks of :func:`jobs.sweep.run_sweep`, on the driver: the progress count and the keeper
of each trial's per-row arrays."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["progress_callback", "row_keeper"]

#: ``progress(done, total, info)``: configurations done, of ``total``, and a short status line
Progress = Callable[[int, int, str], None]


def progress_callback(progress: Progress, total: int, folds: int) -> Any:
    """A Tune callback that counts configurations done (rows reported after their last fold) and trials running."""
    from ray.tune import Callback  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    class _Progress(Callback):
        # no closure over the bar: Tune pickles its run config, and the bar (a rich Live) cannot be pickled
        def __init__(self, progress: Progress, total: int, folds: int) -> None:
            self.done: dict[str, int] = {}
            self.running = 0
            self.total, self.folds = total, folds
            self.progress: Progress | None = progress

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "progress": None}  # the bar stays in this process

        def _show(self) -> None:
            if self.progress is not None:
                self.progress(min(self.total, sum(self.done.values())), self.total,
                              f"{self.running} trial(s) running")

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            running = sum(1 for t in trials if t.status == "RUNNING")
            if running != self.running:
                self.running = running
                self._show()

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                            **info: Any) -> None:
            if int(result.get("fold", 0)) >= self.folds:
                self.done[trial.trial_id] = int(result.get("n_configs", 0))
                self._show()

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            # a trial ASHA stopped early: its rows are done (with the folds it ran)
            self.done[trial.trial_id] = int((trial.last_result or {}).get("n_configs", 0))
            self._show()

    progress(0, total, "starting trials")
    return _Progress(progress, total, folds)


def row_keeper(keys: Sequence[str], strip: bool) -> Any:
    """A Tune callback (pass it first) that keeps each trial's latest per-row arrays (``keys``) on the driver.

    With ``strip`` it also takes them out of the result dict (Tune lets callbacks change it in place), so
    the callbacks after it (the JSON logger writing ``result.json``), the trial's ``last_result`` and
    Tune's experiment state handle only the few scalars: JSON-encoding every row there was the driver's
    per-row cost. The Optuna searcher reads the rows from ``last_result``, so an Optuna sweep keeps them.
    ``tables[trial_id]`` is the trial's last report's arrays (a retried trial's rerun replaces them).
    """
    from ray.tune import Callback  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    class _RowKeeper(Callback):
        def __init__(self, keys: Sequence[str], strip: bool) -> None:
            self.keys, self.strip = tuple(keys), strip
            self.tables: dict[str, dict[str, np.ndarray]] = {}

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "tables": {}}  # Tune pickles its run config: the rows stay in this process

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                            **info: Any) -> None:
            if self.keys[0] in result:
                self.tables[trial.trial_id] = {k: (result.pop(k) if self.strip else result[k]) for k in self.keys}

    return _RowKeeper(keys, strip)
