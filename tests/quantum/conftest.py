"""Shared inputs for the quantum tests: the bundled 20-stock panel, loaded once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def panel():
    from quantum.returns import load_panel

    return load_panel()
