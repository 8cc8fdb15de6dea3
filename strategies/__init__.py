"""Indicators and strategies: pure functions from bars (+ params) to target positions.

Importing the package registers the built-in strategies, so
``get_strategy("sma_cross")`` works after ``import strategies``; the
user's own strategy files (:mod:`strategies.user`) are loaded by
``get_strategy``/``list_strategies`` on first use. Indicators:
:mod:`strategies.indicators` (numba) and :mod:`strategies.ta` (TA-Lib).
Single-asset strategies take one bars object and return one target per bar;
multi-asset ones (``pairs_trading``, ``xs_momentum``) take a sequence of bars
on identical timestamps (:func:`align_series`) and return ``(bars, assets)``.
:func:`bar_field` reads one price array from anything shaped like
``market.bars.Bars``.
"""

from strategies import bollinger_reversion as _builtin_bollinger_reversion  # noqa: F401
from strategies import donchian_breakout as _builtin_donchian_breakout  # noqa: F401
from strategies import ema_cross as _builtin_ema_cross  # noqa: F401
from strategies import macd_trend as _builtin_macd_trend  # noqa: F401
from strategies import mtf_trend as _builtin_mtf_trend  # noqa: F401
from strategies import pairs_trading as _builtin_pairs_trading  # noqa: F401
from strategies import rsi_reversion as _builtin_rsi_reversion  # noqa: F401
from strategies import sma_cross as _builtin_sma_cross  # noqa: F401  (registers "sma_cross")
from strategies import vw_momentum as _builtin_vw_momentum  # noqa: F401
from strategies import xs_momentum as _builtin_xs_momentum  # noqa: F401
from strategies.bar_field import bar_field
from strategies.align import align_series
from strategies.registry import Strategy, get_strategy, list_strategies, register

__all__ = ["Strategy", "get_strategy", "list_strategies", "register", "align_series", "bar_field"]
