"""``raytrader runs`` lists past runs; ``raytrader runs show ID`` prints one again.

Every ``backtest``, ``sweep``, ``walkforward``, ``montecarlo``, ``optimize``
and ``paper`` run is recorded under ``<cluster.home>/runs/`` (see
:mod:`raytrader.runs`): :func:`recording` wraps the command's handler in
``cluster.cli.main``, writes a ``running`` record first and then ``ok``
with the result, or ``failed`` with the reason (a failure that exits 2 is
recorded too: the list says why the run did not happen). A paper session's
record also keeps ``journal``: a copy of what its report draws from the
session's journal stream (:func:`cluster.commands.report.paper_journal`:
equity per bar, execution quality), so ``raytrader report RUN`` draws it
after the stream is gone; when the stream cannot be read as the run ends,
``journal_error`` says why and the report reads the stream later.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from raytrader.cli import Output, add_command
from raytrader.config import Config
from raytrader.errors import InputError
from raytrader.runs import KINDS, RunRecord, fail_record, finish_record, headline, list_records, load_record, \
    start_record

__all__ = ["register", "recording", "format_runs", "format_run", "RECORDED"]

#: the command handlers whose runs are recorded, and the kind of run each makes (a parser may also
#: ``set_defaults(record=KIND)``)
RECORDED: dict[tuple[str, str], str] = {
    ("cluster.commands.backtest", "_backtest"): "backtest",
    ("cluster.commands.sweep", "_sweep"): "sweep",
    ("cluster.commands.sweep", "_walkforward"): "walkforward",
    ("cluster.commands.sweep", "_montecarlo"): "montecarlo",
    ("cluster.commands.optimize", "_optimize"): "optimize",
    ("cluster.commands.paper", "_paper"): "paper",
}


@contextmanager
def recording(args: argparse.Namespace, config: Config,
              argv: list[str] | None = None) -> Iterator[Callable[[Output], None]]:
    """Record the run of a command in :data:`RECORDED`; yields ``done(output)``.

    Other commands are not recorded. An exception is recorded as a failure and re-raised.
    A record that cannot be written (read-only run folder) never fails the command.
    """
    handler = getattr(args, "handler", None)
    kind = getattr(args, "record", None) or RECORDED.get(
        (getattr(handler, "__module__", ""), getattr(handler, "__name__", "")))
    if kind is None:
        yield lambda output: None
        return
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        record: RunRecord | None = start_record(config.cluster.home, kind, "raytrader " + shlex.join(words))
    except OSError:
        record = None

    def done(output: Output) -> None:
        if record is None:
            return
        try:
            if output.exit_code == 0:
                finish_record(config.cluster.home, record, _kept(kind, output.data, config))
            else:
                fail_record(config.cluster.home, record, f"exit status {output.exit_code}")
        except (OSError, ValueError):
            pass

    try:
        yield done
    except KeyboardInterrupt:
        if record is not None:
            fail_record(config.cluster.home, record, "interrupted")
        raise
    except Exception as exc:
        if record is not None:
            reason = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
            try:
                fail_record(config.cluster.home, record, reason)
            except OSError:
                pass
        raise


def _kept(kind: str, data: dict[str, Any], config: Config) -> dict[str, Any]:
    """What the record keeps of a finished run: its JSON; for a paper session also the copy of its journal."""
    if kind != "paper":
        return data
    from cluster.commands.report import paper_journal  # noqa: PLC0415 - only when a paper session is recorded

    try:
        return {**data, "journal": paper_journal(config, data, "record")}
    except Exception as exc:  # noqa: BLE001 - a copy that cannot be taken never fails the run; the record says why
        return {**data, "journal_error": f"{type(exc).__name__}: {exc}"[:500]}


def _where(record: RunRecord) -> str:
    """The folder of a run's files (its run folder, else the folder of its first file)."""
    files = record.files
    if files.get("run_dir"):
        return files["run_dir"]
    first = next(iter(files.values()), "")
    return first


