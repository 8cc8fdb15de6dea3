"""Inputs every research job shares: where the bars come from, and ``-p name=value`` parameters.

Used by ``jobs.backtest``, ``jobs.sweep``, ``jobs.walkforward``,
``jobs.montecarlo`` and ``jobs.optimize_portfolio``, and directly by the
``raytrader`` commands (``cluster.commands``): public for that reason.

Where the bars come from (:func:`data_fields`, then :func:`load_request_bars`
or :func:`load_request_series`):

* ``--data FILE`` - the user's own file, read as it comes (``market.io``):
  the symbol from ``--symbol`` (several files: the ``--symbol`` values in
  the same order), else the file's metadata, else the file name (``AAPL.csv``
  -> ``AAPL``); the timeframe from ``--timeframe``, else the file, else
  inferred from the timestamps and said on stderr; ``--columns`` maps
  column names (``timestamp=Date,close=Adj Close``).
* ``--sample NAME`` - a bundled sample.
* ``--symbol S [--timeframe TF] [--venue V]`` alone - the series stored
  under that key in the data store (``raytrader data list``).
* nothing - the default sample.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from raytrader.errors import InputError

__all__ = ["DEFAULT_SAMPLE", "MAX_SEED", "SeriesRequest", "UniqueParams", "parse_param", "parse_seed", "add_data_arguments", "add_strategy_arguments",
           "load_bars", "data_fields", "load_request_bars", "load_request_series", "parse_columns_arg",
           "describe_source", "file_symbol"]

#: the bundled sample used when neither --data nor --sample is given
DEFAULT_SAMPLE = "ETH-BTC-5m"


#: the largest seed accepted: numpy's SeedSequence, Qiskit and Optuna all take 0 .. 2**32 - 1
MAX_SEED = 2**32 - 1


def _short(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters for an error message (a 5,000-digit value stays one short line)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_param(text: str) -> tuple[str, str]:
    """``"fast=10"`` -> ``("fast", "10")``; an argparse ``type`` (bad text exits 2 naming it)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"parameter {_short(text)!r} must look like name=value")
    return name.strip(), value.strip()


def parse_seed(text: str) -> int:
    """An argparse ``type`` for ``--seed``: an integer in ``0 .. MAX_SEED`` (bad text exits 2 naming it)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed {_short(text)!r} must be an integer 0..{MAX_SEED}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {_short(text)} must be in 0..{MAX_SEED}")
    return value


class UniqueParams(argparse.Action):
    """``-p NAME=VALUE`` appended to a list; the same NAME twice is refused (exit 2, "given twice")."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        pairs = list(getattr(namespace, self.dest, None) or [])
        name, value = values  # type: ignore[misc]
        if any(n == name for n, _ in pairs):
            parser.error(f"argument {option_string}: parameter {_short(name)} given twice")
        pairs.append((name, value))
        setattr(namespace, self.dest, pairs)


def parse_columns_arg(text: str) -> tuple[tuple[str, str], ...]:
    """An argparse ``type`` for ``--columns timestamp=Date,close=Adj Close`` (bad text exits 2 naming it)."""
    from market.io import parse_columns  # noqa: PLC0415 - keeps --help fast

    try:
        return tuple(parse_columns(text).items())
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_data_arguments(parser: argparse.ArgumentParser, *, multi: bool = False) -> None:
    """``--data FILE | --sample NAME``, ``--symbol``/``--timeframe``/``--venue``/``--columns``.

    ``multi=True`` makes ``--data``, ``--sample`` and ``--symbol`` repeatable
    (lists, for multi-asset strategies); otherwise each is one string or None.
    """
    src = parser.add_mutually_exclusive_group()
    more = "; repeat it for several series (multi-asset strategies)" if multi else ""
    action = "append" if multi else "store"
    src.add_argument("--data", metavar="FILE", action=action,
                     help=f"bars file (CSV, Parquet or Feather; Yahoo Finance and pandas layouts read as they come){more}")
    src.add_argument("--sample", metavar="NAME", action=action,
                     help=f"bundled sample (see `raytrader data list`); default {DEFAULT_SAMPLE}{more}")
    order = ", in the order of --data" if multi else ""
    parser.add_argument("--symbol", action=action,
                        help=f"symbol of --data (default: the file's metadata, else its name{order}); without "
                             "--data/--sample: read this symbol from the data store (e.g. BTC/USDT)")
    parser.add_argument("--timeframe", help="timeframe of --data (default: the file's metadata, else inferred from "
                                            "the timestamps), or of the stored series (e.g. 1h)")
    parser.add_argument("--venue", help="venue of the stored series when several hold --symbol")
    parser.add_argument("--columns", type=parse_columns_arg, default=(), metavar="NAME=COLUMN,...",
                        help="map the file's column names, e.g. --columns timestamp=Date,close='Adj Close'")


