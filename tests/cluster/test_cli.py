"""CLI conventions hold for every command: --help, --json, exit 2 with a one-line reason."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from cluster.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found += _commands(sub, (*prefix, name))
    return found


COMMANDS = _commands(build_parser())
GROUPS = {c[:-1] for c in COMMANDS if len(c) > 1}
LEAVES = [c for c in COMMANDS if c not in GROUPS]


def test_the_documented_commands_exist() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in ("up", "down", "status", "demo", "backtest", "data list", "data import", "data download",
                     "exchange serve"):
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: raytrader" in capsys.readouterr().out


@pytest.mark.parametrize("command", LEAVES, ids=lambda c: " ".join(c))
def test_every_leaf_command_takes_json(command: tuple[str, ...]) -> None:
    parser = build_parser()
    sub = parser
    for name in command:
        sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    assert any("--json" in a.option_strings for a in sub._actions), f"{' '.join(command)} has no --json"


@pytest.mark.parametrize("argv", [["frobnicate"], ["up", "--bogus"], ["backtest", "--fees-bps", "ten"],
                                  ["backtest", "-p", "fast"], ["data", "import"]])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "error:" in err and len(err.splitlines()) == 1


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "commands" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    exe = __import__("pathlib").Path(sys.executable).with_name("raytrader")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "up" in proc.stdout and "demo" in proc.stdout


def _usages(parser: argparse.ArgumentParser, command: tuple[str, ...]) -> str:
    for name in command:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser.format_help()


def test_main_builds_only_the_module_of_the_command_and_it_parses_as_the_full_parser() -> None:
    """``main`` registers one command module when the first word names a known command (``COMMAND_OF``): that
    module registers it, and each of its (sub)commands' help is the full parser's, word for word."""
    from cluster.cli import COMMAND_MODULES, COMMAND_OF, command_modules

    full = build_parser()
    for name, module in COMMAND_OF.items():
        assert command_modules([name, "--json"]) == (module,)
        assert command_modules(["--config", "x.toml", name]) == command_modules(["--config=x.toml", name]) == (module,)
        one = build_parser((module,))
        for command in [c for c in COMMANDS if c[0] == name]:
            assert _usages(one, command) == _usages(full, command), command
    assert set(COMMAND_OF.values()) <= set(COMMAND_MODULES)
    for argv in ([], ["--help"], ["frobnicate"], ["--config", "x.toml"]):
        assert command_modules(argv) == COMMAND_MODULES  # the full parser: the list of commands, or the bad word
