"""Inputs every research job shares: where the bars come from, and ``-p name=value`` parameters.

Used by ``jobs.backtest``, ``jobs.sweep``, ``jobs.walkforward`` and
``jobs.montecarlo`` (and so by their ``raytrader`` commands).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from raytrader.errors import InputError

__all__ = ["DEFAULT_SAMPLE", "MAX_SEED", "parse_param", "parse_seed", "add_data_arguments", "add_strategy_arguments",
           "load_bars"]

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


class _UniqueParams(argparse.Action):
    """``-p NAME=VALUE`` appended to a list; the same NAME twice is refused (exit 2, "given twice")."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        pairs = list(getattr(namespace, self.dest, None) or [])
        name, value = values  # type: ignore[misc]
        if any(n == name for n, _ in pairs):
            parser.error(f"argument {option_string}: parameter {_short(name)} given twice")
        pairs.append((name, value))
        setattr(namespace, self.dest, pairs)


def add_data_arguments(parser: argparse.ArgumentParser, *, multi: bool = False) -> None:
    """``--data FILE | --sample NAME`` plus ``--symbol``/``--timeframe`` for files that do not say.

    ``multi=True`` makes ``--data`` and ``--sample`` repeatable (lists, for
    multi-asset strategies); otherwise each is one string or None.
    """
    src = parser.add_mutually_exclusive_group()
    more = "; repeat it for several series (multi-asset strategies)" if multi else ""
    action = "append" if multi else "store"
    src.add_argument("--data", metavar="FILE", action=action, help=f"bars file (CSV, Parquet or Feather){more}")
    src.add_argument("--sample", metavar="NAME", action=action,
                     help=f"bundled sample (see `raytrader data list`); default {DEFAULT_SAMPLE}{more}")
    parser.add_argument("--symbol", help="symbol of --data when the file does not say (e.g. BTC/USDT)")
    parser.add_argument("--timeframe", help="timeframe of --data when the file does not say (e.g. 5m)")


def add_strategy_arguments(parser: argparse.ArgumentParser, *, axes: str, cash_help: str = "") -> None:
    """``--strategy``, its parameters, and ``--fees-bps``/``--fill``/``--cash``: what every research job trades.

    ``axes="param"`` adds ``-p NAME=VALUE`` (one configuration, into
    ``args.params`` as ``(name, value)`` pairs); ``axes="grid"`` adds
    ``-g NAME=SPEC`` (grid axes, into ``args.grid``). Fees are bps of
    notional per side; cash is in quote currency.
    """
    parser.add_argument("--strategy", default="sma_cross", help="registered strategy (default sma_cross)")
    if axes == "param":
        parser.add_argument("-p", "--param", dest="params", action=_UniqueParams, type=parse_param, default=[],
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


def load_bars(data: str = "", sample: str = "", symbol: str | None = None, timeframe: str | None = None):
    """``market.bars.Bars`` from a file (``data``) or a bundled sample (``sample``), validated.

    Raises:
        InputError: no such file, unknown sample, or a data rule broken (the row and rule named).
    """
    if data:
        from market.io import read_bars  # noqa: PLC0415

        if not Path(data).is_file():
            raise InputError(f"--data {data}: no such file")
        return read_bars(Path(data), symbol=symbol, timeframe=timeframe)[0]
    from market.samples import load_sample  # noqa: PLC0415

    return load_sample(sample or DEFAULT_SAMPLE)
