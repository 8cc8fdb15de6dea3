"""The trading deployment's TOML file, parsed into frozen, typed settings (no Ray).

One file describes one long-lived deployment (``raytrader trade start FILE``)::

    [deployment]
    journal = "raytrader:journal:main"  # Redis stream of the journal (default raytrader:journal)
    namespace = "main"                  # client order id prefix, 1..11 of A-Z a-z 0-9 _ (default rt)
    book_max_age_s = 2.0                # the router routes on a streamed book at most this old, else REST
    max_reroutes = 2                    # times a route parent's unfilled rest is routed again

    [[venues]]
    name = "binance"                    # our name; the ExchangeActor is exchange:<name>
    url = "http://127.0.0.1:9001"       # an emulator (`raytrader exchange serve`); omit for the real venue
    exchange = "binance"                # ccxt id (default binance)
    key = "demo"                        # `raytrader keys` entry to trade with (required)
    taker_bps = 10.0                    # the taker fee the router nets this venue's books with (default: the
                                        # fee the venue's market states through ccxt, else 10)
    book_stream = false                 # stream the order book all the time (default false: the router
                                        # fetches a book over REST when it routes)

    [[strategies]]
    name = "sma_cross"                  # a registered single-asset strategy
    symbol = "XRP/ETH"
    venue = "binance"
    params = { fast = 10, slow = 30 }
    execution = "twap"                  # direct (default: an order at `venue`), route, twap, iceberg
    execution_params = { slices = 4, duration_s = 20 }   # route: participation, limit_bps; twap: slices,
                                        # duration_s, limit_bps; iceberg: display, limit_bps
    # route_venues = ["binance", "coinbase"]   # route only: the venues its orders split over (default all)

    [sizing]                            # actors.trading.Sizing
    mode = "equity"
    value = 0.25

    [risk]                              # risk.pretrade.RiskLimits, plus max_loss and flatten_on_kill
    max_order_notional = 5.0
    max_loss = 2.0

Every value is checked when the file is read: an unknown key, a wrong type or
an out-of-range value raises :class:`TradeConfigError` whose message starts
with the file and the field at fault (``venues[1].url``), so the CLI exits 2
with one line. A venue without ``url`` is the real exchange (live trading):
:func:`check_live` refuses it unless the caller confirmed it.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from raytrader.config import read_toml
from raytrader.errors import InputError

__all__ = ["TradeConfigError", "LiveNotConfirmedError", "VenueEntry", "StrategyEntry", "TradeDeployment",
           "load_trade_config", "parse_trade_config", "check_live", "DEFAULT_JOURNAL"]

#: the journal stream when ``[deployment] journal`` is not given (``raytrader audit``'s default too)
DEFAULT_JOURNAL = "raytrader:journal"


class TradeConfigError(InputError):
    """A field of the trading deployment's TOML file is invalid; the message names the file and the field."""


class LiveNotConfirmedError(InputError):
    """The file names a real (non-emulator) venue and ``--confirm-live`` was not given."""


@dataclass(frozen=True)
class VenueEntry:
    """One venue connection. ``url``: an emulator's REST base on loopback (its WebSocket is
    ``ws://<host>:<port>/stream/ws``), None for the real exchange's own endpoints (live); ``taker_bps``: the
    taker fee (bps, in [0, 10000)) the router nets this venue's book with, None = the fee the venue's
    market states; ``book_stream``: the ExchangeActor streams the order book all the time (else the router
    has one fetched over REST when it routes)."""

    name: str
    key: str
    exchange: str = "binance"
    url: str | None = None
    taker_bps: float | None = None
    book_stream: bool = False

    @property
    def live(self) -> bool:
        return self.url is None

    @property
    def ws_url(self) -> str | None:
        return None if self.url is None else self.url.replace("http://", "ws://", 1) + "/stream/ws"


