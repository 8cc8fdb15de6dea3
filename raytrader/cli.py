"""The argument-parser base every command line of the project shares.

:class:`CommandParser` exits 2 with a one-line reason instead of argparse's
usage block; :class:`Output` is what a ``raytrader`` command returns. The
``raytrader`` console script (``cluster.cli``) and the Ray job entrypoints
(``jobs``) both build on these, so they live in the bottom package.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, NoReturn

__all__ = ["Output", "CommandParser", "add_command", "add_group"]


@dataclass(frozen=True)
class Output:
    """What a command returns: ``data`` for ``--json``, ``text`` for people."""

    data: dict[str, Any]
    text: str = ""
    exit_code: int = 0
    #: the command printed its output itself (a server that reports before it blocks)
    already_printed: bool = False


class CommandParser(argparse.ArgumentParser):
    """argparse that exits 2 with a single-line reason instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    handler: Callable[[argparse.Namespace, Any], Output],
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add a command that takes ``--json`` and runs ``handler(args, config)``."""
    parser = sub.add_parser(name, help=help, description=description or help)
    _add_json(parser)
    parser.set_defaults(handler=handler)
    return parser


def add_group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """Add a command group (``raytrader data ...``) and return its sub-parsers."""
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=None, group_parser=parser)
    group = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CommandParser)
    return group