def format_runs(records: list[RunRecord], folder: str) -> str:
    """Two lines per run: id, status, start, wall seconds and the key numbers; then where its files are."""
    if not records:
        return f"no runs recorded yet in {folder}"
    width = max(len(r.id) for r in records)
    lines = [f"{'id':{width}s}  {'status':7s} {'started (UTC)':20s} {'seconds':>7s}  key numbers"]
    for r in records:
        secs = f"{r.seconds:7.1f}" if r.seconds is not None else f"{'':7s}"
        text = headline(r)
        lines.append(f"{r.id:{width}s}  {r.status:7s} {r.started:20s} {secs}  "
                     f"{text if len(text) <= 110 else text[:107] + '...'}")
        if _where(r):
            lines.append(f"{'':{width}s}  files {_where(r)}")
    lines.append(f"{len(records)} run(s); records in {folder}; `raytrader runs show ID` prints one again")
    return "\n".join(lines)


def _formatter(kind: str) -> Callable[[dict[str, Any]], str] | None:
    """The formatter of the command that made a run of ``kind`` (imported only for the kind shown)."""
    if kind in ("sweep", "walkforward", "montecarlo"):
        from cluster.commands import sweep  # noqa: PLC0415 - only for the kind shown

        return {"sweep": sweep.format_sweep, "walkforward": sweep.format_walkforward,
                "montecarlo": sweep.format_montecarlo}[kind]
    if kind == "backtest":
        from cluster.commands.backtest import format_result  # noqa: PLC0415 - only for the kind shown

        return format_result
    if kind == "optimize":
        from cluster.commands.optimize import format_result as format_optimize  # noqa: PLC0415 - only for the kind shown

        return format_optimize
    if kind == "paper":
        from cluster.commands.paper import format_paper  # noqa: PLC0415 - only for the kind shown

        return lambda result: format_paper(result.get("result") or result)
    return None


def format_run(record: RunRecord) -> str:
    """A record for people: what ran, how it ended, its files, then its result as the command printed it."""
    lines = [f"run {record.id}: {record.kind} {record.status.upper()}",
             f"  started {record.started}" + (f", ended {record.ended} ({record.seconds:.1f} s)" if record.ended else ""),
             f"  command {record.command}"]
    if record.error:
        lines.append(f"  error   {record.error}")
    for name, path in record.files.items():
        lines.append(f"  {name:12s} {path}")
    kept = (record.result or {}).get("journal")
    if isinstance(kept, dict):
        lines.append(f"  {'journal':12s} copy of {kept.get('stream')}: {kept.get('entries')} entries, "
                     f"{kept.get('fills')} fills (what `raytrader report {record.id}` draws)")
    elif (record.result or {}).get("journal_error"):
        lines.append(f"  {'journal':12s} no copy kept: {record.result['journal_error']}")
    formatter = _formatter(record.kind)
    if record.result is not None and formatter is not None:
        try:
            lines += ["", formatter(record.result)]
        except (KeyError, TypeError, ValueError):  # a record written by an older version: show the numbers
            lines += ["", headline(record)]
    elif record.status == "ok":
        lines += ["", headline(record)]
    return "\n".join(lines)


def _runs(args: argparse.Namespace, config: Config) -> Output:
    home = config.cluster.home
    words = list(args.words)
    if not words:
        records = list_records(home, kind=args.kind, limit=args.limit)
        folder = str(home / "runs")
        return Output(data={"runs": [{k: v for k, v in r.to_json().items() if k != "result"} for r in records],
                            "folder": folder},
                      text=format_runs(records, folder))
    if words[0] != "show" or len(words) != 2:
        raise InputError(f"runs: expected `raytrader runs` or `raytrader runs show ID`, got {' '.join(words)!r}")
    record = load_record(home, words[1])
    return Output(data=record.to_json(), text=format_run(record))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "runs", _runs, "list past runs (backtest, sweep, walk-forward, Monte Carlo, optimize, "
                                        "paper); `runs show ID` prints one again")
    p.add_argument("words", nargs="*", metavar="show ID", help="show one run (an id or a unique prefix of one)")
    p.add_argument("--kind", choices=KINDS, help="only runs of this kind")
    p.add_argument("--limit", type=int, default=20, help="newest N runs (default 20; 0 = all)")
