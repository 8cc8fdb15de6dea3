"""``GET /v1/reports/{id}`` (scope ``read``): the HTML report of a recorded run.

``id`` is a run id as ``raytrader runs`` lists it (``<kind>-YYYYmmdd-HHMMSS-<4 hex>``); anything else is
422 naming ``id`` (so no path can be smuggled in). The report is the file ``raytrader report ID`` wrote
under ``<cluster.home>/reports/``; for a sweep, walk-forward or Monte Carlo run without one, and for a
paper session whose record keeps the copy of its journal (:mod:`jobs.paper_record`), it is drawn here from
the recorded result (and kept there for the next request). Otherwise 404 saying why: no such
run, or a run whose report needs the command (``raytrader report ID`` runs a backtest again, which the
API does not). The page is self-contained HTML (plotly.js inlined).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse

from api.errors import ApiError
from api.guard import requires
from api.routes.signals import bearer
from api.schemas import ErrorResponse

__all__ = ["router", "RUN_ID", "DRAWN_HERE"]

#: a run id (see :func:`raytrader.runs.new_run_id`)
RUN_ID = re.compile(r"^[a-z][a-z_]*-\d{8}-\d{6}-[0-9a-f]{4}$")
#: kinds of run whose report is drawn from the recorded result alone
DRAWN_HERE = ("sweep", "walkforward", "montecarlo", "paper")

router = APIRouter(prefix="/v1/reports", tags=["reports"], dependencies=[Depends(bearer)],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 404, 422, 429)})


@lru_cache(maxsize=1)
def _home() -> FsPath:
    from raytrader.config import load_config  # noqa: PLC0415 - the config is read on the first report request

    return load_config().cluster.home


def _draw(record: dict[str, Any]) -> str:
    """The report of a recorded sweep, walk-forward, Monte Carlo or paper run (CPU work: runs in a thread)."""
    from backtest import report  # noqa: PLC0415 - plotly loads on the first report drawn

    result = record["result"]
    if record["kind"] == "sweep":
        import pandas as pd  # noqa: PLC0415 - only for a sweep's results table

        path = result.get("results_path")
        return report.sweep_report(result, pd.read_parquet(path) if path and os.path.isfile(path) else None)
    if record["kind"] == "walkforward":
        return report.walkforward_report(result)
    if record["kind"] == "paper":
        return report.paper_report(result.get("result") or result, result["journal"])
    return report.montecarlo_report(result)


def _save(path: FsPath, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@router.get("/{run_id}", response_class=HTMLResponse, summary="the HTML report of a recorded run",
            responses={200: {"content": {"text/html": {}}, "description": "a self-contained HTML page"}})
@requires("read")
async def report(run_id: str = Path(max_length=80, description="a run id from `raytrader runs`")) -> HTMLResponse:
    if not RUN_ID.match(run_id):
        raise ApiError(422, f"id: {run_id[:80]!r} is not a run id (like sweep-20261201-094322-ac87)", "id")
    home = _home()
    page = home / "reports" / f"{run_id}.html"
    if page.is_file():
        return HTMLResponse(await asyncio.to_thread(page.read_text, encoding="utf-8"))
    try:
        record = json.loads((home / "runs" / f"{run_id}.json").read_text())
    except FileNotFoundError:
        raise ApiError(404, f"id: no run {run_id} (see `raytrader runs`)", "id") from None
    except (OSError, ValueError):
        raise ApiError(404, f"id: the record of run {run_id} cannot be read", "id") from None
    kind = record.get("kind") if isinstance(record, dict) else None
    if not isinstance(record, dict) or record.get("status") != "ok" or not isinstance(record.get("result"), dict):
        raise ApiError(404, f"id: run {run_id} has no result to draw (status {record.get('status')!r})"
                       if isinstance(record, dict) else f"id: the record of run {run_id} cannot be read", "id")
    if kind not in DRAWN_HERE or (kind == "paper" and not isinstance(record["result"].get("journal"), dict)):
        raise ApiError(404, f"id: no report of {kind} run {run_id} yet; write it with `raytrader report {run_id}`",
                       "id")
    try:
        text = await asyncio.to_thread(_draw, record)
    except Exception as exc:  # noqa: BLE001 - a record this version cannot draw is not found, never a 500
        raise ApiError(404, f"id: run {run_id} cannot be drawn ({type(exc).__name__})", "id") from None
    try:
        await asyncio.to_thread(_save, page, text)
    except OSError:
        pass  # served all the same; drawn again next time
    return HTMLResponse(text)
