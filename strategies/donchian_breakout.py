"""Donchian (turtle) breakout: enter on a close beyond the last ``entry`` bars' range, exit on a shorter one.

With ``U_n[t]``/``L_n[t]`` the highest high / lowest low of bars
``t-n .. t-1`` (the channel of the *previous* ``n`` bars, bar ``t`` excluded):

* go long when ``close[t] > U_entry[t]``; close the long when
  ``close[t] < L_exit[t]``;
* go short (``short=1``) when ``close[t] < L_entry[t]``; close the short when
  ``close[t] > U_exit[t]``; a bar can close one side and open the other.
* flat until the first breakout; ``min_bars = entry + 1``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies.bar_field import bar_field
from strategies._common import position_state, previous, short_param_doc, single_entry
from strategies.indicators import donchian
from strategies.params import Constraint, ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["donchian_breakout", "DONCHIAN_BREAKOUT"]


def donchian_breakout(bars: object, entry: int = 20, exit: int = 10, short: int = 1) -> np.ndarray:
    """Target per bar in {-1, 0, 1} from Donchian breakouts of ``bars.close`` through ``high``/``low`` channels.

    ``entry`` and ``exit`` are channel lengths in bars, ``exit < entry``.

    Raises:
        ParamError: a parameter out of range, or ``exit >= entry``.
        InsufficientDataError: fewer than ``entry + 1`` bars.
    """
    values, _ = single_entry(DONCHIAN_BREAKOUT, bars, {"entry": entry, "exit": exit, "short": short})
    high, low, close = bar_field(bars, "high"), bar_field(bars, "low"), bar_field(bars, "close")
    wide = donchian(high, low, int(values["entry"]))
    narrow = donchian(high, low, int(values["exit"]))
    with np.errstate(invalid="ignore"):
        enter_long = close > previous(wide.upper)
        enter_short = (close < previous(wide.lower)) & bool(values["short"])
        exit_long = close < previous(narrow.lower)
        exit_short = close > previous(narrow.upper)
    return position_state(enter_long, exit_long, enter_short, exit_short)


def _exit_below_entry(values: Mapping[str, ParamValue]) -> bool:
    return values["exit"] < values["entry"]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["entry"]) + 1


DONCHIAN_BREAKOUT: Strategy = register(
    Strategy(
        name="donchian_breakout",
        doc="Turtle-style breakout: enter beyond the previous `entry` bars' high/low, exit beyond the `exit` channel.",
        fn=donchian_breakout,
        params=(
            ParamSpec(name="entry", kind="int", low=2, high=1000, default=20, doc="entry channel length, bars"),
            ParamSpec(name="exit", kind="int", low=1, high=999, default=10, doc="exit channel length, bars"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(Constraint(description="exit < entry", predicate=_exit_below_entry, names=("exit", "entry")),),
        min_bars=_min_bars,
    )
)
