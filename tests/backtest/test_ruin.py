"""Ruin is a result, not bad input: hand cases, the portfolio engine, metrics, sweeps, walk-forward, Monte Carlo, CLI.

The two real-data reproductions of issue 11 (A2): ``raytrader backtest --sample BTC-USD-1d
--strategy rsi_reversion`` (and ``bollinger_reversion``) exited 2 with ``equity[352]: must be
finite and > 0``; they now exit 0 and report where the account was liquidated.
"""

from __future__ import annotations

import dataclasses
import json

import empyrical
import numpy as np
import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from backtest.engine import run_backtest
from backtest.metrics import equity_summary, summary
from backtest.montecarlo import bar_returns, simulate_block_bootstrap, simulate_trades, trade_multipliers
from backtest.portfolio import align_bars, run_portfolio
from backtest.grid import expand_grid, parse_grid
from backtest.sweep import evaluate_configs
from backtest.trades import ms_to_iso
from backtest.walkforward import make_splits, run_fold, summarize
from market.samples import load_sample
from strategies.registry import get_strategy
from tests._bars import FIVE_MIN_MS, T0_MS, bars_from_close


def _i(ms: int) -> int:
    return int((ms - T0_MS) // FIVE_MIN_MS)


# ------------------------------------------------------------------------------------ hand cases, single asset

def test_a_short_that_more_than_doubles_is_liquidated_at_the_close_and_trades_no_more() -> None:
    # short 100 units at 100 (fill at close, no fee); the close at 210 marks equity at 20000 - 21000 = -1000
    bars = bars_from_close([100.0, 100.0, 150.0, 210.0, 250.0, 100.0])
    res = run_backtest(bars, [-1, -1, -1, -1, 0, 1], fill="close")
    assert res.ruined_at == 3 and res.ruined_at_ms == T0_MS + 3 * FIVE_MIN_MS
    assert res.equity.tolist() == [10_000.0, 10_000.0, 5_000.0, 0.0, 0.0, 0.0]
    assert res.units.tolist()[3:] == [0.0, 0.0, 0.0] and res.cash.tolist()[3:] == [0.0, 0.0, 0.0]
    assert res.ruin_shortfall == pytest.approx(1_000.0, rel=1e-12)
    (trade,) = res.trades  # the later long target never trades
    assert (trade.side, trade.exit_price, trade.exit_reason, _i(trade.exit_time)) == ("short", 210.0, "liquidation", 3)
    assert trade.pnl == pytest.approx(-11_000.0, rel=1e-12)  # the whole loss, shortfall included


def test_a_gap_through_zero_at_a_fill_liquidates_at_that_open_not_as_a_signal() -> None:
    # short from bar 1's open at 100; the exit signal fills at bar 3's open, which gaps to 250
    close = [100.0, 110.0, 120.0, 260.0]
    open_ = [100.0, 100.0, 115.0, 250.0]
    res = run_backtest(bars_from_close(close, open_), [-1, -1, 0, 0], fees_bps=10)
    assert res.ruined_at == 3
    (trade,) = res.trades
    assert (trade.exit_price, trade.exit_reason) == (250.0, "liquidation")
    assert res.equity[3] == 0.0 and res.equity[2] > 0.0


def test_a_stop_filled_beyond_zero_equity_is_a_liquidation() -> None:
    close = [100.0, 101.0, 240.0]
    open_ = [100.0, 100.0, 230.0]  # a 5 % stop on the short gaps: the stop fill is at the open, 230
    res = run_backtest(bars_from_close(close, open_), [-1, -1, -1], stop_loss=0.05)
    (trade,) = res.trades
    assert (trade.exit_price, trade.exit_reason, res.ruined_at) == (230.0, "liquidation", 2)
    # the same stop without a gap through zero is an ordinary stop exit
    calm = run_backtest(bars_from_close([100.0, 101.0, 120.0], [100.0, 100.0, 110.0]), [-1, -1, -1], stop_loss=0.05)
    assert calm.trades[0].exit_reason == "stop_loss" and calm.ruined_at is None


def test_a_levered_long_is_ruined_and_a_fully_funded_one_never() -> None:
    bars = bars_from_close([100.0, 100.0, 80.0, 45.0, 200.0])
    levered = run_backtest(bars, [2, 2, 2, 2, 2], fill="close")
    # 200 units against -10000 cash: 45 * 200 - 10000 = -1000 at bar 3
    assert levered.ruined_at == 3 and levered.ruin_shortfall == pytest.approx(1_000.0, rel=1e-12)
    assert levered.final_equity == 0.0
    funded = run_backtest(bars, [1, 1, 1, 1, 1], fill="close", fees_bps=10)
    assert funded.ruined_at is None and funded.ruin_shortfall == 0.0 and funded.equity.min() > 0


# ------------------------------------------------------------------------------------ metrics

def test_metrics_of_a_ruined_curve_equal_empyrical() -> None:
    bars = load_sample("BTC-USD-1d")
    res = run_backtest(bars, get_strategy("rsi_reversion").run(bars, {}), fees_bps=10)
    assert res.ruined_at is not None
    out = summary(res, int(bars.timeframe_ms))
    curve = np.concatenate(([res.initial_cash], res.equity))
    rets = np.zeros(len(curve) - 1)  # empyrical's reading: -1 on the bar of ruin, then nothing
    live = curve[:-1] > 0
    rets[live] = curve[1:][live] / curve[:-1][live] - 1.0
    assert rets[res.ruined_at] == -1.0 and (rets[res.ruined_at + 1:] == 0.0).all()
    ppy = out["periods_per_year"]
    assert out["ruined_at"] == res.ruined_at and out["ruined_at_ms"] == res.ruined_at_ms
    assert out["total_return"] == -1.0 and out["final_equity"] == 0.0 and out["max_drawdown"] == 1.0
    assert out["cagr"] == pytest.approx(empyrical.cagr(rets, annualization=len(rets) / out["years"]), abs=1e-12)
    assert out["calmar"] == pytest.approx(empyrical.calmar_ratio(rets, annualization=len(rets) / out["years"]))
    assert out["sharpe"] == pytest.approx(empyrical.sharpe_ratio(rets, annualization=ppy), rel=1e-9)
    assert out["sortino"] == pytest.approx(empyrical.sortino_ratio(rets, annualization=ppy), rel=1e-9)
    assert out["annual_volatility"] == pytest.approx(empyrical.annual_volatility(rets, annualization=ppy), rel=1e-9)
    assert out["max_drawdown_duration_bars"] > 0 and out["turnover"] > 0


# ------------------------------------------------------------------------------------ portfolio engine

def test_one_asset_portfolio_is_ruined_where_the_engine_is() -> None:
    bars = bars_from_close([100.0, 100.0, 150.0, 210.0, 250.0, 100.0], [100.0, 100.0, 140.0, 200.0, 240.0, 90.0])
    target = np.array([-1.0, -1.0, -1.0, -1.0, 0.0, 1.0])
    for fill in ("open", "close"):
        single = run_backtest(bars, target, fees_bps=10, fill=fill)
        port = run_portfolio(align_bars([bars]), target[:, None], fees_bps=10, fill=fill)
        assert port.ruined_at == single.ruined_at is not None
        np.testing.assert_allclose(port.equity, single.equity, rtol=1e-12, atol=1e-9)
        assert port.ruin_shortfall == pytest.approx(single.ruin_shortfall, rel=1e-9)
        assert port.n_fills.tolist() == [2]  # the entry and the liquidation; the later targets never fill


def test_a_levered_two_asset_book_is_liquidated_and_stays_flat() -> None:
    up = bars_from_close([100.0, 100.0, 130.0, 180.0, 100.0, 90.0])
    up = dataclasses.replace(up, symbol="UP/USDT")
    down = bars_from_close([100.0, 100.0, 70.0, 40.0, 100.0, 120.0])
    weights = np.array([[-2.0, 2.0]] * 4 + [[0.0, 0.0], [1.0, -1.0]])  # short the riser, 2x long the faller
    res = run_portfolio(align_bars([up, down]), weights, fill="close")
    assert res.ruined_at is not None and res.ruined_at <= 3
    i = res.ruined_at
    assert (res.equity[i:] == 0.0).all() and (res.units[i:] == 0.0).all() and (res.cash[i:] == 0.0).all()
    assert (res.traded[i + 1:] == 0.0).all() and (res.traded[i] > 0.0).all() and res.ruin_shortfall >= 0.0
    assert np.isfinite(res.ruin_prices).all() and (res.equity[:i] > 0).all()


# ------------------------------------------------------------------------------------ sweeps and walk-forward

def test_a_sweep_reports_ruined_configurations_with_the_engines_numbers() -> None:
    bars = load_sample("BTC-USD-1d")
    rsi = get_strategy("rsi_reversion")
    names, params = expand_grid(rsi, parse_grid(["n=10,14,20", "short=0,1"]))
    got = evaluate_configs(bars, rsi, names, params, timeframe_ms=bars.timeframe_ms, fees_bps=10)
    assert 0 < got.n_ruined < len(got)  # the batch holds both outcomes and did not stop
    for i in range(len(got)):  # the engine, one configuration at a time
        values = {n: params[i, j].item() for j, n in enumerate(names)}
        res = run_backtest(bars, rsi.run(bars, values), fees_bps=10)
        one = summary(res, bars.timeframe_ms)
        row = got.row(i)
        assert row["ruined_at"] == res.ruined_at == one["ruined_at"]
        for m in ("total_return", "sharpe", "max_drawdown", "n_trades", "final_equity"):
            assert row[m] == one[m], m
        if res.ruined_at is not None:
            assert row["total_return"] == -1.0 and row["final_equity"] == 0.0


def test_walk_forward_keeps_going_when_every_in_sample_configuration_is_ruined() -> None:
    bars = load_sample("BTC-USD-1d")
    rsi = get_strategy("rsi_reversion")
    names, params = expand_grid(rsi, parse_grid(["n=10,14,20", "short=1"]))  # all wiped out by bar ~360
    folds = make_splits(len(bars), n_folds=2, train_bars=600, test_bars=300)
    results = [run_fold(bars, rsi, names, params, f, fees_bps=10) for f in folds]
    first = results[0].in_sample
    assert isinstance(first["ruined_at"], int) and first["total_return"] == -1.0
    combined = summarize(results)
    assert len(combined.folds) == 2 and np.isfinite(combined.oos_total_return)


# ------------------------------------------------------------------------------------ Monte Carlo

def test_monte_carlo_resamples_a_ruined_backtest() -> None:
    bars = load_sample("BTC-USD-1d")
    res = run_backtest(bars, get_strategy("rsi_reversion").run(bars, {}), fees_bps=10)
    entry = np.searchsorted(res.timestamp, [t.entry_time for t in res.trades])
    exit_ = np.searchsorted(res.timestamp, [t.exit_time for t in res.trades])
    g = trade_multipliers(res.equity, entry, exit_, res.initial_cash)
    assert g[-1] == 0.0 and (g[:-1] > 0).all()  # the liquidated trade takes everything
    shuffled = simulate_trades(g, n_paths=50, seed=1)  # a permutation: every path meets the liquidation
    assert (shuffled.total_return == -1.0).all() and shuffled.ruined.all() and (shuffled.max_drawdown == 1.0).all()
    r = bar_returns(res.equity, res.initial_cash)
    assert r[res.ruined_at] == -1.0 and (r[res.ruined_at + 1:] == 0.0).all()
    boot = simulate_block_bootstrap(r, n_paths=400, block_bars=20, seed=3, periods_per_year=365.25)
    wiped = boot.total_return == -1.0
    assert 0 < wiped.sum() < len(boot)  # only paths that drew the ruin bar are wiped out
    assert boot.ruined[wiped].all() and np.isfinite(boot.sharpe).all()


# ------------------------------------------------------------------------------------ the issue's reproductions

@pytest.mark.parametrize("name", ["rsi_reversion", "bollinger_reversion"])
def test_the_issue_reproductions_exit_0_and_report_the_ruin(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cluster import cli

    assert cli.main(["backtest", "--sample", "BTC-USD-1d", "--strategy", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    bars = load_sample("BTC-USD-1d")
    res = run_backtest(bars, get_strategy(name).run(bars, {}), fees_bps=10)
    assert out["ruined_at"] == res.ruined_at is not None
    assert out["ruined_at_time"] == ms_to_iso(int(bars.timestamp[res.ruined_at]))
    assert out["total_return"] == -1.0 and out["final_equity"] == 0.0 and out["ruin_shortfall"] >= 0.0
    assert out["trades"][-1]["exit_reason"] == "liquidation"
    assert out["trades"][-1]["exit_time"] == out["ruined_at_time"]
    assert all(t["entry_time"] <= out["ruined_at_time"] for t in out["trades"])  # nothing trades after

    assert cli.main(["backtest", "--sample", "BTC-USD-1d", "--strategy", name]) == 0
    text = capsys.readouterr().out
    assert f"RUINED at bar {res.ruined_at} ({out['ruined_at_time']})" in text


def test_a_ruined_multi_asset_backtest_reports_it() -> None:
    # the portfolio path of jobs.backtest, fed a book that is wiped out
    up = bars_from_close([100.0, 100.0, 130.0, 180.0, 100.0, 90.0])
    up = dataclasses.replace(up, symbol="UP/USDT")
    down = bars_from_close([100.0, 100.0, 70.0, 40.0, 100.0, 120.0])
    panel = align_bars([up, down])
    res = run_portfolio(panel, np.array([[-2.0, 2.0]] * 6), fill="close")
    curve = np.concatenate(([res.initial_cash], res.equity))
    out = equity_summary(curve, panel.timestamp, panel.timeframe_ms)
    assert out["ruined_at"] == res.ruined_at and out["ruined_at_ms"] == int(panel.timestamp[res.ruined_at])
    assert out["total_return"] == -1.0 and out["cagr"] == -1.0
