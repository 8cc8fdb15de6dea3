"""The shared ``python -m jobs.<name>`` entry for jobs that run on the cluster.

Parse the flags; validate everything before Ray starts (bad input exits 2
with one line on stderr and never touches the cluster); attach to the
cluster (``--address``, default ``auto``: the cluster a Ray job runs in);
run; print exactly one JSON object on stdout: the report's ``to_json()``
(every job has the same shape: a frozen ``*Request`` from the flags, a
``plan_*`` step that validates before Ray and returns a frozen ``*Plan``,
and a run step that returns a frozen ``*Report`` with ``to_json()``). An InputError raised while
running (no CPU free for the job's work, see :mod:`jobs.resources`) also
exits 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Protocol, Sequence

from raytrader.errors import InputError

__all__ = ["run_job_main", "JobReport"]


class JobReport(Protocol):
    """What a job's run step returns: a frozen report whose ``to_json()`` is the job's one JSON object."""

    def to_json(self) -> dict[str, Any]: ...


def run_job_main(name: str, doc: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                 prepare: Callable[[argparse.Namespace], Any], run: Callable[[Any], JobReport | dict[str, Any]],
                 argv: Sequence[str] | None = None) -> int:
    """``prepare(args)`` validates without Ray and returns the plan ``run`` needs; ``run`` returns the report
    (or, for the jobs not yet on the shape, the JSON object itself)."""
    from raytrader.cli import CommandParser  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    parser = CommandParser(prog=f"python -m jobs.{name}", description=doc.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--address", default="auto", help="Ray address (default auto: the cluster of this job)")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = parser.parse_args(argv)
    try:
        prepared = prepare(args)
    except InputError as exc:
        sys.stderr.write(f"jobs.{name}: error: {' '.join(str(exc).split())}\n")
        return 2
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from strategies.user import SHIPPED_ENV, shipping_runtime_env  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    # run by hand (not as a Ray job that already ships them): the user's strategy files go to the workers
    runtime_env = None if os.environ.get(SHIPPED_ENV) else shipping_runtime_env()
    ray.init(address=args.address, log_to_driver=False, runtime_env=runtime_env)
    record = _start_record(name, argv)
    try:
        report = run(prepared)
        result = report if isinstance(report, dict) else report.to_json()
    except InputError as exc:  # e.g. no CPU free for the job's tasks (jobs.resources names the holders)
        _end_record(record, error=str(exc))
        sys.stderr.write(f"jobs.{name}: error: {' '.join(str(exc).split())}\n")
        return 2
    except BaseException as exc:
        _end_record(record, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        ray.shutdown()
    _end_record(record, result=result)
    sys.stdout.write(json.dumps(result, allow_nan=False) + "\n")
    return 0


def _start_record(name: str, argv: Sequence[str] | None) -> Any:
    """A ``running`` run record in the config's run folder (``raytrader runs``), for the kinds it lists.

    Best effort: a job whose run folder cannot be written still runs.
    """
    import shlex  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from raytrader.runs import KINDS, start_record  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    if name not in KINDS:
        return None
    try:
        from raytrader.config import load_config  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        home = load_config().cluster.home
        words = list(sys.argv[1:] if argv is None else argv)
        return home, start_record(home, name, f"python -m jobs.{name} {shlex.join(words)}".strip())
    except (OSError, InputError):
        return None


def _end_record(record: Any, *, result: dict[str, Any] | None = None, error: str = "") -> None:
    from raytrader.runs import fail_record, finish_record  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    if record is None:
        return
    home, started = record
    try:
        if result is not None:
            finish_record(home, started, result)
        else:
            fail_record(home, started, error)
    except (OSError, ValueError):
        pass
