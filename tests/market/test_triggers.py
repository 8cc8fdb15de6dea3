"""The shared stop trigger rule (market.triggers): Binance's table, touching, and what a bar concludes."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from market.triggers import DOWN, STOP_LOSS, TAKE_PROFIT, UP, bar_trigger_price, crossed, trigger_direction

# Binance Spot docs: STOP_LOSS SELL and TAKE_PROFIT BUY sit below the market (trigger when the last price
# falls to stopPrice); STOP_LOSS BUY and TAKE_PROFIT SELL sit above it (trigger when it rises to stopPrice).
BINANCE_TABLE = [
    ("SELL", STOP_LOSS, DOWN),
    ("BUY", TAKE_PROFIT, DOWN),
    ("BUY", STOP_LOSS, UP),
    ("SELL", TAKE_PROFIT, UP),
]


@pytest.mark.parametrize(("side", "kind", "direction"), BINANCE_TABLE)
def test_direction_follows_binances_table(side: str, kind: str, direction: int) -> None:
    assert trigger_direction(side, kind) == direction
    assert trigger_direction(side.lower(), kind) == direction


@pytest.mark.parametrize(("side", "kind"), [("HOLD", STOP_LOSS), ("BUY", "trailing"), ("", TAKE_PROFIT)])
def test_unknown_side_or_kind_raises(side: str, kind: str) -> None:
    with pytest.raises(ValueError, match="no trigger rule"):
        trigger_direction(side, kind)


def test_crossed_counts_touching_and_works_on_decimals() -> None:
    level = D("0.00140000")
    assert crossed(DOWN, level, D("0.00140000")) and crossed(DOWN, level, D("0.00139999"))
    assert not crossed(DOWN, level, D("0.00140001"))
    assert crossed(UP, level, D("0.00140000")) and crossed(UP, level, D("0.00140001"))
    assert not crossed(UP, level, D("0.00139999"))
    assert crossed(DOWN, 100.0, 99.5) and not crossed(UP, 100.0, 99.5)


@pytest.mark.parametrize(
    ("direction", "level", "bar", "expected"),
    [
        # (open, high, low): a gap through the level fills at the open
        (DOWN, 100.0, (98.0, 99.0, 97.0), 98.0),
        (DOWN, 100.0, (100.0, 101.0, 99.0), 100.0),  # opening exactly at the level is a trigger at the open
        # the range reaches it: at the level
        (DOWN, 100.0, (102.0, 103.0, 99.5), 100.0),
        (DOWN, 100.0, (102.0, 103.0, 100.0), 100.0),  # the low touching counts
        (DOWN, 100.0, (102.0, 103.0, 100.5), math.nan),
        (UP, 100.0, (101.0, 102.0, 100.5), 101.0),
        (UP, 100.0, (98.0, 100.0, 97.0), 100.0),
        (UP, 100.0, (98.0, 99.9, 97.0), math.nan),
        (UP, math.inf, (98.0, 99.9, 97.0), math.nan),  # "off" levels the engine uses never trigger
        (DOWN, -1.0, (98.0, 99.9, 97.0), math.nan),
    ],
)
def test_bar_trigger_price(direction: int, level: float, bar: tuple[float, float, float], expected: float) -> None:
    got = bar_trigger_price(direction, level, *bar)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected
