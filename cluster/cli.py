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

__all__ = ["Output", "main", "build_parser", "command_modules", "CommandParser", "add_command", "add_group"]

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


#: command (first word) -> the module of COMMAND_MODULES that registers it, so that ``main`` imports only that
#: module (a command module may import Redis, Ray's job client, rich, ...: ~1 s of imports for all of them).
#: A command missing here still works (``main`` then registers every module); tests/cluster/test_cli.py checks
#: that each entry is registered by its module.
COMMAND_OF = {
    "up": "cluster.commands.lifecycle", "down": "cluster.commands.lifecycle", "status": "cluster.commands.lifecycle",
    "join": "cluster.commands.join", "demo": "cluster.commands.demo", "data": "cluster.commands.data",
    "backtest": "cluster.commands.backtest", "exchange": "cluster.commands.exchange", "keys": "cluster.commands.keys",
    "sweep": "cluster.commands.sweep", "walkforward": "cluster.commands.sweep", "montecarlo": "cluster.commands.sweep",
    "train-rl": "cluster.commands.train_rl", "optimize": "cluster.commands.optimize", "serve": "cluster.commands.serve",
    "tokens": "cluster.commands.tokens", "strategy": "cluster.commands.strategy", "risk": "cluster.commands.risk",
    "audit": "cluster.commands.audit", "execution": "cluster.commands.execution", "paper": "cluster.commands.paper",
    "trade": "cluster.commands.trade", "portfolio": "cluster.commands.portfolio",
    "orders": "cluster.commands.portfolio", "order": "cluster.commands.order", "runs": "cluster.commands.runs",
    "report": "cluster.commands.report",
}


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> CommandParser:
    """The ``raytrader`` parser with the commands of ``modules`` (default: every command)."""
    parser = CommandParser(
        prog="raytrader",
        description="raytrader: trading research and execution on a local Ray cluster.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: $RAYTRADER_CONFIG or ./raytrader.toml)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CommandParser)
    for module_name in modules:
        importlib.import_module(module_name).register(sub)
    return parser


def command_modules(argv: Sequence[str]) -> Sequence[str]:
    """The command modules ``argv`` needs: the one module of a known command (:data:`COMMAND_OF`), else all of
    them (no command, ``--help``, an unknown word: the full parser prints the list or names the bad word)."""
    words = list(argv)
    while words[:1] and words[0].startswith("--config"):
        del words[:1 if "=" in words[0] else 2]
    module = COMMAND_OF.get(words[0]) if words else None
    return (module,) if module in COMMAND_MODULES else COMMAND_MODULES


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

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_modules(argv))
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

        with recording(args, config, argv) as recorded:
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
