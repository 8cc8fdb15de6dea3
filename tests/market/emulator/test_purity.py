"""House rule: the emulator core is pure (no ray, no I/O, no wall clock); only the server does I/O."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import market.emulator as emulator

PURE = ("errors", "accounts", "book", "matching", "replay", "venue", "client")
FORBIDDEN = {"ray", "aiohttp", "asyncio", "socket", "threading", "time", "urllib", "requests", "http", "ccxt"}


@pytest.mark.parametrize("module", PURE)
def test_core_modules_import_nothing_that_does_io(module: str) -> None:
    path = Path(emulator.__file__).parent / f"{module}.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"market.emulator.{module} imports {sorted(imported & FORBIDDEN)}"
    assert importlib.import_module(f"market.emulator.{module}").__all__


def test_public_surface_is_declared() -> None:
    for name in emulator.__all__:
        assert hasattr(emulator, name), name
