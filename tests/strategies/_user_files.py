"""User strategy files that the tests write into a temp folder (never into the package)."""

from __future__ import annotations

import uuid
from pathlib import Path


def unique(prefix: str) -> str:
    """A strategy/file name no other test uses (module names are process-global)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


#: a causal single-asset strategy declared like the built-ins: long while close > SMA(n), else flat or short
GOOD = '''
from collections.abc import Mapping

import numpy as np

from strategies import Strategy, register
from strategies.indicators import sma
from strategies.params import Constraint, ParamSpec


def NAME(bars, n, band, short):
    """1.0 while close > sma(n) * (1 + band), -short while close < sma(n) * (1 - band), else 0."""
    close = np.asarray(bars.close, dtype=np.float64)
    mean = sma(close, n)
    with np.errstate(invalid="ignore"):
        up = close > mean * (1.0 + band)
        down = close < mean * (1.0 - band)
    return np.where(up, 1.0, np.where(down, -float(short), 0.0))


def _band_small(values: Mapping[str, float]) -> bool:
    return values["band"] < 0.5


def _min_bars(values: Mapping[str, float]) -> int:
    return int(values["n"])


RECORD = register(Strategy(
    name="NAME",
    doc="close above / below its SMA, with a band",
    fn=NAME,
    params=(
        ParamSpec(name="n", kind="int", low=2, high=400, default=20, doc="SMA window, bars"),
        ParamSpec(name="band", kind="float", low=0.0, high=0.9, step=0.001, default=0.0, doc="band, fraction"),
        ParamSpec(name="short", kind="int", low=0, high=1, default=0, doc="1: short below the band"),
    ),
    constraints=(Constraint(description="band < 0.5", predicate=_band_small, names=("band",)),),
    min_bars=_min_bars,
))
'''

#: peeks at the next bar's close: the textbook lookahead bug
CHEAT = '''
import numpy as np

from strategies import Strategy, register
from strategies.params import ParamSpec


def NAME(bars, n):
    close = np.asarray(bars.close, dtype=np.float64)
    nxt = np.append(close[1:], close[-1])   # close[t + 1]: not known at bar t
    return np.where(nxt > close, 1.0, 0.0)


register(Strategy(name="NAME", doc="buys when the next bar closes higher (cheats)", fn=NAME,
                  params=(ParamSpec(name="n", kind="int", low=1, high=10, default=1),),
                  min_bars=lambda values: 2))
'''

#: long while close is above its mean since the first bar: depends on how far back the data goes
EXPANDING = '''
import numpy as np

from strategies import Strategy, register
from strategies.params import ParamSpec


def NAME(bars, n):
    close = np.asarray(bars.close, dtype=np.float64)
    mean = np.cumsum(close) / np.arange(1, close.shape[0] + 1)
    return np.where(close > mean, 1.0, 0.0)


register(Strategy(name="NAME", doc="close above its all-history mean", fn=NAME,
                  params=(ParamSpec(name="n", kind="int", low=1, high=10, default=1),),
                  min_bars=lambda values: 2))
'''


def write(folder: Path, stem: str, source: str, name: str | None = None) -> Path:
    """Write ``source`` (``NAME`` replaced by ``name``, default ``stem``) to ``folder/stem.py``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(source.replace("NAME", name or stem))
    return path
