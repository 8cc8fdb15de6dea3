"""``raytrader data``: bundled samples, the Parquet store, importing, validating, resampling, downloading.

Commands:

* ``data list`` - bundled samples and store entries.
* ``data import FILE [--symbol S] [--timeframe TF] [--venue V] [--columns MAP] [--mode merge|replace]``
  - validate a CSV/Parquet/Feather file and write it into the store.
* ``data validate FILE [--timeframe TF] [--columns MAP] [--kind auto|ohlcv|trades|funding]`` - check a
  file; exit status 2 and the broken rule (``--json``: ``ok``, ``rule``, ``rows``)
  when a rule is broken (``no_rows`` for a header-only file).
* ``data resample --symbol S --timeframe TF --to TF2 [--venue V]`` - aggregate a
  stored series into a coarser stored series.

Files are read as they come (``market.io``): without a timeframe in the file
or ``--timeframe``, it is inferred from the timestamps and said.
* ``data download --exchange ID --symbol S --timeframe TF --since DATE [--until DATE]
  [--api-url URL] [--venue NAME]`` - fetch through ccxt into the store.

Dates are ISO-8601 in UTC (``2024-01-01``, ``2024-01-01T12:00``,
``2024-01-01T12:00:00Z``; a naive time means UTC) or epoch milliseconds.
The store root is ``config.data.store``. The ``market`` imports are inside
the handlers so that ``raytrader --help`` stays fast.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from raytrader.cli import Output, add_command, add_group
from market.errors import DataValidationError, InputError

__all__ = ["register", "parse_utc_ms", "format_ms"]


# ----------------------------------------------------------------------------- helpers
def parse_utc_ms(value: str, flag: str) -> int:
    """UTC epoch ms from an ISO-8601 date/time (naive = UTC) or from epoch ms digits.

    Raises :class:`InputError` naming ``flag`` for anything else.
    """
    text = (value or "").strip()
    if text.isdigit():
        from market.validate import MAX_MS, MIN_MS  # noqa: PLC0415 - pandas loads only when an epoch-ms date is given

        ms = int(text)
        if not MIN_MS <= ms < MAX_MS:
            raise InputError(f"{flag} {value!r}: epoch milliseconds expected between 1973 and 2100")
        return ms
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} {value!r} is not an ISO-8601 UTC date such as 2024-01-01 or 2024-01-01T12:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(round(parsed.timestamp() * 1000))


def format_ms(ms: int | None) -> str:
    """``2024-01-01T00:00:00Z`` for epoch ms (``-`` for None)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _store(config: Any):
    from market.store import ParquetStore  # noqa: PLC0415 - late: keeps the CLI and --help fast

    root = getattr(getattr(config, "data", None), "store", None)
    if root is None or str(root) in ("", "."):
        raise InputError("no data store configured: set [data] store in raytrader.toml or RAYTRADER_DATA__STORE")
    return ParquetStore(Path(root))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _report_dict(report: Any) -> dict[str, Any]:
    data = report.to_dict()
    data["start"] = format_ms(report.start_ms)
    data["end"] = format_ms(report.end_ms)
    return data


def _gaps_text(report: Any, limit: int = 5) -> list[str]:
    if not report.n_gaps:
        return ["gaps: none"]
    lines = [f"gaps: {report.n_gaps} ({report.n_missing} missing bars, reported, not filled)"]
    for g in report.gaps[:limit]:
        lines.append(f"  after {format_ms(g.after_ms)}  before {format_ms(g.before_ms)}  missing {g.missing_bars}")
    if report.n_gaps > limit:
        lines.append(f"  ... {report.n_gaps - limit} more (--json for all)")
    return lines


# ----------------------------------------------------------------------------- handlers
def _list(args: argparse.Namespace, config: Any) -> Output:
    from market.samples import list_samples  # noqa: PLC0415 - late: keeps the CLI and --help fast

    samples = list_samples()
    store = _store(config)
    entries = store.entries()
    data = {
        "samples": [dict(s.to_dict(), start=format_ms(s.start_ms), end=format_ms(s.end_ms)) for s in samples],
        "store": [dict(e.to_dict(), start=format_ms(e.start_ms), end=format_ms(e.end_ms)) for e in entries],
        "store_root": str(store.root),
    }
    text = [
        "bundled samples:",
        _table(["NAME", "KIND", "SYMBOL", "TF", "VENUE", "ROWS", "START", "END"], [
            [s.name, s.kind, s.symbol, s.timeframe or "-", s.venue, str(s.rows), format_ms(s.start_ms), format_ms(s.end_ms)]
            for s in samples
        ]),
        "",
        f"store ({store.root}):",
    ]
    if entries:
        text.append(_table(["VENUE", "SYMBOL", "TF", "ROWS", "START", "END"], [
            [e.venue, e.symbol, e.timeframe, str(e.rows), format_ms(e.start_ms), format_ms(e.end_ms)] for e in entries
        ]))
    else:
        text.append("  (empty: add data with `raytrader data import` or `raytrader data download`)")
    return Output(data=data, text="\n".join(text))


