from __future__ import annotations

import pytest

from raytrader.errors import InputError
from market.timeframe import floor_to_grid, is_aligned, parse_timeframe, timeframe_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [("1s", 1_000), ("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000), ("4h", 14_400_000),
     ("1d", 86_400_000), ("3d", 259_200_000), ("1w", 604_800_000)],
)
def test_timeframe_ms(text: str, ms: int) -> None:
    assert timeframe_ms(text) == ms


@pytest.mark.parametrize("bad", ["", "m", "5", "0m", "-1m", "1M", "1y", "5min", "1.5h", "01m", "1 m", "1H", None, 5])
def test_bad_timeframes_name_the_value(bad: object) -> None:
    with pytest.raises(InputError) as info:
        timeframe_ms(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)


def test_month_is_not_read_as_minutes() -> None:
    with pytest.raises(InputError, match="months"):
        parse_timeframe("1M")


def test_week_grid_starts_monday_like_binance() -> None:
    # Binance's BTC/USDT weekly klines open on Mondays, e.g. 2017-08-14T00:00Z (ms below)
    monday = 1_502_668_800_000
    assert is_aligned(monday, "1w")
    assert not is_aligned(0, "1w")  # 1970-01-01 was a Thursday
    assert floor_to_grid(monday + 3 * 86_400_000, "1w") == monday
    assert parse_timeframe("1w").origin_ms == 4 * 86_400_000


def test_day_and_intraday_grid_is_epoch_based() -> None:
    assert is_aligned(86_400_000 * 19_000, "1d")
    assert not is_aligned(86_400_000 * 19_000 + 60_000, "1d")
    assert floor_to_grid(1_704_067_230_000, "1m") == 1_704_067_200_000