@dataclass(frozen=True, kw_only=True)
class SeriesRequest:
    """What every one-series research request names (the sweep, walk-forward and Monte Carlo requests extend it):
    the strategy, where its bars come from (exactly one of ``data``, a file, and ``sample``, a bundled sample; or
    ``symbol`` alone, a stored series: see :func:`data_fields`), and how it trades: ``fees_bps`` per side in
    basis points of notional, ``fill`` at the next bar's ``"open"`` or this bar's ``"close"``, starting ``cash``
    in the quote currency."""

    strategy: str = "sma_cross"
    data: str = ""
    sample: str = ""
    symbol: str | None = None  # of a --data file; alone: a stored series
    timeframe: str | None = None
    venue: str | None = None  # of a stored series
    columns: tuple[tuple[str, str], ...] = ()  # --columns: (name, file column) pairs
    fees_bps: float = 10.0
    fill: str = "open"
    cash: float = 10_000.0


def data_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The data source of parsed flags as request fields: ``data``, ``sample``, ``symbol``, ``timeframe``,
    ``venue``, ``columns``. The default sample applies only when no file, sample or stored symbol is named."""
    def pack(value: Any) -> Any:
        if isinstance(value, list):
            return value[0] if len(value) == 1 else tuple(value)
        return value or ""

    data, sample, symbol = pack(args.data), pack(args.sample), args.symbol
    if isinstance(symbol, list):
        symbol = symbol[0] if len(symbol) == 1 else tuple(symbol)
    if not data and not sample and not symbol:
        sample = DEFAULT_SAMPLE
    return {"data": data, "sample": sample, "symbol": symbol, "timeframe": args.timeframe,
            "venue": getattr(args, "venue", None), "columns": tuple(getattr(args, "columns", ()) or ())}


def add_strategy_arguments(parser: argparse.ArgumentParser, *, axes: str, cash_help: str = "") -> None:
    """``--strategy``, its parameters, and ``--fees-bps``/``--fill``/``--cash``: what every research job trades.

    ``axes="param"`` adds ``-p NAME=VALUE`` (one configuration, into
    ``args.params`` as ``(name, value)`` pairs); ``axes="grid"`` adds
    ``-g NAME=SPEC`` (grid axes, into ``args.grid``). Fees are bps of
    notional per side; cash is in quote currency.
    """
    parser.add_argument("--strategy", default="sma_cross", help="registered strategy (default sma_cross)")
    if axes == "param":
        parser.add_argument("-p", "--param", dest="params", action=UniqueParams, type=parse_param, default=[],
                            metavar="NAME=VALUE", help="strategy parameter, repeatable (e.g. -p fast=10 -p slow=30)")
    elif axes == "grid":
        parser.add_argument("-g", "--grid", dest="grid", action="append", default=[], metavar="NAME=SPEC",
                            help="grid axis, repeatable: name=start:stop:step (stop inclusive), name=v1,v2 or "
                                 "name=v; parameters without an axis keep their default")
    else:
        raise ValueError(f"axes must be 'param' or 'grid', not {axes!r}")
    parser.add_argument("--fees-bps", type=float, default=10.0, help="fee in bps of notional, each side (default 10)")
    parser.add_argument("--fill", choices=("open", "close"), default="open",
                        help="open: signal on bar t's close fills at bar t+1's open (default); close: at bar t's close")
    parser.add_argument("--cash", type=float, default=10_000.0, help=cash_help or "starting cash (default 10000)")
    parser.add_argument("--periods-per-year", type=float, default=None, metavar="N",
                        help="bars per year for Sharpe, Sortino and volatility (default: measured from the "
                             "timestamps, e.g. ~252 for daily stocks, 365.25 for daily crypto)")


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v]


def file_symbol(path: Path) -> str:
    """``AAPL.csv.gz`` -> ``AAPL``: the file name without its bar-file extension."""
    from market.io import BAR_FILE_SUFFIXES  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    name = path.name
    suffix = next((s for s in sorted(BAR_FILE_SUFFIXES, key=len, reverse=True) if name.lower().endswith(s)), "")
    return name[: len(name) - len(suffix)] if suffix else path.stem


def _read_file(data: str, symbol: str | None, timeframe: str | None, columns: Sequence[tuple[str, str]]):
    from market.io import read_bars  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    path = Path(data)
    if not path.is_file():
        raise InputError(f"--data {data}: no such file")
    bars, report = read_bars(path, symbol=symbol or None, timeframe=timeframe, columns=dict(columns) or None)
    if not bars.symbol:
        bars = bars.with_meta(symbol=file_symbol(path))
    if report.timeframe_source == "inferred":
        sys.stderr.write(f"{data}: timeframe {bars.timeframe} inferred from the timestamps "
                         f"({len(bars)} bars, {report.n_gaps} gaps); --timeframe overrides\n")
    return bars


def _read_store(symbol: str, timeframe: str | None, venue: str | None):
    """The stored series of ``symbol`` (and ``timeframe``/``venue`` when given; exactly one must match)."""
    from market.store import ParquetStore  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from raytrader.config import load_config  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    store = ParquetStore(load_config().data.store)
    entry = store.find(symbol, timeframe, venue)
    return store.read(entry.venue, entry.symbol, entry.timeframe)


def load_bars(data: str = "", sample: str = "", symbol: str | None = None, timeframe: str | None = None, *,
              columns: Sequence[tuple[str, str]] = (), venue: str | None = None):
    """``market.bars.Bars`` from a file (``data``), a bundled sample (``sample``) or the data store
    (``symbol`` alone), validated; the default sample when none is named. See the module docstring.

    Raises:
        InputError: no such file, unknown sample or stored series, or a data rule broken (the row and rule named).
    """
    if data:
        return _read_file(data, symbol, timeframe, columns)
    if sample:
        from market.samples import load_sample  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        return load_sample(sample)
    if symbol:
        return _read_store(symbol, timeframe, venue)
    from market.samples import load_sample  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    return load_sample(DEFAULT_SAMPLE)


def load_request_bars(request: Any):
    """One series from a job request's data fields (see :func:`data_fields`)."""
    datas, samples, symbols = _names(request.data), _names(request.sample), _names(request.symbol)
    if len(datas) + len(samples) > 1 or len(symbols) > 1:
        raise InputError("--data/--sample/--symbol: this command takes one series")
    return load_bars(datas[0] if datas else "", samples[0] if samples else "", symbols[0] if symbols else None,
                     request.timeframe, columns=getattr(request, "columns", ()), venue=getattr(request, "venue", None))


