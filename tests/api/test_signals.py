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
def bars():
    return to_bars(BarsIn(**bars_payload(400, seed=3)))


@pytest.mark.parametrize("name", [n for n in list_strategies() if not get_strategy(n).multi_asset])
def test_position_equals_the_strategy_run_on_the_same_bars(name: str, bars) -> None:
    record = get_strategy(name)
    expected = record.run(bars, {})
    signal = compute_signal(name, bars, {})
    assert signal.position == float(expected[-1])
    assert signal.bar_timestamp == int(bars.timestamp[-1])
    assert signal.params == record.defaults()


def test_positions_follow_the_series_bar_by_bar(bars) -> None:
    expected = get_strategy("sma_cross").run(bars, {"fast": 5, "slow": 20})
    got = [compute_signal("sma_cross", bars.take(slice(0, t + 1)), {"fast": 5, "slow": 20}).position
           for t in range(20, len(bars))]
    assert got == expected[20:].tolist()
    assert {0.0, 1.0} <= set(got)  # the series does cross: both states are exercised


def test_indicators_are_the_moving_averages_at_the_last_bar(bars) -> None:
    s = compute_signal("sma_cross", bars, {"fast": 7, "slow": 25})
    assert s.indicators["sma_fast"] == pytest.approx(sma(bars.close, 7)[-1], rel=1e-12)
    assert s.indicators["sma_slow"] == pytest.approx(sma(bars.close, 25)[-1], rel=1e-12)
    e = compute_signal("ema_cross", bars, {"fast": 5, "slow": 20})
    assert e.indicators == {"ema_fast": ema(bars.close, 5)[-1], "ema_slow": ema(bars.close, 20)[-1]}
    assert compute_signal("rsi_reversion", bars, {}).indicators == {}


def test_bar_time_is_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def test_input_errors_are_named(bars) -> None:
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


# ----------------------------------------------------------------------------- inferred timeframe, body reading
@pytest.mark.parametrize("name", ["sma_cross", "mtf_trend"])
def test_signal_without_timeframe_equals_the_signal_on_the_inferred_one(name: str) -> None:
    payload = bars_payload(400, seed=3)
    params = {"htf": 5, "trend": 10} if name == "mtf_trend" else {}
    inferred = compute_signal(name, to_bars(BarsIn(**payload)), params)
    explicit = compute_signal(name, to_bars(BarsIn(**payload, timeframe="1m")), params)
    assert inferred == explicit


def _request(body: bytes, content_type: str | None = "application/json"):
    from starlette.requests import Request

    headers = [(b"content-type", content_type.encode())] if content_type else []
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive)


def _read(body: bytes, content_type: str | None = "application/json"):
    import asyncio

    from api.body import read_model
    from api.schemas import SignalRequest

    return asyncio.run(read_model(_request(body, content_type), SignalRequest))


def test_body_is_read_with_the_fast_parser_and_errors_match_fastapi() -> None:
    import json

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    payload = bars_payload(40)
    model = _read(json.dumps({"bars": payload, "params": {"fast": 5}}).encode(), "application/json; charset=utf-8")
    assert list(model.bars.close) == payload["close"]
    assert model.params == {"fast": 5}

    def error(body: bytes, content_type: str | None = "application/json") -> tuple[str, tuple, str]:
        with pytest.raises(RequestValidationError) as caught:
            _read(body, content_type)
        first = caught.value.errors()[0]
        return first["type"], tuple(first["loc"]), first["msg"]

    assert error(b"") == ("missing", ("body",), "Field required")
    assert error(b'{"bars": ')[0:2] == ("json_invalid", ("body", 9))
    assert error(b"[]") == ("model_attributes_type", ("body",), "Input should be a valid dictionary or object to extract fields from")
    assert error(json.dumps({"bars": payload}).encode(), "text/plain")[:2] == ("model_attributes_type", ("body",))
    assert error(json.dumps({"bars": payload}).encode(), None)[:2] == ("model_attributes_type", ("body",))
    nan = json.dumps({"bars": {**payload, "close": [float("nan")] + payload["close"][1:]}}).encode()
    assert error(nan)[:2] == ("finite_number", ("body", "bars", "close", 0))
    with pytest.raises(HTTPException) as undecodable:
        _read(b'{"bars": "\xff"}')
    assert undecodable.value.status_code == 400
