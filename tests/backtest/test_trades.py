import json

import pytest

from backtest.errors import TradeFieldError
from backtest.trades import Trade, ms_to_iso, trade_to_json

JAN10_0005 = 1_515_542_700_000  # 2018-01-10T00:05:00Z


def _trade(**overrides):
    fields = dict(
        entry_time=JAN10_0005,
        exit_time=JAN10_0005 + 3_600_000,
        entry_price=0.1,
        exit_price=0.11,
        side="long",
        units=10.0,
        pnl=0.09,
        return_pct=9.0,
    )
    fields.update(overrides)
    return Trade(**fields)


def test_json_has_iso_utc_times():
    out = trade_to_json(_trade())
    assert out["entry_time"] == "2018-01-10T00:05:00Z"
    assert out["exit_time"] == "2018-01-10T01:05:00Z"
    assert out["side"] == "long" and out["units"] == 10.0 and out["return_pct"] == 9.0


def test_open_trade_serialises_exit_as_null():
    out = trade_to_json(_trade(exit_time=None, exit_price=None))
    text = json.dumps(out)
    assert '"exit_time": null' in text and '"exit_price": null' in text


def test_milliseconds_are_kept_when_present():
    assert ms_to_iso(JAN10_0005 + 123) == "2018-01-10T00:05:00.123Z"
    assert ms_to_iso(0) == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"side": "up"}, "side"),
        ({"exit_price": None}, "exit_time/exit_price"),
        ({"units": 0.0}, "units"),
        ({"exit_time": JAN10_0005 - 1}, "exit_time"),
    ],
)
def test_inconsistent_trades_are_rejected(overrides, field):
    with pytest.raises(TradeFieldError, match=rf"^{field}"):
        _trade(**overrides)
