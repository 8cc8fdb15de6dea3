"""The served signal is the registered strategy's own output at the last bar (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from api.schemas import BarsIn, to_bars
from api.signals import ServedStrategyError, compute_signal, iso_utc
from strategies.errors import InsufficientDataError, ParamError, UnknownStrategyError
from strategies.indicators import ema, sma
from strategies.registry import get_strategy, list_strategies
from tests.api.conftest import bars_payload


@pytest.fixture(scope="module")
def bars():  # noqa: ANN201
    return to_bars(BarsIn(**bars_payload(400, seed=3)))


@pytest.mark.parametrize("name", [n for n in list_strategies() if not get_strategy(n).multi_asset])
def test_position_equals_the_strategy_run_on_the_same_bars(name: str, bars) -> None:  # noqa: ANN001
    record = get_strategy(name)
    expected = record.run(bars, {})
    signal = compute_signal(name, bars, {})
    assert signal.position == float(expected[-1])
    assert signal.bar_timestamp == int(bars.timestamp[-1])
    assert signal.params == record.defaults()


def test_positions_follow_the_series_bar_by_bar(bars) -> None:  # noqa: ANN001
    expected = get_strategy("sma_cross").run(bars, {"fast": 5, "slow": 20})
    got = [compute_signal("sma_cross", bars.take(slice(0, t + 1)), {"fast": 5, "slow": 20}).position
           for t in range(20, len(bars))]
    assert got == expected[20:].tolist()
    assert {0.0, 1.0} <= set(got)  # the series does cross: both states are exercised


def test_indicators_are_the_moving_averages_at_the_last_bar(bars) -> None:  # noqa: ANN001
    s = compute_signal("sma_cross", bars, {"fast": 7, "slow": 25})
    assert s.indicators["sma_fast"] == pytest.approx(sma(bars.close, 7)[-1], rel=1e-12)
    assert s.indicators["sma_slow"] == pytest.approx(sma(bars.close, 25)[-1], rel=1e-12)
    e = compute_signal("ema_cross", bars, {"fast": 5, "slow": 20})
    assert e.indicators == {"ema_fast": ema(bars.close, 5)[-1], "ema_slow": ema(bars.close, 20)[-1]}
    assert compute_signal("rsi_reversion", bars, {}).indicators == {}


def test_bar_time_is_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def test_input_errors_are_named(bars) -> None:  # noqa: ANN001
    with pytest.raises(UnknownStrategyError):
        compute_signal("nope", bars, {})
    with pytest.raises(ParamError) as err:
        compute_signal("sma_cross", bars, {"fast": 30, "slow": 10})
    assert "fast < slow" in str(err.value)
    with pytest.raises(ParamError) as err:
        compute_signal("sma_cross", bars, {"speed": 3})
    assert err.value.param == "speed"
    with pytest.raises(InsufficientDataError):
        compute_signal("sma_cross", bars.take(slice(0, 10)), {"fast": 5, "slow": 20})
    with pytest.raises(ServedStrategyError):
        compute_signal("pairs_trading", bars, {})
    assert np.isfinite(compute_signal("sma_cross", bars, {}).position)
