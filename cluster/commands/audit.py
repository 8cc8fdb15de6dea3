"""``raytrader audit verify | export``: the trading journal in the running cluster's Redis.

``verify`` walks the hash chain of the journal stream from its first entry
(see :mod:`actors.journal`) and exits 0 when every entry chains, or 2 with one
line naming the first broken entry (its Redis stream id and the seq it should
have had) and why. ``export`` writes every entry as one row - seq, stream id,
time, kind, schema version, hashes, the payload as JSON, and the payload's
fields flattened into ``payload.<field>`` columns - to Parquet or CSV, and
says whether the chain verified.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from actors.journal import DEFAULT_STREAM, Journal, JournalEntry, JournalError, encode_payload
from cluster.commands.tokens import redis_client
from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config

__all__ = ["register", "JournalBrokenError", "journal_rows"]


class JournalBrokenError(JournalError):
    """``audit verify`` found an entry that does not chain."""


def _journal(args: argparse.Namespace, config: Config) -> Journal:
    return Journal(redis_client(config), args.stream)


def _verify(args: argparse.Namespace, config: Config) -> Output:
    report = _journal(args, config).verify()
    if report.first_broken is not None:
        broken = report.first_broken
        raise JournalBrokenError(
            f"journal {report.stream}: entry {broken.stream_id} (seq {broken.seq}) is broken: {broken.reason}; "
            f"the {report.entries} entries before it verify")
    data = {"stream": report.stream, "ok": True, "entries": report.entries, "head_hash": report.head_hash}
    text = (f"journal {report.stream}: {report.entries} entries, chain verified, head {report.head_hash[:16]}"
            if report.entries else f"journal {report.stream}: no entries")
    return Output(data=data, text=text)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(f"{prefix}.{key}", item, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def journal_rows(entries: list[JournalEntry]) -> list[dict[str, Any]]:
    """One flat dict per entry: the envelope, ``payload`` (canonical JSON) and ``payload.<field>`` columns."""
    rows = []
    for e in entries:
        payload = encode_payload(e.payload)
        row: dict[str, Any] = {"seq": e.seq, "stream_id": e.stream_id, "ts_ms": e.ts_ms, "kind": e.kind.value,
                               "version": e.version, "prev_hash": e.prev_hash, "hash": e.hash,
                               "payload": json.dumps(payload, sort_keys=True, separators=(",", ":"))}
        _flat("payload", payload, row)
        rows.append(row)
    return rows


def _export(args: argparse.Namespace, config: Config) -> Output:
    import pandas as pd  # noqa: PLC0415 - only export needs pandas; keeps `raytrader --help` fast

    journal = _journal(args, config)
    report = journal.verify()
    frame = pd.DataFrame(journal_rows(list(journal.entries())))
    out = Path(args.out or f"journal.{args.format}").expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    broken = report.first_broken
    chain = "chain verified" if broken is None else f"chain BROKEN at entry {broken.stream_id} (seq {broken.seq})"
    data = {"stream": args.stream, "path": str(out), "format": args.format, "entries": len(frame),
            "columns": list(frame.columns), "chain_ok": broken is None}
    return Output(data=data, text=f"exported {len(frame)} entries of journal {args.stream} to {out} ({chain})")


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "audit", "the trading journal: verify its hash chain, export it for analysis")
    p = add_command(group, "verify", _verify, "walk the journal's hash chain; exit 2 naming the first broken entry")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
    p = add_command(group, "export", _export, "write every journal entry as a row to Parquet or CSV")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")
    p.add_argument("--out", default=None, help="output file (default ./journal.<format>)")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
