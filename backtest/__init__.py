"""Backtesting: the single-asset engine (fills, fees, slippage, stops), the multi-asset portfolio, trades and metrics.

Pure: no ``import ray``.
"""

from backtest.engine import MAX_ABS_TARGET, TRADE_RECORD_DTYPE, BacktestResult, run_backtest
from backtest.metrics import (
    annual_volatility,
    cagr,
    calmar,
    expectancy,
    exposure,
    max_drawdown,
    max_drawdown_duration,
    periods_per_year,
    profit_factor,
    sharpe,
    sortino,
    summary,
    total_return,
    turnover,
    win_rate,
)
from backtest.portfolio import Panel, PortfolioResult, align_bars, panel_from_close, run_portfolio
from backtest.trades import EXIT_REASONS, Trade, trade_to_json

__all__ = [
    "BacktestResult",
    "run_backtest",
    "MAX_ABS_TARGET",
    "TRADE_RECORD_DTYPE",
    "Panel",
    "PortfolioResult",
    "align_bars",
    "panel_from_close",
    "run_portfolio",
    "Trade",
    "EXIT_REASONS",
    "trade_to_json",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
    "win_rate",
    "profit_factor",
    "expectancy",
    "exposure",
    "turnover",
    "periods_per_year",
    "summary",
]
