"""The emulator's public surface. Its purity rule (no ray, no I/O, no clock in the core modules) is an
import-linter contract in ``pyproject.toml``, checked by ``tests/test_architecture.py``."""

from __future__ import annotations

import market.emulator as emulator


def test_public_surface_is_declared() -> None:
    for name in emulator.__all__:
        assert hasattr(emulator, name), name
