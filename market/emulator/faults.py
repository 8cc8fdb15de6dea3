"""Fault injection for the emulator's HTTP server: what a real venue does to a client on a bad day.

Each request the server receives may be hit by at most one fault, chosen by a
:class:`FaultInjector` from two sources, scripted rules first:

* **scripted** (:meth:`FaultInjector.script`): "the next N requests to
  ``POST /api/v3/order`` lose their response". Deterministic, for tests that
  walk one failure path.
* **random** (:class:`RandomFaults`): each request matching the filter is hit
  with probability ``rate`` by a kind drawn uniformly from ``kinds``, from a
  ``random.Random(seed)`` stream: the same seed and the same sequence of
  requests give the same faults (a soak test at 5 % reproduces).

The kinds (:data:`FAULT_KINDS`), and whether the venue acted on the request:

==================  ==========================================================  =========
kind                what the client sees                                        executed
==================  ==========================================================  =========
``5xx``             HTTP 503 with an HTML page, at the gateway                  no
``5xx_executed``    HTTP 500 with an HTML page after the venue processed it     yes
``429``             HTTP 429, Binance ``-1003`` and ``Retry-After: 1``          no
``timeout``         nothing for ``hang_ms``, then the request is processed      late
                    (its signature window is checked *then*, so a request
                    held past ``recvWindow`` is refused as stale, as Binance's
                    matching engine does) and answered to a client that has
                    usually given up
``lost_response``   the venue processes it, then closes the connection          yes
                    unanswered
``drop_ws``         every WebSocket stream connection is closed; the request    yes
                    itself is answered normally
==================  ==========================================================  =========

Pure: no sockets, no asyncio; the server applies the decision.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

from market.emulator.errors import BadParameter

__all__ = ["FAULT_KINDS", "FaultRule", "RandomFaults", "FaultInjector"]

#: every fault kind the server knows (table in the module docstring)
FAULT_KINDS: tuple[str, ...] = ("5xx", "5xx_executed", "429", "timeout", "lost_response", "drop_ws")


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise BadParameter(f"fault kind {kind!r}: use one of {', '.join(FAULT_KINDS)}")


@dataclass(frozen=True)
class FaultRule:
    """Hit the next ``times`` requests matching ``method`` and ``path`` (None = any) with ``kind``."""

    kind: str
    method: str | None = None
    path: str | None = None
    times: int = 1

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        if self.times < 1:
            raise BadParameter(f"FaultRule.times must be >= 1, got {self.times}")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path == path)


@dataclass(frozen=True)
class RandomFaults:
    """Seeded random faults.

    Attributes:
        rate: probability that one matching request is hit, in [0, 1] (0.05 = 5 %).
        seed: seed of the draw; the same seed and request sequence give the same faults.
        kinds: the kinds drawn from, uniformly.
        paths: only requests to these paths are hit (empty = every path, WebSocket excluded).
        methods: only these HTTP methods (empty = any).
    """

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = ("5xx", "429", "timeout", "lost_response")
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise BadParameter(f"RandomFaults.rate must be in [0, 1], got {self.rate}")
        if not self.kinds:
            raise BadParameter("RandomFaults.kinds is empty")
        for kind in self.kinds:
            _check_kind(kind)

    def matches(self, method: str, path: str) -> bool:
        return (not self.paths or path in self.paths) and (not self.methods or method in self.methods)


@dataclass
class FaultInjector:
    """Decides, per request, which fault (if any) hits it; thread-safe (tests script it from their thread).

    ``injected`` counts the faults applied per kind.
    """

    random_faults: RandomFaults = field(default_factory=RandomFaults)
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rules: list[list] = []  # [rule, times left]
        self._rng = random.Random(self.random_faults.seed)
        self._lock = threading.Lock()

    def script(self, kind: str, method: str | None = None, path: str | None = None, times: int = 1) -> FaultRule:
        """Hit the next ``times`` requests to ``method path`` with ``kind`` (after rules scripted earlier)."""
        rule = FaultRule(kind, method, path, times)
        with self._lock:
            self._rules.append([rule, times])
        return rule

    def set_random(self, random_faults: RandomFaults) -> None:
        """Replace the random faults (``RandomFaults()`` turns them off); the draw restarts from its seed."""
        with self._lock:
            self.random_faults = random_faults
            self._rng = random.Random(random_faults.seed)

    def clear(self) -> None:
        """Forget every scripted rule not yet used up."""
        with self._lock:
            self._rules.clear()

    def pending(self) -> int:
        """Scripted hits not yet delivered."""
        with self._lock:
            return sum(left for _, left in self._rules)

    def decide(self, method: str, path: str) -> str | None:
        """The fault kind for this request, or None; consumes a scripted hit or one random draw."""
        with self._lock:
            for entry in self._rules:
                rule, left = entry
                if rule.matches(method, path):
                    entry[1] = left - 1
                    if entry[1] == 0:
                        self._rules.remove(entry)
                    self.injected[rule.kind] += 1
                    return rule.kind
            rf = self.random_faults
            if rf.rate > 0 and rf.matches(method, path):
                hit = self._rng.random() < rf.rate
                kind = self._rng.choice(rf.kinds)  # drawn every time: the stream stays aligned with requests
                if hit:
                    self.injected[kind] += 1
                    return kind
        return None