def _write_result(bars: Any, report: Any, path: Path, store: Any, mode: str, source: str) -> Output:
    stored = next((e for e in store.entries() if e.path == path), None)
    data = {
        "source": source, "venue": bars.venue, "symbol": bars.symbol, "timeframe": bars.timeframe, "mode": mode,
        "rows": len(bars), "start_ms": bars.start_ms, "end_ms": bars.end_ms,
        "start": format_ms(bars.start_ms), "end": format_ms(bars.end_ms),
        "n_gaps": report.n_gaps, "n_missing": report.n_missing,
        "gaps": [[g.after_ms, g.before_ms, g.missing_bars] for g in report.gaps],
        "path": str(path), "stored_rows": stored.rows if stored else len(bars),
    }
    data["timeframe_source"] = report.timeframe_source
    text = [
        f"wrote {len(bars)} {bars.timeframe} bars of {bars.symbol} ({bars.venue}) from {source}",
        *([f"timeframe {bars.timeframe} inferred from the timestamps (--timeframe overrides)"]
          if report.timeframe_source == "inferred" else []),
        f"range: {format_ms(bars.start_ms)} .. {format_ms(bars.end_ms)}",
        *_gaps_text(report),
        f"store entry now holds {data['stored_rows']} rows ({mode})",
        f"path: {path}",
    ]
    return Output(data=data, text="\n".join(text))


def _columns(args: argparse.Namespace) -> dict[str, str] | None:
    from market.io import parse_columns  # noqa: PLC0415 - late: keeps the CLI and --help fast

    return parse_columns(args.columns) if args.columns else None


def _import(args: argparse.Namespace, config: Any) -> Output:
    from market.io import bars_from_table, read_table  # noqa: PLC0415 - late: keeps the CLI and --help fast

    frame, meta = read_table(args.file, _columns(args))
    symbol = args.symbol or meta.get("symbol")
    if not symbol:
        raise InputError(f"{args.file}: the file does not name its symbol; pass --symbol (e.g. --symbol BTC/USDT)")
    venue = args.venue or meta.get("venue") or "binance"
    bars, report = bars_from_table(frame, meta, str(args.file), symbol=symbol, timeframe=args.timeframe, venue=venue)
    store = _store(config)
    path = store.write(bars, mode=args.mode)
    return _write_result(bars, report, path, store, args.mode, str(args.file))


def _detect_kind(columns: list[str]) -> str:
    names = {str(c).strip().lower() for c in columns}
    if {"side", "price", "amount"} <= names:
        return "trades"
    if "funding_rate" in names:
        return "funding"
    return "ohlcv"


def _validate(args: argparse.Namespace, config: Any) -> Output:
    from market.io import bars_from_table, read_table, require_rows  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.validate import validate_funding, validate_trades  # noqa: PLC0415 - late: keeps the CLI and --help fast

    source = str(args.file)
    frame, meta = read_table(args.file, _columns(args))
    kind = args.kind if args.kind != "auto" else _detect_kind(list(frame.columns))
    try:
        require_rows(frame, source)
        if kind == "trades":
            report = validate_trades(frame, source=source)
        elif kind == "funding":
            report = validate_funding(frame, source=source)
        else:
            report = bars_from_table(frame, meta, source, timeframe=args.timeframe)[1]
    except DataValidationError as exc:
        data = {"ok": False, "source": source, "kind": kind, "rule": exc.rule, "rows": list(exc.rows),
                "n_rows_at_fault": exc.n_rows, "message": str(exc)}
        hint = " (rows count from 0 at the first data row; in a CSV, line = row + 2)" if exc.rows else ""
        return Output(data=data, text=f"INVALID {source}: {exc}{hint}", exit_code=2)
    data = {"ok": True, "kind": kind, **_report_dict(report)}
    text = [f"OK {source}: {kind}, {report.n_rows} rows, {format_ms(report.start_ms)} .. {format_ms(report.end_ms)}"]
    if kind == "ohlcv":
        text[0] += f", timeframe {report.timeframe}" + (" (inferred)" if report.timeframe_source == "inferred" else "")
        text += _gaps_text(report)
    return Output(data=data, text="\n".join(text))


def _resample(args: argparse.Namespace, config: Any) -> Output:
    from market.resample import resample  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.validate import validate_bars  # noqa: PLC0415 - late: keeps the CLI and --help fast

    store = _store(config)
    entry = store.find(args.symbol, args.timeframe, args.venue)
    source = store.read(entry.venue, entry.symbol, entry.timeframe)
    out = resample(source, args.to)
    report = validate_bars(out, source=f"{entry.venue} {entry.symbol} {args.to} (from {source.timeframe})")
    path = store.write(out, mode=args.mode)
    origin = f"{entry.venue} {entry.symbol} {source.timeframe} ({len(source)} bars)"
    return _write_result(out, report, path, store, args.mode, origin)