@dataclass(frozen=True)
class StrategyEntry:
    """One StrategyRunner: registered strategy ``name`` with ``params`` on ``symbol`` at ``venue``;
    ``window``: closed bars kept for the strategy function; ``sizing``: a sizing rule for its targets
    (``vol-target:0.2``; the text ``raytrader backtest --sizing`` takes), empty = none; ``execution`` with
    ``execution_params``: how its orders go out (:mod:`actors.strategy_execution`: direct, or a parent order
    through the router); ``route_venues``: the venues a ``route`` parent splits over (``venue`` first)."""

    name: str
    symbol: str
    venue: str
    params: tuple[tuple[str, float | int], ...] = ()
    window: int = 300
    sizing: str = ""
    execution: str = "direct"
    execution_params: tuple[tuple[str, float], ...] = ()
    route_venues: tuple[str, ...] = ()

    @property
    def venues(self) -> tuple[str, ...]:
        """Every venue it trades on."""
        return self.route_venues or (self.venue,)


@dataclass(frozen=True)
class TradeDeployment:
    """The whole file. ``limits`` is a :class:`risk.pretrade.RiskLimits`, ``sizing`` an
    :class:`actors.trading.Sizing`; ``max_loss``: total loss in a quote currency that trips the kill
    switch (None = off); ``source``: the file it came from."""

    venues: tuple[VenueEntry, ...]
    strategies: tuple[StrategyEntry, ...]
    sizing: Any
    limits: Any
    journal: str = DEFAULT_JOURNAL
    namespace: str = "rt"
    poll_s: float = 0.25
    max_loss: float | None = None
    flatten_on_kill: bool = False
    source: str = ""
    book_max_age_s: float = 2.0
    max_reroutes: int = 2

    @property
    def live_venues(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.venues if v.live)

    def symbols(self, venue: str) -> tuple[str, ...]:
        """The symbols the strategies trade on ``venue``, in file order, without repeats."""
        return tuple(dict.fromkeys(s.symbol for s in self.strategies if venue in s.venues))


def check_live(deployment: TradeDeployment, confirmed: bool) -> None:
    """Refuse real venues unless ``confirmed`` (``--confirm-live``)."""
    if deployment.live_venues and not confirmed:
        raise LiveNotConfirmedError(
            f"{deployment.source}: venue(s) {', '.join(deployment.live_venues)} have no url: that is the real "
            "exchange with real money; pass --confirm-live to trade it, or give the url of an emulator "
            "(`raytrader exchange serve`)")


