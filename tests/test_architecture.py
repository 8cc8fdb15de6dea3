"""The house rules, checked on every `make test`.

* The layer contract and the "no ray below actors/api" and "emulator core does
  no I/O" contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and
  are checked by import-linter's ``lint-imports``.
* ``ruff`` (configured in ``pyproject.toml``) must find nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_import_layers_are_kept() -> None:
    res = _run("lint-imports", "--no-cache")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout and "3 kept" in res.stdout, res.stdout[-2000:]


def test_layer_contract_catches_an_upward_import(tmp_path: Path) -> None:
    """The contract can fail: a module in ``market`` that imports ``cluster`` breaks it."""
    probe = REPO / "market" / "_layer_probe_tmp.py"
    probe.write_text("import cluster.cli  # deliberately upward\n")
    try:
        res = _run("lint-imports", "--no-cache")
    finally:
        probe.unlink()
    assert res.returncode != 0 and "market._layer_probe_tmp -> cluster.cli" in res.stdout, res.stdout[-3000:]


def test_ruff_finds_nothing() -> None:
    res = _run("ruff", "check", "--no-cache", ".")
    assert res.returncode == 0, res.stdout[-4000:]