def load_request_series(request: Any) -> list:
    """Several series (multi-asset strategies): every ``--data`` file, then every ``--sample``, or the
    stored series of every ``--symbol``. The i-th ``--symbol`` names the i-th ``--data`` file."""
    datas, samples, symbols = _names(request.data), _names(request.sample), _names(request.symbol)
    columns, timeframe = getattr(request, "columns", ()), request.timeframe
    if not datas and not samples:
        return [load_bars("", "", s, timeframe, venue=getattr(request, "venue", None)) for s in symbols]
    if symbols and len(symbols) != len(datas):
        raise InputError(f"--symbol: given {len(symbols)} time(s) for {len(datas)} --data file(s); "
                         "give one per file, in the same order, or none (the file names are used)")
    files = [load_bars(d, "", symbols[i] if symbols else None, timeframe, columns=columns) for i, d in enumerate(datas)]
    return files + [load_bars("", s) for s in samples]


def describe_source(request: Any) -> str:
    """Where a request's bars come from, for results: the file(s), ``sample:NAME`` or ``store:SYMBOL``."""
    datas, samples, symbols = _names(request.data), _names(request.sample), _names(request.symbol)
    if datas or samples:
        parts = datas + [f"sample:{s}" for s in samples]
        return parts[0] if len(parts) == 1 else ", ".join(parts)
    tf = f" {request.timeframe}" if request.timeframe else ""
    return ", ".join(f"store:{s}{tf}" for s in symbols) or f"sample:{DEFAULT_SAMPLE}"
