"""`jobs.backtest` (and so `raytrader backtest`) across the strategy registry and the engine options."""

from __future__ import annotations

import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from jobs.backtest import BacktestRequest, run_backtest_request
from raytrader.errors import InputError
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


def _cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    import json

    from cluster import cli

    assert cli.main(["backtest", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_pairs_trading_runs_on_two_samples_through_the_shared_cash_engine(capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from backtest.portfolio import align_bars as to_panel, run_portfolio
    from market.samples import load_sample

    out = _cli_json(["--strategy", "pairs_trading", "--sample", "ETH-BTC-5m", "--sample", "LTC-BTC-5m"], capsys)
    assert out["symbols"] == ["ETH/BTC", "LTC/BTC"] and out["bars"] == 5760
    assert {"total_return", "sharpe", "max_drawdown", "n_trades", "trades"} <= set(out)
    assert out["n_trades"] == len(out["trades"]) == sum(a["n_trades"] for a in out["assets"]) > 0
    assert {t["symbol"] for t in out["trades"]} == {"ETH/BTC", "LTC/BTC"}
    # a pair trade is long one leg and short the other, entered together
    first = [t for t in out["trades"] if t["entry_time"] == out["trades"][0]["entry_time"]]
    assert sorted(t["side"] for t in first) == ["long", "short"]
    # the numbers are the portfolio engine's on the strategy's weights
    series = [load_sample("ETH-BTC-5m"), load_sample("LTC-BTC-5m")]
    pairs = get_strategy("pairs_trading")
    ref = run_portfolio(to_panel(series), pairs.run(series, {}), fees_bps=10.0)
    assert out["final_equity"] == ref.final_equity
    assert out["total_return"] == pytest.approx(ref.final_equity / 10_000 - 1, rel=1e-12)
    assert out["assets"][0]["fills"] == int(ref.n_fills[0]) and np.isclose(out["fees_paid"], ref.fees_paid)


def test_xs_momentum_takes_several_samples(capsys: pytest.CaptureFixture[str]) -> None:
    out = _cli_json(["--strategy", "xs_momentum", "--sample", "ETH-BTC-5m", "--sample", "LTC-BTC-5m",
                     "--sample", "ADA-BTC-5m", "-p", "top=1"], capsys)
    assert len(out["assets"]) == 3 and out["bars"] <= 5720  # common timestamps only (ADA has gaps)
    assert out["params"]["top"] == 1 and out["n_trades"] > 0


@pytest.mark.parametrize("argv, reason", [
    (["--strategy", "pairs_trading", "--sample", "ETH-BTC-5m"], "exactly 2"),
    (["--strategy", "pairs_trading", "--sample", "ETH-BTC-5m", "--sample", "LTC-BTC-5m", "--sample", "ADA-BTC-5m"],
     "exactly 2"),
    (["--strategy", "pairs_trading", "--sample", "ETH-BTC-5m", "--sample", "ALT-BTC-1m"], "different timeframes"),
    (["--strategy", "pairs_trading", "--sample", "ETH-BTC-5m", "--sample", "XRP-ETH-1m"], "different timeframes"),
    (["--strategy", "pairs_trading", "--sample", "ETH-BTC-5m", "--sample", "ETH-BTC-5m"], "twice"),
    (["--strategy", "pairs_trading", "--sample", "ETH-BTC-5m", "--sample", "LTC-BTC-5m", "--stop-loss", "0.1"],
     "--stop-loss"),
    (["--strategy", "sma_cross", "--sample", "ETH-BTC-5m", "--sample", "LTC-BTC-5m"], "takes one series"),
])
def test_multi_asset_bad_input_exits_2(argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cluster import cli

    assert cli.main(["backtest", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1