def _download(args: argparse.Namespace, config: Any) -> Output:
    from cluster.progress import progress_bar  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.download import download_ohlcv  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.timeframe import parse_timeframe  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.validate import validate_bars  # noqa: PLC0415 - late: keeps the CLI and --help fast

    since = parse_utc_ms(args.since, "--since")
    until = parse_utc_ms(args.until, "--until") if args.until else None
    if until is not None and until <= since:
        raise InputError(f"--until {args.until} must be after --since {args.since}")
    timeframe = parse_timeframe(args.timeframe).text
    store = _store(config)  # fail on a bad config before the network
    label = f"{args.exchange} {args.symbol} {timeframe}"
    with progress_bar(f"download {label}", None, enabled=not args.json) as update:
        bars = download_ohlcv(
            args.exchange, args.symbol, timeframe, since, until_ms=until, api_url=args.api_url,
            limit=args.limit, on_progress=update,
        )
    if args.venue:
        bars = bars.with_meta(venue=args.venue)
    report = validate_bars(bars, source=label)
    path = store.write(bars, mode=args.mode)
    source = f"{args.exchange}" + (f" via {args.api_url}" if args.api_url else "")
    return _write_result(bars, report, path, store, args.mode, source)


# ----------------------------------------------------------------------------- parser
def register(sub: argparse._SubParsersAction) -> None:
    """Add ``raytrader data ...`` to the command line."""
    group = add_group(sub, "data", "market data: bundled samples, the Parquet store, import, validate, resample, download")

    add_command(group, "list", _list, "list bundled samples and stored series")

    p = add_command(group, "import", _import, "validate a CSV/Parquet/Feather bar file and write it into the store")
    p.add_argument("file", type=Path, help="bar file (.csv, .parquet, .feather)")
    p.add_argument("--symbol", help="unified symbol, e.g. BTC/USDT (default: the file's metadata or yfinance ticker)")
    p.add_argument("--timeframe", help="bar timeframe, e.g. 1m, 5m, 1h, 1d (default: the file's metadata, else "
                                       "inferred from the timestamps)")
    p.add_argument("--venue", help="venue name (default: the file's metadata, else binance)")
    p.add_argument("--columns", metavar="NAME=COLUMN,...",
                   help="map the file's column names, e.g. --columns timestamp=Date,close='Adj Close'")
    p.add_argument("--mode", choices=("merge", "replace"), default="merge",
                   help="merge: union with stored rows, new rows win (default); replace: drop stored rows")

    p = add_command(group, "validate", _validate, "check a bar/trades file against the data rules (exit 2 when one breaks)")
    p.add_argument("file", type=Path, help="file to check (.csv, .parquet, .feather)")
    p.add_argument("--timeframe", help="bar timeframe, e.g. 1m (default: the file's metadata, else inferred from "
                                       "the timestamps)")
    p.add_argument("--columns", metavar="NAME=COLUMN,...",
                   help="map the file's column names, e.g. --columns timestamp=Date,close='Adj Close'")
    p.add_argument("--kind", choices=("auto", "ohlcv", "trades", "funding"), default="auto",
                   help="what the file holds (default: guessed from its columns)")

    p = add_command(group, "resample", _resample, "aggregate a stored series into a coarser stored series")
    p.add_argument("--symbol", required=True, help="symbol of the stored series, e.g. BTC/USDT")
    p.add_argument("--timeframe", help="timeframe of the stored series, e.g. 1m (needed when it has several)")
    p.add_argument("--venue", help="venue of the stored series (needed when several venues hold it)")
    p.add_argument("--to", required=True, help="target timeframe, a whole multiple, e.g. 1h")
    p.add_argument("--mode", choices=("merge", "replace"), default="merge", help="how to write the result (default merge)")

    p = add_command(group, "download", _download, "download bars through ccxt into the store")
    p.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
    p.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
    p.add_argument("--timeframe", required=True, help="bar timeframe, e.g. 1h")
    p.add_argument("--since", required=True, help="first bar open time, ISO-8601 UTC (e.g. 2024-01-01) or epoch ms")
    p.add_argument("--until", help="stop before this time, ISO-8601 UTC or epoch ms (default: the last closed bar)")
    p.add_argument("--api-url", help="send API calls here instead of the exchange, e.g. http://127.0.0.1:8000 (emulator)")
    p.add_argument("--venue", help="store under this venue name (default: the exchange id)")
    p.add_argument("--limit", type=int, default=1000, help="bars per request (default 1000, Binance's maximum)")
    p.add_argument("--mode", choices=("merge", "replace"), default="merge", help="how to write into the store (default merge)")
