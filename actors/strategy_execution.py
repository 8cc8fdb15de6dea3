"""How a StrategyRunner executes its targets: ``direct`` OMS orders, or parent orders through the router. No Ray.

A strategy's target (a fraction of equity) is sized by the OMS
(:meth:`actors.oms.OmsActor.size_target`) into ``(side, amount)``; then:

* ``direct`` (the default): the OMS sends one market order at the runner's
  venue (:meth:`actors.oms.OmsActor.on_target`) - nothing here is used;
* ``route``: one parent (:class:`~actors.messages.ParentIntent`, algo
  ``route``) over the strategy's ``route_venues``, split by the router by the
  visible books net of each venue's taker fee; its position is the sum over
  those venues, so one runner serves them all (bars from ``venue``);
* ``twap``: one parent of ``slices`` children over ``duration_s`` seconds at
  the runner's venue;
* ``iceberg``: one parent at a limit ``limit_bps`` through the bar's close
  (default :data:`ICEBERG_LIMIT_BPS`), showing at most ``display`` base units.

``limit_bps`` (any algorithm): the worst price a child may take, in bps of the
bar's close on the far side (a buy at most ``close x (1 + limit_bps/1e4)``, a
sell at least ``close x (1 - limit_bps/1e4)``); without it route and TWAP
children are market orders.

Pre-trade risk applies to every child: the router sends each through the
OMS's check, state machine and journal (:mod:`actors.router`).

**One working parent per runner** (:func:`parent_action`): a runner never
sizes a new order while its parent works (the parent's unsent remainder is
not yet a position or an order the OMS could count). When the target changes
while a parent works, the runner asks the router to cancel it (cancel-replace)
and, once it has ended (every child settled), sizes the latest target against
the position the fills left - so nothing is bought twice for one target. The
parent id is deterministic per runner and bar (:func:`parent_id_for`): a
restarted runner that sends the same bar's decision again gets the router's
``duplicate`` answer, not a second parent.

The CLI words (``raytrader paper --execution twap --exec-param slices=4
--exec-param duration_s=5``) and the deployment TOML's (``execution = "twap"``,
``execution_params = { slices = 4, duration_s = 5 }``) parse with
:func:`parse_execution` / :func:`execution_of`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from actors.messages import ALGOS, BarTick, IntentContext, ParentIntent
from raytrader.errors import InputError
from raytrader.params import name_value_pairs

if TYPE_CHECKING:
    from actors.trading import Sizing

__all__ = ["EXECUTIONS", "PARAMS", "ICEBERG_LIMIT_BPS", "ExecutionError", "Execution", "parse_execution",
           "execution_of", "parent_id_for", "decision_context", "parent_intent", "parent_action"]

#: the execution algorithms a runner can use (``direct`` = today's OMS order)
EXECUTIONS = ALGOS
#: algorithm -> the parameters it takes (``raytrader order`` flags of the same names: --slices, --duration,
#: --display, --participation; ``limit_bps`` stands in for --limit, which a strategy's order cannot know ahead)
PARAMS: dict[str, tuple[str, ...]] = {"direct": (), "route": ("participation", "limit_bps"),
                                      "twap": ("slices", "duration_s", "limit_bps"),
                                      "iceberg": ("display", "limit_bps")}
#: an iceberg's limit when ``limit_bps`` is not given: 10 bps through the bar's close (a clip at the close
#: itself rests until the market comes back, which a trending market may never do)
ICEBERG_LIMIT_BPS = 10.0


class ExecutionError(InputError):
    """An execution algorithm or one of its parameters (named in the message) is invalid."""


@dataclass(frozen=True)
class Execution:
    """``algo`` with its ``params`` (``(name, number)`` pairs, names from :data:`PARAMS`). Checked when made:
    the same checks :class:`~actors.messages.ParentIntent` runs, on a probe parent."""

    algo: str = "direct"
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.algo not in PARAMS:
            raise ExecutionError(f"execution {self.algo!r}: expected one of {', '.join(PARAMS)}")
        names = [n for n, _ in self.params]
        for name in names:
            if name not in PARAMS[self.algo]:
                takes = ", ".join(PARAMS[self.algo]) or "no parameters"
                raise ExecutionError(f"exec-param {name}: {self.algo} takes {takes}")
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ExecutionError(f"exec-param {dup}: given twice")
        for name, value in self.params:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ExecutionError(f"exec-param {name}: expected a number, got {value!r}")
        bps = self.get("limit_bps")
        if bps is not None and not 0 <= bps < 1e4:
            raise ExecutionError(f"exec-param limit_bps: expected bps in [0, 10000), got {bps!r}")
        if self.algo == "direct":
            return
        try:  # the router's own checks, on a probe parent of a large quantity in tiny lots
            ParentIntent("probe", ("a", "b") if self.algo == "route" else ("a",), "A/B", "buy", 1e9, self.algo,  # type: ignore[arg-type]
                         self.limit("buy", 1.0), step=1e-8, **self.parent_fields())
        except InputError as exc:
            text = str(exc).removeprefix("ParentIntent.")
            name = text.split(" ", 1)[0].rstrip(":")
            raise ExecutionError(f"exec-param {name}: {text}" if name in PARAMS[self.algo]
                                 else f"execution {self.algo}: {text}") from None

    @property
    def routed(self) -> bool:
        """True when the runner hands parents to the router (every algorithm but ``direct``)."""
        return self.algo != "direct"

    def get(self, name: str) -> float | None:
        return next((v for n, v in self.params if n == name), None)

    def parent_fields(self) -> dict[str, Any]:
        """The :class:`~actors.messages.ParentIntent` keyword fields these params set (``limit_bps`` apart)."""
        out: dict[str, Any] = {}
        for name, value in self.params:
            if name == "slices":
                out[name] = int(value) if float(value).is_integer() else value
            elif name != "limit_bps":
                out[name] = float(value)
        return out

    def limit(self, side: str, price: float) -> float | None:
        """The children's worst price for a ``side`` parent decided at ``price`` (quote per base); None =
        market children."""
        bps = self.get("limit_bps")
        if bps is None:
            bps = ICEBERG_LIMIT_BPS if self.algo == "iceberg" else None
        if bps is None:
            return None
        return price * (1 + bps / 1e4) if side == "buy" else price * (1 - bps / 1e4)

    def label(self) -> str:
        """``twap slices=4 duration_s=5`` (what a summary prints)."""
        return " ".join([self.algo] + [f"{n}={v:g}" for n, v in self.params])


def parse_execution(algo: str, items: Sequence[str]) -> Execution:
    """``("twap", ["slices=4", "duration_s=5"])`` -> :class:`Execution` (numbers only, each name once; errors name the item)."""
    params = []
    for name, value in name_value_pairs(items, "exec-param", ExecutionError):
        try:
            params.append((name, float(value)))
        except ValueError:
            raise ExecutionError(f"exec-param {name}: {value!r} is not a number") from None
    return Execution(algo, tuple(params))


def execution_of(algo: str, params: Mapping[str, Any]) -> Execution:
    """:class:`Execution` from a TOML table (``execution_params = { slices = 4 }``)."""
    return Execution(algo, tuple((str(k), v) for k, v in params.items()))


def parent_id_for(strategy_key: str, bar_ts_ms: int) -> str:
    """The parent id of a runner's decision on the bar opened at ``bar_ts_ms``: ``s<16 hex of BLAKE2b(key)>-<ms>``
    (a :class:`~actors.messages.ParentIntent` id allows no ``/`` or ``@``; deterministic, so a restarted runner
    re-derives it)."""
    digest = hashlib.blake2b(strategy_key.encode(), digest_size=8).hexdigest()
    return f"s{digest}-{int(bar_ts_ms)}"


def decision_context(strategy_key: str, target: float, bar: BarTick, sized: Mapping[str, Any],
                     sizing: "Sizing") -> IntentContext:
    """What a parent is the execution of (journaled with it as :attr:`ParentIntent.context`, so its children are
    attributed to ``strategy_key``): the strategy's ``target`` on ``bar`` (sized at its close) and
    :meth:`actors.oms.OmsActor.size_target`'s answer ``sized`` (``held``: the position over the runner's venues,
    ``pending``: the signed remainder of orders in flight, base units; ``equity`` in the quote currency)."""
    return IntentContext(strategy_key, float(target), float(bar.close), float(sized["held"]), float(sized["pending"]),
                         sized.get("equity"), sizing.mode, float(sizing.value), float(sizing.step), bar)


def parent_intent(execution: Execution, strategy_key: str, venues: Sequence[str], symbol: str, side: str,
                  amount: float, price: float, bar_ts_ms: int, step: float,
                  context: IntentContext | None = None) -> ParentIntent:
    """The parent a sized decision becomes: ``amount`` base units ``side`` on ``venues`` (route: all of them;
    otherwise the first), limit from :meth:`Execution.limit` at ``price`` (the bar's close); ``context``: the
    decision (:func:`decision_context`), journaled with the parent."""
    where = tuple(venues) if execution.algo == "route" else (venues[0],)
    return ParentIntent(parent_id_for(strategy_key, bar_ts_ms), where, symbol, side, amount,  # type: ignore[arg-type]
                        execution.algo, execution.limit(side, price), step=step,  # type: ignore[arg-type]
                        context=context, **execution.parent_fields())


def parent_action(parent: Mapping[str, Any] | None, cancel_asked: bool) -> str:
    """What a runner with a new target does about its last parent (the router's JSON of it, None when the
    router does not know it): ``send`` - it has ended (every child settled), size the new target now;
    ``cancel`` - it still works, ask the router to cancel it; ``wait`` - its cancel was asked, it has not
    ended yet (the next closed bar asks again)."""
    if parent is None:
        return "send"
    if parent.get("status") == "working" or parent.get("open_children", 0) > 0:
        return "wait" if cancel_asked else "cancel"
    return "send"
