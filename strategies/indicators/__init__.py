"""Technical indicators: pure, vectorised (numba) functions of price/volume series.

Conventions shared by every indicator:

* Inputs are 1-D series (any real dtype; computed in float64). They may
  start with NaNs (as another indicator's output does); those are skipped
  and the indicator starts at the first row where every input is finite. A
  NaN or inf after that row is rejected with :class:`IndicatorError` naming
  the series and row.
* Output is float64, the same length as the input, NaN during warm-up.
  ``out[t]`` depends only on inputs up to and including row ``t`` (no
  lookahead); a window longer than the series gives all-NaN output.
* Window lengths are ints in bars; a bad one raises :class:`IndicatorError`
  naming the parameter (``n``, ``fast``, ...).

Modules: ``_moving`` (SMA, EMA), ``_momentum`` (RSI, MACD), ``_volatility``
(ATR, Bollinger, Donchian, z-score), ``_volume`` (VWAP), ``_regression``
(beta, correlation).
"""

from strategies.indicators._momentum import Macd, macd, rsi
from strategies.indicators._moving import ema, sma, sma_kernel
from strategies.indicators._regression import rolling_beta, rolling_corr
from strategies.indicators._volatility import Bands, Channel, atr, bollinger, donchian, rolling_std, rolling_zscore
from strategies.indicators._volume import vwap

__all__ = [
    "sma", "ema", "rsi", "macd", "Macd", "atr", "bollinger", "Bands", "donchian", "Channel",
    "rolling_std", "rolling_zscore", "vwap", "rolling_beta", "rolling_corr", "sma_kernel",
]
