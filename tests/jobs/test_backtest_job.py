"""`jobs.backtest` (and so `raytrader backtest`) across the strategy registry and the engine options."""

from __future__ import annotations

import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from jobs.backtest import BacktestRequest, run_backtest_request
from market.errors import InputError
from strategies.registry import get_strategy, list_strategies

SINGLE = [n for n in list_strategies() if not get_strategy(n).multi_asset]


@pytest.mark.parametrize("name", SINGLE)
def test_every_single_asset_strategy_backtests_with_defaults(name: str) -> None:
    out = run_backtest_request(BacktestRequest(strategy=name, params=(), sample="ETH-BTC-5m"))
    assert out["strategy"] == name and out["bars"] == 5760
    assert out["n_trades"] == len(out["trades"]) > 0
    assert -1.0 <= out["total_return"] and 0.0 <= out["max_drawdown"] <= 1.0


def test_stops_and_slippage_reach_the_engine() -> None:
    base = BacktestRequest(strategy="sma_cross", params=(("fast", "20"), ("slow", "100")), sample="BTC-USD-1d")
    plain = run_backtest_request(base)
    stopped = run_backtest_request(BacktestRequest(**{**base.__dict__, "stop_loss": 0.1}))
    slipped = run_backtest_request(BacktestRequest(**{**base.__dict__, "slippage_bps": 25.0}))
    assert stopped["stops"]["stop_loss"] == 0.1 and stopped["total_return"] != plain["total_return"]
    assert slipped["total_return"] < plain["total_return"]  # same trades, worse prices


def test_multi_asset_strategy_is_refused_with_a_named_error() -> None:
    with pytest.raises(InputError):
        run_backtest_request(BacktestRequest(strategy="pairs_trading", params=(), sample="ETH-BTC-5m"))
