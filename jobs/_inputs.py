"""Inputs every research job shares: where the bars come from, and ``-p name=value`` parameters.

Used by ``jobs.backtest``, ``jobs.sweep``, ``jobs.walkforward`` and
``jobs.montecarlo`` (and so by their ``raytrader`` commands).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from market.errors import InputError

__all__ = ["DEFAULT_SAMPLE", "parse_param", "add_data_arguments", "load_bars"]

#: the bundled sample used when neither --data nor --sample is given
DEFAULT_SAMPLE = "ETH-BTC-5m"


def parse_param(text: str) -> tuple[str, str]:
    """``"fast=10"`` -> ``("fast", "10")``; an argparse ``type`` (bad text exits 2 naming it)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"parameter {text!r} must look like name=value")
    return name.strip(), value.strip()


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


def load_bars(data: str = "", sample: str = "", symbol: str | None = None, timeframe: str | None = None):  # noqa: ANN201
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
