"""``raytrader audit verify | export | ledger | taxlots | attribution | explain``: the trading journal in the
running cluster's Redis.

``verify`` walks the hash chain of the journal stream from its first entry
(see :mod:`actors.journal`) and exits 0 when every entry chains, or 2 with one
line naming the first broken entry (its Redis stream id and the seq it should
have had) and why. ``export`` writes every entry as one row - seq, stream id,
time, kind, schema version, hashes, the payload as JSON, and the payload's
fields flattened into ``payload.<field>`` columns - to Parquet or CSV, and
says whether the chain verified.

``ledger`` writes the trade ledger (:func:`actors.audit_trail.trade_ledger`: every
fill with its order, strategy, signal and risk decision) to CSV or Parquet;
``taxlots`` prints realised gains by tax lot (:mod:`backtest.tax_lots`, FIFO or
average cost) per asset and year; ``attribution`` prints realised + unrealised
PnL and fees by strategy, venue and symbol (:mod:`backtest.attribution`);
``explain ORDER_ID`` tells one order's story from its intent to its last fill,
each step with its journal entry (exit 2 naming the id when no order has it).
Each says whether the journal's chain verified; none changes the journal.
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

__all__ = ["register", "JournalBrokenError", "journal_rows", "parse_marks"]


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


def _chain_note(journal: Journal) -> tuple[bool, str]:
    report = journal.verify()
    broken = report.first_broken
    if broken is None:
        return True, "chain verified"
    return False, f"chain BROKEN at entry {broken.stream_id} (seq {broken.seq})"


def _ledger_rows(journal: Journal) -> list[Any]:
    from actors.audit_trail import trade_ledger  # noqa: PLC0415 - loads ccxt and the backtest package; keeps `raytrader --help` fast

    return trade_ledger(journal.entries())


def _ledger(args: argparse.Namespace, config: Config) -> Output:
    import dataclasses  # noqa: PLC0415 - with pandas below, only this command needs it

    import pandas as pd  # noqa: PLC0415 - only the ledger needs pandas; keeps `raytrader --help` fast

    from actors.audit_trail import LEDGER_COLUMNS  # noqa: PLC0415 - loads ccxt and the backtest package; keeps `raytrader --help` fast

    journal = _journal(args, config)
    ok, chain = _chain_note(journal)
    rows = _ledger_rows(journal)
    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows], columns=list(LEDGER_COLUMNS))
    out = Path(args.out or f"ledger.{args.format}").expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    strategies = sorted({r.strategy for r in rows})
    data = {"stream": args.stream, "path": str(out), "format": args.format, "fills": len(rows),
            "strategies": strategies, "columns": list(frame.columns), "chain_ok": ok}
    return Output(data=data, text=f"wrote {len(rows)} fills of journal {args.stream} to {out} "
                                  f"(strategies: {', '.join(strategies) or 'none'}; {chain})")


def _num(x: float) -> str:
    return f"{x:.10g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *rows]]


def _taxlots(args: argparse.Namespace, config: Config) -> Output:
    import dataclasses  # noqa: PLC0415 - only this command needs it

    from actors.audit_trail import fill_records  # noqa: PLC0415 - loads ccxt and the backtest package; keeps `raytrader --help` fast
    from backtest.tax_lots import realised_gains  # noqa: PLC0415 - loads the backtest package; keeps `raytrader --help` fast

    journal = _journal(args, config)
    ok, chain = _chain_note(journal)
    fills = fill_records(_ledger_rows(journal))
    report = realised_gains(fills, args.method, per_venue=args.per_venue)
    data = {"stream": args.stream, "method": report.method, "per_venue": report.per_venue, "fills": len(fills),
            "chain_ok": ok, "by_year": [dataclasses.asdict(y) for y in report.by_year],
            "open_lots": [dataclasses.asdict(o) for o in report.open_lots],
            "disposals": [dataclasses.asdict(d) for d in report.disposals], "fees_excluded": report.fees_excluded}
    lines = [f"realised gains by tax lot ({report.method}{', per venue' if report.per_venue else ''}) from journal "
             f"{args.stream}: {len(fills)} fills, {len(report.disposals)} disposals ({chain})"]
    venue = ["venue"] if report.per_venue else []
    lines += _table(["asset", "quote", *venue, "year", "disposals", "quantity", "cost", "proceeds", "gain"],
                    [[y.asset, y.quote, *([y.venue] if report.per_venue else []), str(y.year), str(y.disposals),
                      _num(y.quantity), _num(y.cost), _num(y.proceeds), _num(y.gain)] for y in report.by_year])
    if report.open_lots:
        lines.append("open lots:")
        lines += _table(["asset", "quote", *venue, "position", "quantity", "basis"],
                        [[o.asset, o.quote, *([o.venue] if report.per_venue else []), o.position, _num(o.quantity),
                          _num(o.basis)] for o in report.open_lots])
    if report.fees_excluded:
        lines.append("fees in other currencies, not in the gains: "
                     + ", ".join(f"{_num(x)} {c}" for c, x in report.fees_excluded.items()))
    return Output(data=data, text="\n".join(lines))


def parse_marks(items: list[str]) -> dict[tuple[str, str], float]:
    """``["binance:XRP/ETH=0.0005"]`` -> ``{("binance", "XRP/ETH"): 0.0005}``; :class:`JournalError` naming
    the bad item (or a VENUE:SYMBOL given twice)."""
    import math  # noqa: PLC0415 - only attribution needs it

    from raytrader.params import name_value_pairs  # noqa: PLC0415 - only attribution needs it

    out = {}
    for where, value in name_value_pairs(items, "--mark", JournalError):  # one price per VENUE:SYMBOL
        venue, colon, symbol = where.partition(":")
        try:
            price = float(value)
        except ValueError:
            price = float("nan")
        if not colon or not venue or "/" not in symbol or not math.isfinite(price) or price <= 0:
            raise JournalError(f"--mark {where}={value}: expected VENUE:BASE/QUOTE=PRICE with a price > 0")
        out[(venue, symbol)] = price
    return out


def _attribution(args: argparse.Namespace, config: Config) -> Output:
    import dataclasses  # noqa: PLC0415 - only this command needs it

    from actors.audit_trail import fill_records  # noqa: PLC0415 - loads ccxt and the backtest package; keeps `raytrader --help` fast
    from backtest.attribution import attribute  # noqa: PLC0415 - loads the backtest package; keeps `raytrader --help` fast

    marks = parse_marks(args.mark)
    journal = _journal(args, config)
    ok, chain = _chain_note(journal)
    fills = fill_records(_ledger_rows(journal))
    result = attribute(fills, marks)
    groups = {"strategy": result.by_strategy, "venue": result.by_venue, "symbol": result.by_symbol,
              "total": result.total}
    data = {"stream": args.stream, "fills": len(fills), "chain_ok": ok, "marks": {f"{v}:{s}": p for (v, s), p
                                                                                   in marks.items()},
            "books": [dataclasses.asdict(b) for b in result.books],
            **{f"by_{g}" if g != "total" else g: [dataclasses.asdict(r) for r in rows] for g, rows in groups.items()}}
    lines = [f"attribution from journal {args.stream}: {len(fills)} fills ({chain}); PnL in the quote currency, "
             "marked at the last fill unless --mark"]
    table = []
    for name, rows in groups.items():
        for r in rows:
            fees = ", ".join(f"{_num(x)} {c}" for c, x in r.fees.items()) or "0"
            table.append([name, r.key, r.quote, str(r.fills), _num(r.realized), _num(r.unrealized), _num(r.total),
                          fees, _num(r.net)])
    lines += _table(["by", "key", "quote", "fills", "realized", "unrealized", "total", "fees", "net"], table)
    return Output(data=data, text="\n".join(lines))


def _explain(args: argparse.Namespace, config: Config) -> Output:
    import dataclasses  # noqa: PLC0415 - only this command needs it

    from actors.audit_trail import explain_order  # noqa: PLC0415 - loads ccxt and the backtest package; keeps `raytrader --help` fast
    from backtest.trades import ms_to_iso  # noqa: PLC0415 - loads the backtest package; keeps `raytrader --help` fast

    journal = _journal(args, config)
    ok, chain = _chain_note(journal)
    story = explain_order(journal.entries(), args.order_id)
    data = {"stream": args.stream, "chain_ok": ok, **dataclasses.asdict(story)}
    avg = f" at {_num(story.avg_price)}" if story.avg_price is not None else ""
    lines = [f"order {story.client_order_id} ({story.venue} {story.symbol} {story.side} "
             f"{_num(story.amount) if story.amount is not None else '?'}) in journal {args.stream} ({chain})",
             f"  strategy: {story.strategy}" + (f", bar {ms_to_iso(story.bar_ts_ms)}" if story.bar_ts_ms else ""),
             f"  outcome: {story.state or 'no state change'}, filled {_num(story.filled)}{avg}"]
    if story.context is None and story.strategy not in ("manual", "flatten", "external"):
        lines.append("  (no intent context in the journal: written before schema 2; the signal and sizing are unknown)")
    for e in story.events:
        lines.append(f"  #{e.seq} {e.entry_id} {ms_to_iso(e.ts_ms)} {e.kind}: {e.summary}")
    return Output(data=data, text="\n".join(lines))


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "audit", "the trading journal: verify its hash chain, export it, the trade ledger, tax lots, "
                      "attribution, and why an order was placed")
    p = add_command(group, "verify", _verify, "walk the journal's hash chain; exit 2 naming the first broken entry")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
    p = add_command(group, "export", _export, "write every journal entry as a row to Parquet or CSV")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")
    p.add_argument("--out", default=None, help="output file (default ./journal.<format>)")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
    p = add_command(group, "ledger", _ledger, "write the trade ledger (every fill with its order, strategy, signal "
                    "and risk decision) to CSV or Parquet")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")
    p.add_argument("--out", default=None, help="output file (default ./ledger.<format>)")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
    p = add_command(group, "taxlots", _taxlots, "realised gains by tax lot (FIFO or average cost) per asset and year")
    p.add_argument("--method", choices=("fifo", "average"), default="fifo", help="lot matching (default fifo)")
    p.add_argument("--per-venue", action="store_true", help="keep each venue's lots apart (default: pooled)")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
    p = add_command(group, "attribution", _attribution,
                    "realised + unrealised PnL and fees by strategy, venue and symbol")
    p.add_argument("--mark", action="append", default=[], metavar="VENUE:SYMBOL=PRICE",
                   help="mark price for unrealised PnL (repeatable; default: the last fill price there)")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
    p = add_command(group, "explain", _explain, "one order's story: strategy, bar, signal, sizing, risk decision, "
                    "every state change and fill, with journal entry ids")
    p.add_argument("order_id", metavar="ORDER_ID", help="client order id, venue order id or intent id")
    p.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
