"""Indicators and strategies: pure functions from bars (+ params) to target positions.

Importing the package registers the built-in strategies, so
``get_strategy("sma_cross")`` works after ``import strategies``.
"""

from strategies import sma_cross as _builtin_sma_cross  # noqa: F401  (registers "sma_cross")
from strategies.registry import Strategy, get_strategy, list_strategies, register

__all__ = ["Strategy", "get_strategy", "list_strategies", "register"]