# ------------------------------------------------------------------ parsing helpers
class _Fields:
    """Reads one TOML table, naming each field as ``<where>.<key>`` in errors; refuses unknown keys."""

    def __init__(self, table: Any, where: str, source: str, known: tuple[str, ...]) -> None:
        self.where, self.source = where, source
        if not isinstance(table, dict):
            raise self.error(None, f"must be a table, got {type(table).__name__}")
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise self.error(unknown[0], f"unknown field; known fields: {', '.join(known)}")
        self.table = table

    def label(self, key: str | None) -> str:
        return self.where if key is None else (f"{self.where}.{key}" if self.where else key)

    def error(self, key: str | None, why: str) -> TradeConfigError:
        return TradeConfigError(f"trade config {self.source}: {self.label(key)}: {why}")

    def has(self, key: str) -> bool:
        return key in self.table

    def text(self, key: str, default: Any = MISSING) -> Any:
        if key not in self.table:
            if default is MISSING:
                raise self.error(key, "missing (required)")
            return default
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value.strip()

    def number(self, key: str, default: Any = MISSING, *, integer: bool = False, positive: bool = True) -> Any:
        if key not in self.table:
            if default is MISSING:
                raise self.error(key, "missing (required)")
            return default
        value = self.table[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if integer:
            ok = ok and float(value).is_integer()
        if not ok:
            raise self.error(key, f"expected {'a whole number' if integer else 'a finite number'}, got {value!r}")
        if positive and not value > 0:
            raise self.error(key, f"must be > 0, got {value!r}")
        return int(value) if integer else value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value


def _url(f: _Fields, key: str) -> str | None:
    if not f.has(key):
        return None
    url = f.text(key).rstrip("/")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or parts.path or parts.query:
        raise f.error(key, f"expected http://127.0.0.1:PORT (an emulator's URL), got {url!r}")
    try:
        loopback = ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    if not loopback:
        raise f.error(key, f"an emulator runs on this machine only (127.0.0.1); got host {parts.hostname!r}")
    return url


def _venue(table: Any, i: int, source: str) -> VenueEntry:
    f = _Fields(table, f"venues[{i}]", source, ("name", "url", "exchange", "key", "taker_bps", "book_stream"))
    name = f.text("name")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise f.error("name", f"expected letters, digits, - and _, got {name!r}")
    exchange = f.text("exchange", "binance")
    if not exchange.isidentifier():
        raise f.error("exchange", f"expected a ccxt exchange id such as binance, got {exchange!r}")
    key = f.text("key")
    if not key.replace("-", "").replace("_", "").isalnum():
        raise f.error("key", f"expected a `raytrader keys` entry name, got {key!r}")
    taker_bps = f.number("taker_bps", None, positive=False)
    if taker_bps is not None and not 0 <= taker_bps < 1e4:
        raise f.error("taker_bps", f"expected a fee in bps in [0, 10000), got {taker_bps!r}")
    return VenueEntry(name=name, key=key, exchange=exchange, url=_url(f, "url"), taker_bps=taker_bps,
                      book_stream=f.boolean("book_stream", False))


def _strategy(table: Any, i: int, source: str, venues: tuple[str, ...]) -> StrategyEntry:
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies; late: keeps the CLI's --help fast
    from strategies.params import validate_params  # noqa: PLC0415 - late: keeps the CLI's --help fast
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps the CLI's --help fast

    f = _Fields(table, f"strategies[{i}]", source, ("name", "symbol", "venue", "params", "window", "sizing",
                                                    "execution", "execution_params", "route_venues"))
    name = f.text("name")
    try:
        record = get_strategy(name)
    except InputError as exc:
        raise f.error("name", str(exc)) from None
    if record.multi_asset:
        raise f.error("name", f"{name} is a multi-asset strategy; a StrategyRunner trades one symbol")
    symbol = f.text("symbol")
    if symbol.count("/") != 1 or not all(symbol.split("/")):
        raise f.error("symbol", f"expected a unified symbol like BTC/USDT, got {symbol!r}")
    venue = f.text("venue")
    if venue not in venues:
        raise f.error("venue", f"{venue!r} is not one of the [[venues]] ({', '.join(venues)})")
    raw = f.table.get("params", {})
    if not isinstance(raw, dict):
        raise f.error("params", f"expected a table such as {{ fast = 10, slow = 30 }}, got {raw!r}")
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise f.error(f"params.{key}", f"expected a number, got {value!r}")
    try:
        validate_params(record, raw)
    except InputError as exc:
        param = getattr(exc, "param", None)
        raise f.error(f"params.{param}" if isinstance(param, str) and param.isidentifier() else "params",
                      str(exc)) from None
    sizing = f.table.get("sizing", "")
    if not isinstance(sizing, str):
        raise f.error("sizing", f"expected text such as \"vol-target:0.2\", got {sizing!r}")
    if sizing:
        from backtest.sizing import parse_sizing  # noqa: PLC0415 - late: keeps the CLI's --help fast

        try:
            spec = parse_sizing(sizing)
        except InputError as exc:
            raise f.error("sizing", str(exc)) from None
        if spec.method == "risk-parity":
            raise f.error("sizing", "risk-parity splits risk across assets; a StrategyRunner trades one symbol")
    execution, route_venues = _execution(f, venue, venues)
    return StrategyEntry(name=name, symbol=symbol, venue=venue, params=tuple(raw.items()),
                         window=f.number("window", 300, integer=True), sizing=sizing, execution=execution.algo,
                         execution_params=execution.params, route_venues=route_venues)


def _execution(f: _Fields, venue: str, venues: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    """A strategy's ``execution`` / ``execution_params`` / ``route_venues`` (route: default every venue,
    ``venue`` first)."""
    from actors.strategy_execution import EXECUTIONS, PARAMS, ExecutionError, execution_of  # noqa: PLC0415 - late: keeps the CLI's --help fast

    algo = f.text("execution", "direct")
    if algo not in EXECUTIONS:
        raise f.error("execution", f"expected one of {', '.join(EXECUTIONS)}, got {algo!r}")
    params = f.table.get("execution_params", {})
    if not isinstance(params, dict):
        raise f.error("execution_params", f"expected a table such as {{ slices = 4, duration_s = 20 }}, got {params!r}")
    try:
        execution = execution_of(algo, params)
    except ExecutionError as exc:
        name = str(exc).removeprefix("exec-param ").split(":", 1)[0]
        raise f.error(f"execution_params.{name}" if name in params or name in PARAMS[algo] else "execution",
                      str(exc)) from None
    raw = f.table.get("route_venues")
    if raw is None:
        return execution, (venue, *(v for v in venues if v != venue)) if algo == "route" else ()
    if algo != "route":
        raise f.error("route_venues", f"applies to execution = \"route\" only (this strategy's is {algo!r})")
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw) or len(set(raw)) != len(raw):
        raise f.error("route_venues", f"expected distinct venue names such as [\"a\", \"b\"], got {raw!r}")
    unknown = [v for v in raw if v not in venues]
    if unknown:
        raise f.error("route_venues", f"{unknown[0]!r} is not one of the [[venues]] ({', '.join(venues)})")
    if venue not in raw:
        raise f.error("route_venues", f"must include the strategy's venue {venue!r} (its bars come from there)")
    return execution, (venue, *(v for v in raw if v != venue))


def _dataclass_section(cls: type, table: Any, where: str, source: str, extra: tuple[str, ...] = ()) -> tuple[Any, dict]:
    """``cls`` (a frozen dataclass of numbers/strings) from ``table``; the ``extra`` keys are returned apart."""
    names = tuple(fl.name for fl in fields(cls))
    f = _Fields(table, where, source, names + extra)
    values: dict[str, Any] = {}
    for fl in fields(cls):
        if not f.has(fl.name):
            continue
        kind = fl.type if isinstance(fl.type, str) else getattr(fl.type, "__name__", "")
        if kind == "str":
            values[fl.name] = f.text(fl.name)
        else:
            values[fl.name] = f.number(fl.name, integer=kind == "int", positive=False)
    try:
        made = cls(**values)
    except InputError as exc:
        bad = next((n for n in names if n in str(exc)), None)
        raise f.error(bad, str(exc)) from None
    return made, {k: f.table[k] for k in extra if k in f.table}


def parse_trade_config(data: Mapping[str, Any], source: str = "<toml>") -> TradeDeployment:
    """The deployment described by ``data`` (a parsed TOML document).

    Raises:
        TradeConfigError: naming ``source`` and the field at fault.
    """
    from actors.trading import Sizing, TradingConfig  # noqa: PLC0415 - late: keeps the CLI's --help fast
    from risk.pretrade import RiskLimits  # noqa: PLC0415 - late: keeps the CLI's --help fast

    top = _Fields(dict(data), "", source, ("deployment", "venues", "strategies", "sizing", "risk"))
    dep = _Fields(data.get("deployment", {}), "deployment", source,
                  ("journal", "namespace", "poll_s", "book_max_age_s", "max_reroutes"))
    journal = dep.text("journal", DEFAULT_JOURNAL)
    namespace = dep.text("namespace", "rt")
    if not (1 <= len(namespace) <= 11 and namespace.replace("_", "").isalnum() and namespace.isascii()):
        raise dep.error("namespace", f"expected 1..11 of A-Z a-z 0-9 _, got {namespace!r}")
    poll_s = dep.number("poll_s", 0.25)
    book_max_age_s = dep.number("book_max_age_s", 2.0, positive=False)
    if book_max_age_s < 0:
        raise dep.error("book_max_age_s", f"must be >= 0, got {book_max_age_s!r}")
    max_reroutes = dep.number("max_reroutes", 2, integer=True, positive=False)
    if not 0 <= max_reroutes <= 100:
        raise dep.error("max_reroutes", f"expected a whole number in 0..100, got {max_reroutes!r}")

    raw_venues = data.get("venues")
    if not isinstance(raw_venues, list) or not raw_venues:
        raise top.error("venues", "give at least one [[venues]] table")
    venues = tuple(_venue(t, i, source) for i, t in enumerate(raw_venues))
    names = tuple(v.name for v in venues)
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise top.error(f"venues[{names.index(dup, names.index(dup) + 1)}].name", f"{dup!r} is given twice")

    raw_strategies = data.get("strategies")
    if not isinstance(raw_strategies, list) or not raw_strategies:
        raise top.error("strategies", "give at least one [[strategies]] table")
    entries = tuple(_strategy(t, i, source, names) for i, t in enumerate(raw_strategies))
    keys = [(s.name, s.symbol, s.venue) for s in entries]
    for i, k in enumerate(keys):
        if k in keys[:i]:
            raise top.error(f"strategies[{i}]", f"{k[0]} on {k[1]} at {k[2]} is given twice")
    from actors.trading import position_clash  # noqa: PLC0415 - late: keeps the CLI's --help fast

    clash = position_clash([(s.venues, s.symbol) for s in entries])  # actors.deployment checks it again
    if clash is not None:
        j, i, v = clash
        raise top.error(f"strategies[{i}]", f"{entries[i].name} and strategies[{j}] ({entries[j].name}) both trade "
                                            f"{entries[i].symbol} on {v}: a runner sizes on the venue's whole "
                                            "position, so each symbol on a venue has one owner")
    unused = [n for n in names if not any(n in s.venues for s in entries)]
    if unused:
        raise top.error(f"venues[{names.index(unused[0])}]", f"venue {unused[0]!r} has no strategy")

    sizing, _ = _dataclass_section(Sizing, data.get("sizing", {}), "sizing", source)
    limits, extra = _dataclass_section(RiskLimits, data.get("risk", {}), "risk", source,
                                       extra=("max_loss", "flatten_on_kill"))
    risk = _Fields(extra, "risk", source, ("max_loss", "flatten_on_kill"))
    max_loss = risk.number("max_loss", None)
    flatten = risk.boolean("flatten_on_kill", False)
    deployment = TradeDeployment(venues=venues, strategies=entries, sizing=sizing, limits=limits, journal=journal,
                                 namespace=namespace, poll_s=poll_s, max_loss=max_loss, flatten_on_kill=flatten,
                                 source=source, book_max_age_s=book_max_age_s, max_reroutes=max_reroutes)
    try:  # the same checks the actors run (client-order-id namespace, stream name)
        TradingConfig(stream=journal, venues=names, namespace=namespace, limits=limits, sizing=sizing,
                      max_loss=max_loss, flatten_on_kill=flatten, poll_s=poll_s, book_max_age_s=book_max_age_s,
                      max_reroutes=max_reroutes,
                      taker_bps=tuple((v.name, v.taker_bps) for v in venues if v.taker_bps is not None))
    except InputError as exc:
        raise TradeConfigError(f"trade config {source}: {exc}") from None
    return deployment


def load_trade_config(path: str | Path) -> TradeDeployment:
    """Read and check the TOML file at ``path``.

    Raises:
        TradeConfigError: the file is missing, not TOML, or a field is invalid (named).
    """
    p = Path(path)
    return parse_trade_config(read_toml(p, "trade config", TradeConfigError), str(p))

