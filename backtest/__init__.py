"""Backtesting: the engine (fills, fees), trades and metrics. Pure: no ``import ray``."""

from backtest.engine import BacktestResult, run_backtest
from backtest.metrics import max_drawdown, periods_per_year, sharpe, summary, total_return
from backtest.trades import Trade, trade_to_json

__all__ = [
    "BacktestResult",
    "run_backtest",
    "Trade",
    "trade_to_json",
    "total_return",
    "sharpe",
    "max_drawdown",
    "periods_per_year",
    "summary",
]
