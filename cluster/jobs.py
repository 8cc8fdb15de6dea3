"""Submit a Ray job through the Jobs API, wait for it, and read its JSON result.

The job's result is the last line of its stdout that parses as a JSON
object (every raytrader job prints exactly one). Job metadata carries only
the raytrader command name: never a secret.

The user's own strategy files (``[strategies] path``, see
:mod:`strategies.user`) travel with every job: :func:`submit_and_wait`
adds them to the job's runtime environment as the py_module
``raytrader_user_strategies``, so the job's driver and every task, actor
and Tune trial it starts, on any node, load the same files.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cluster.lifecycle import ClusterError
from cluster.progress import status_spinner

__all__ = ["JobOutcome", "submit_and_wait", "last_json_line", "upload_runtime_env"]

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str
    seconds: float
    job_url: str
    result: dict[str, Any]
    logs: str


def last_json_line(logs: str) -> dict[str, Any] | None:
    """The last stdout line that is a JSON object, or None."""
    for line in reversed(logs.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def upload_runtime_env(dashboard_url: str, runtime_env: dict[str, Any] | None) -> dict[str, Any] | None:
    """``runtime_env`` with its local ``py_modules`` uploaded to the cluster and replaced by ``gcs://`` URIs.

    For the Serve REST API (``raytrader serve up``), which takes no local
    paths: the same upload ``ray job submit`` does for a job, through the
    dashboard. The given dict is not modified.
    """
    if not runtime_env or not runtime_env.get("py_modules"):
        return runtime_env
    from ray.job_submission import JobSubmissionClient  # noqa: PLC0415 - late: keeps the CLI and --help fast

    env = copy.deepcopy(runtime_env)
    JobSubmissionClient(dashboard_url)._upload_py_modules_if_needed(env)  # the Jobs SDK's own upload step
    return env


def submit_and_wait(dashboard_url: str, entrypoint: str, *, name: str, timeout_s: float = 600.0,
                    show_progress: bool = True, runtime_env: dict[str, Any] | None = None) -> JobOutcome:
    """Submit ``entrypoint`` as a Ray job, wait until it ends, return its status and parsed result.

    ``runtime_env`` gets the user's strategy files added (see the module doc).

    Raises:
        ClusterError: the job failed, was stopped, timed out, or printed no JSON result.
    """
    from ray.job_submission import JobSubmissionClient  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from strategies.user import shipping_runtime_env  # noqa: PLC0415 - imports the strategies (numba)

    runtime_env = shipping_runtime_env(runtime_env)
    client = JobSubmissionClient(dashboard_url)
    job_id = f"raytrader-{name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    client.submit_job(entrypoint=entrypoint, submission_id=job_id, runtime_env=runtime_env,
                      metadata={"raytrader": name})
    status = "PENDING"
    with status_spinner(f"Ray job {job_id}", enabled=show_progress) as update:
        while True:
            status = str(client.get_job_status(job_id).value)
            update(status)
            if status in TERMINAL:
                break
            if time.monotonic() - started > timeout_s:
                client.stop_job(job_id)
                raise ClusterError(f"Ray job {job_id} did not finish within {timeout_s:.0f}s; stopped it")
            time.sleep(0.5)
    seconds = time.monotonic() - started
    logs = client.get_job_logs(job_id)
    job_url = f"{dashboard_url}/#/jobs/{job_id}"
    result = last_json_line(logs)
    if status != "SUCCEEDED" or result is None:
        tail = "\n".join(logs.splitlines()[-20:])
        raise ClusterError(f"Ray job {job_id} ended {status}; see {job_url}\n{tail}")
    return JobOutcome(job_id=job_id, status=status, seconds=seconds, job_url=job_url, result=result, logs=logs)
