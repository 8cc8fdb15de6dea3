"""Posted bars and parameters: every refusal names the field at fault (pure, no Ray, no Redis)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from api.errors import FieldError
from api.schemas import BarsIn, BatchRequest, SignalRequest, field_path, infer_timeframe, to_bars
from tests.api.conftest import bars_payload


def _bars(**changes: object) -> BarsIn:
    payload = bars_payload(5)
    payload.update(changes)
    return BarsIn(**payload)


def test_valid_payload_becomes_bars() -> None:
    payload = bars_payload(50)
    bars = to_bars(BarsIn(**payload, timeframe="1m"))
    assert len(bars) == 50 and bars.timeframe == "1m"
    assert bars.close.tolist() == payload["close"]
    assert bars.timestamp.tolist() == payload["timestamp"]


@pytest.mark.parametrize("changes, field", [
    ({"close": [1.0, 1.0]}, "bars.close"),                                                   # unequal lengths
    ({"timestamp": [1_699_999_980_000, 1_700_000_040_000, 1_700_000_040_000,
                    1_700_000_160_000, 1_700_000_220_000]}, "bars.timestamp[2]"),             # repeated
    ({"timestamp": [1_700_000_000_000, 1_700_000_060_000, 1_700_000_030_000,
                    1_700_000_180_000, 1_700_000_240_000]}, "bars.timestamp[2]"),             # backwards
    ({"high": [200.0, 200.0, 200.0, 1.0, 200.0]}, "bars.high[3]"),                            # high < max(o, c)
    ({"low": [1.0, 1.0, 500.0, 1.0, 1.0]}, "bars.low[2]"),                                    # low > min(o, c)
    ({"volume": [1.0, 1.0, 1.0, 1.0, -1.0]}, "bars.volume[4]"),
    ({"open": [1.0, -5.0, 1.0, 1.0, 1.0]}, "bars.open[1]"),                                   # price <= 0
    ({"timeframe": "7x"}, "bars.timeframe"),
    ({"timeframe": "5m"}, "bars.timestamp[1]"),                                               # off the 5m spacing
    ({"timestamp": [1_700_000_000_500, 1_700_000_060_500, 1_700_000_120_500,
                    1_700_000_180_500, 1_700_000_240_500]}, "bars.timestamp[0]"),             # not whole seconds
])
def test_market_rule_errors_name_the_field_and_row(changes: dict, field: str) -> None:
    with pytest.raises(FieldError) as err:
        to_bars(_bars(**changes))
    assert err.value.field == field
    assert str(err.value).startswith(field + ":")


@pytest.mark.parametrize("bad, loc", [
    ({"bars": {**bars_payload(3), "close": [1.0, float("nan"), 1.0]}}, "bars.close[1]"),
    ({"bars": {**bars_payload(3), "high": [1.0, float("inf"), 1.0]}}, "bars.high[1]"),
    ({"bars": {**bars_payload(3), "open": ["1", 1.0, 1.0]}}, "bars.open[0]"),                 # strings refused
    ({"bars": {**bars_payload(3), "timestamp": [1.5, 2, 3]}}, "bars.timestamp[0]"),
    ({"bars": {**bars_payload(3), "timestamp": [-1, 2, 3]}}, "bars.timestamp[0]"),
    ({"bars": {**bars_payload(3), "extra": [1]}}, "bars.extra"),
    ({"bars": bars_payload(3), "params": {"fast": [1]}}, "params.fast"),
    ({"params": {}}, "bars"),
])
def test_schema_errors_carry_the_json_path(bad: dict, loc: str) -> None:
    with pytest.raises(ValidationError) as err:
        SignalRequest.model_validate(bad)
    assert field_path(err.value.errors()[0]["loc"]) == loc


def test_batch_paths_and_limits() -> None:
    good = {"symbol": "A", "bars": bars_payload(3)}
    bad = {"symbol": "B", "bars": {**bars_payload(3), "close": [1.0, 2.0, float("nan")]}}
    with pytest.raises(ValidationError) as err:
        BatchRequest.model_validate({"items": [good, bad]})
    assert field_path(err.value.errors()[0]["loc"]) == "items[1].bars.close[2]"
    with pytest.raises(ValidationError):
        BatchRequest.model_validate({"items": []})
    with pytest.raises(ValidationError):
        BatchRequest.model_validate({"items": [good] * 101})


def test_field_path_form() -> None:
    assert field_path(("body", "items", 2, "bars", "close", 17)) == "items[2].bars.close[17]"
    assert field_path(("body",)) == "body"
    assert field_path(("path", "strategy")) == "strategy"


# ----------------------------------------------------------------------------- inferred timeframe
def _ts(step_ms: int, n: int = 20, start_ms: int = 1_699_999_980_000) -> list[int]:
    return [start_ms + i * step_ms for i in range(n)]


@pytest.mark.parametrize("timestamps, expected", [
    (_ts(60_000), "1m"),
    (_ts(300_000, start_ms=1_700_000_100_000), "5m"),
    (_ts(3_600_000, start_ms=1_699_999_200_000), "1h"),
    (_ts(86_400_000, start_ms=1_699_920_000_000), "1d"),
    (_ts(604_800_000, start_ms=1_699_833_600_000), "1w"),                       # Mondays 00:00 UTC
    (_ts(60_000)[:10] + [t + 180_000 for t in _ts(60_000)[10:]], "1m"),       # a gap keeps the mode
    (_ts(1_000), "1s"),
    (_ts(2_000), "1s"),                                                        # 2 s is no usual timeframe
    (_ts(60_000, start_ms=1_700_000_041_000), "1s"),                           # minute spacing, off the minute grid
    (_ts(60_000)[:10] + [t + 30_000 for t in _ts(60_000)[10:]], "1s"),        # one delta not a whole minute
    (_ts(604_800_000, start_ms=1_700_006_400_000), "1s"),                      # weekly spacing from a Thursday
    (_ts(60_000)[::-1], "1s"), (_ts(60_000, n=1), "1s"), ([5, 5, 5], "1s"),
])
def test_timeframe_is_inferred_from_the_spacing(timestamps: list[int], expected: str) -> None:
    assert infer_timeframe(np.asarray(timestamps, dtype=np.int64)) == expected


def test_bars_without_timeframe_take_the_inferred_one_and_validate_as_with_1s() -> None:
    payload = bars_payload(50)
    assert to_bars(BarsIn(**payload)).timeframe == "1m"
    five = bars_payload(50, start_ms=1_700_000_100_000, step_ms=300_000)
    assert to_bars(BarsIn(**five)).timeframe == "5m"
    # the inferred grid never changes which series pass: the same refusals as an explicit 1s
    bad = [
        {"timestamp": _ts(60_000, n=50)[:25] + [t + 30_500 for t in _ts(60_000, n=50)[25:]]},
        {"timestamp": _ts(60_000, n=50, start_ms=1_700_000_040_500)},
        {"timestamp": _ts(60_000, n=50)[::-1]},
    ]
    for changes in bad:
        changed = {**payload, **changes}
        with pytest.raises(FieldError) as inferred:
            to_bars(BarsIn(**changed))
        with pytest.raises(FieldError) as explicit:
            to_bars(BarsIn(**changed, timeframe="1s"))
        assert (inferred.value.field, str(inferred.value)) == (explicit.value.field, str(explicit.value))
    irregular = {**payload, "timestamp": [1_699_999_980_000 + i * 60_000 + (i % 3) * 1_000 for i in range(50)]}
    assert to_bars(BarsIn(**irregular)).timeframe == "1s"                     # fits 1s only: still accepted
