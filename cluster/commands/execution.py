"""``raytrader execution report [--stream STREAM | --run RUN] [--report FILE] [--json]``: execution quality from the journal.

Reads a trading journal in the running cluster's Redis (``--stream``, default
the deployment's; ``--run``: the journal of a recorded run whose result names
its ``journal_stream``, such as a paper session) and prints, per venue, per
order type, per strategy, per algorithm (``none`` for orders without a
parent) and in total: the
orders sent, the mean fill ratio, the fill-weighted implementation shortfall
against the arrival price (bps, fees included, positive = worse), the fees in
the quote currency, and the median times from the decision to the venue's ack
and to the first and last fill (:mod:`jobs.execution_report`, numbers from
:mod:`actors.execution_quality`); then one line per parent order (route,
TWAP, iceberg: all its children against the parent's arrival price). It says whether the journal's chain
verified and changes nothing. Exit 2 with one line when the run or the stream
has nothing to report from. ``--report FILE`` also writes it as a self-contained HTML page (tables and
charts: :func:`backtest.report.execution_report_html`).
"""

from __future__ import annotations

import argparse
from typing import Any

from actors.journal import DEFAULT_STREAM, Journal
from cluster.commands.report import add_report_flag
from cluster.commands.tokens import redis_client
from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from raytrader.errors import InputError

__all__ = ["register", "ExecutionInputError"]


class ExecutionInputError(InputError):
    """The run or journal stream to report on is unknown or empty (the message names it)."""


def _stream(args: argparse.Namespace, config: Config) -> str:
    if not args.run:
        return str(args.stream)
    from raytrader.runs import load_record  # noqa: PLC0415 - only with --run

    record = load_record(config.cluster.home, args.run)
    result = record.result or {}
    stream = result.get("journal_stream") or (result.get("result") or {}).get("journal_stream")  # paper: the job's
    if not stream:
        raise ExecutionInputError(f"run {record.id} ({record.kind}): its record names no journal_stream; "
                                  "give the journal with --stream")
    return str(stream)


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def _bps(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}"


def _line(key: str, row: dict[str, Any]) -> list[str]:
    return [key, str(row["orders"]), f"{row['fill_ratio']:.3f}", _bps(row["shortfall_bps"]), f"{row['fees']:.6g}",
            _ms(row["median_ack_ms"]), _ms(row["median_first_fill_ms"]), _ms(row["median_last_fill_ms"])]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *rows]]


def _report(args: argparse.Namespace, config: Config) -> Output:
    from jobs.execution_report import execution_report  # noqa: PLC0415 - loads the actors package; keeps `raytrader --help` fast

    stream = _stream(args, config)
    journal = Journal(redis_client(config), stream)
    verified = journal.verify()
    entries = list(journal.entries())
    if not entries:
        raise ExecutionInputError(f"journal {stream}: no entries (is --stream the session's journal?)")
    report = execution_report(entries)
    broken = verified.first_broken
    chain = "chain verified" if broken is None else f"chain BROKEN at entry {broken.stream_id} (seq {broken.seq})"
    data = {"stream": stream, "chain_ok": broken is None, **report.to_json()}
    lines = [f"execution quality of journal {stream}: {report.orders} orders sent ({chain}); shortfall in bps of "
             "the arrival price (fees included, + = worse), times in ms from the decision"]
    if report.orders:
        header = ["", "orders", "fill ratio", "shortfall bps", "fees (quote)", "ack ms", "1st fill ms",
                  "last fill ms"]
        rows = [_line(f"venue {r['venue']}", r) for r in report.by_venue]
        rows += [_line(f"type {r['order_type']}", r) for r in report.by_order_type]
        rows += [_line(f"strategy {r['strategy']}", r) for r in report.by_strategy]
        rows += [_line(f"algo {r['algo']}", r) for r in report.by_algo]
        rows.append(_line("total", report.total))
        lines += _table(header, rows)
    if report.by_parent:
        lines.append("parent orders (all children against the parent's arrival price):")
        header = ["parent", "algo", "venues", "children", "filled", "fill ratio", "shortfall bps", "fees (quote)",
                  "1st fill ms", "last fill ms"]
        rows = [[r["parent_id"], r["algo"], ",".join(r["venues"]), str(r["children"]), f"{r['filled']:g}",
                 f"{r['fill_ratio']:.3f}", _bps(r["shortfall_bps"]), f"{r['fees']:.6g}", _ms(r["first_fill_ms"]),
                 _ms(r["last_fill_ms"])] for r in report.by_parent]
        lines += _table(header, rows)
    left = [f"{n} {what}" for n, what in ((report.denied, "denied by risk (never sent)"),
                                          (report.rejected, "refused by the venue or proved absent (never stood)"),
                                          (report.no_arrival, "without an arrival price (hand-made market orders)"),
                                          (report.fees_unvalued, "fees in a third asset (left out)")) if n]
    if left:
        lines.append("not counted: " + "; ".join(left))
    return Output(data=data, text="\n".join(lines))


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "execution", "execution quality of the trading journal (arrival price, shortfall, fill "
                      "ratio, ack and fill times) per venue and strategy")
    p = add_command(group, "report", _report, "execution quality per venue, per strategy and in total, from the "
                    "journal")
    add_report_flag(p, "execution")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stream", default=DEFAULT_STREAM, help=f"journal stream name (default {DEFAULT_STREAM})")
    where.add_argument("--run", default=None, metavar="RUN", help="a recorded run whose result names its journal")
