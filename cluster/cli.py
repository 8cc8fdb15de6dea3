"""The ``raytrader`` command line.

Conventions every command follows:

* ``--help`` on every command and sub-command.
* ``--json`` prints exactly one JSON object on stdout (nothing else goes to
  stdout; progress bars and logs go to stderr).
* Bad arguments and bad input exit with status 2 and a one-line reason on
  stderr (``raytrader <command>: error: <reason>``).
* Long work shows a progress bar on stderr (rich), hidden under ``--json``
  when stderr is not a terminal.

A command module in ``cluster/commands/`` exposes ``register(subparsers)``;
it adds its parser(s) and sets ``handler=<function(args, config) -> Output>``
with ``parser.set_defaults``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Sequence

from raytrader.cli import CommandParser, Output, add_command, add_group
from raytrader.errors import InputError

__all__ = ["Output", "main", "build_parser", "CommandParser", "add_command", "add_group"]

#: command modules, in the order their commands appear in ``--help``
COMMAND_MODULES = (
    "cluster.commands.lifecycle",
    "cluster.commands.join",
    "cluster.commands.demo",
    "cluster.commands.data",
    "cluster.commands.backtest",
    "cluster.commands.exchange",
    "cluster.commands.keys",
    "cluster.commands.sweep",
    "cluster.commands.train_rl",
    "cluster.commands.optimize",
    "cluster.commands.serve",
    "cluster.commands.tokens",
    "cluster.commands.strategy",
    "cluster.commands.risk",
    "cluster.commands.audit",
    "cluster.commands.execution",
    "cluster.commands.paper",
    "cluster.commands.trade",
    "cluster.commands.portfolio",
    "cluster.commands.order",
    "cluster.commands.runs",
    "cluster.commands.report",
)


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="raytrader",
        description="raytrader: trading research and execution on a local Ray cluster.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: $RAYTRADER_CONFIG or ./raytrader.toml)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CommandParser)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def _emit(output: Output, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(output.data, default=str, allow_nan=False) + "\n")
    elif output.text:
        sys.stdout.write(output.text.rstrip("\n") + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``raytrader`` console script; returns the exit status."""
    from raytrader.config import load_config  # noqa: PLC0415 - late: keeps --help fast
    from cluster.lifecycle import ClusterError  # noqa: PLC0415 - deferred: keeps this module cheap to import
    from cluster.rayenv import use_token_auth  # noqa: PLC0415 - deferred: keeps this module cheap to import

    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return 2
    use_token_auth()
    try:
        config = load_config(args.config)
        if args.config:  # the user strategy loader reads the config itself: tell it which file's folder to use
            os.environ.setdefault("RAYTRADER_STRATEGIES__PATH", str(config.strategies.path))
        from cluster.commands.runs import recording  # noqa: PLC0415 - deferred: keeps this module cheap to import

        with recording(args, config, list(sys.argv[1:] if argv is None else argv)) as recorded:
            output = handler(args, config)
            recorded(output)
    except InputError as exc:
        sys.stderr.write(f"raytrader: error: {' '.join(str(exc).split())}\n")
        return 2
    except ClusterError as exc:
        sys.stderr.write(f"raytrader: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("raytrader: interrupted\n")
        return 130
    if not output.already_printed:
        _emit(output, getattr(args, "json", False))
    return output.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
