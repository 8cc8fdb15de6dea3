"""Fixtures shared by the market tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from market.store import ParquetStore


@pytest.fixture
def store(tmp_path: Path) -> ParquetStore:
    return ParquetStore(tmp_path / "store")
