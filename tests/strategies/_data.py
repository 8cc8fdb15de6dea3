"""Real bundled bars shared by the strategy tests (loaded once per session)."""

from __future__ import annotations

from functools import lru_cache

from market.bars import Bars
from market.samples import load_sample
from strategies.align import align_series

#: the ten Binance alt/BTC 5-minute samples (2018-01), with gaps
ALTS = ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")


@lru_cache(maxsize=None)
def sample(name: str) -> Bars:
    return load_sample(name)


@lru_cache(maxsize=None)
def alt_panel() -> tuple[Bars, ...]:
    """All ten alt/BTC series aligned on their common timestamps."""
    return align_series([sample(f"{a}-BTC-5m") for a in ALTS])


@lru_cache(maxsize=None)
def eth_ltc() -> tuple[Bars, ...]:
    """ETH/BTC and LTC/BTC aligned on their common timestamps."""
    return align_series([sample("ETH-BTC-5m"), sample("LTC-BTC-5m")])
