"""What a paper session's run record keeps of its journal, so its report draws without the journal stream.

``raytrader paper`` runs are recorded (:mod:`cluster.commands.runs`); the
session's journal stream stays in the cluster's Redis, but Redis may be
restarted or the stream trimmed, so the record keeps a copy of what the
report draws from it (:func:`journal_copy`, a JSON object, bounded in size):

* ``equity``: the session's account marked to market at each bar close of
  the replayed sample, from the session's start to its end (:func:`paper_equity`):
  ``timestamp`` (bar open, int64 ms UTC), ``equity`` (quote currency),
  ``exposure`` (signed position value over all venues / equity), the closing
  fills' ``trade_returns`` and the ``metrics`` a backtest report lists
  (:func:`backtest.metrics.equity_summary` of the same curve);
* ``execution``: :func:`jobs.execution_report.execution_report` of the journal
  (per venue, order type, algorithm, strategy, parent; each order's numbers);
* ``stream``, ``entries``, ``fills``: which journal, how many entries and fills.

The bars drawn run from the session's start to its end in market time (the
replay's clock): the journal's entries carry wall-clock times, each fill
also the venue's trade time on the replay clock, which runs ``speed`` x
wall time; so :func:`market_span` maps the journal's first and last entry
onto the replay clock through its fills (the median of ``trade time -
speed x entry time`` over the fills). The replay runs from the moment the
emulators start, before the actors are up; the session trades for its last
``seconds`` (the summary's), so the bars start ``seconds x speed`` before the
journal's last entry (not before its first entry nor the sample's bar
``warmup_bars``). A session without fills starts at bar ``warmup_bars`` and
lasts ``seconds x speed``.

How the curve is made: the journal's fills, each venue's with that venue's
prices, are booked in their venue time order into an :class:`actors.ledger.Ledger`
(the fold the PortfolioActor uses); a fill whose trade time falls in a bar is
booked before that bar's close; after each bar every venue's position is
marked at the sample's close shifted by the venue's price offset
(``offsets_bps``: the emulator replays the sample that much dearer). Equity =
the session's starting capital + realised + unrealised PnL − fees paid (fees
valued in the quote currency). The starting capital is the session's deposits
valued at the first bar's close: ``deposits`` from the summary when it has them,
else ``cash`` quote plus the same value in base on each venue
(:class:`jobs.paper_trade.PaperRequest`). A trade return is a closing fill's
realised PnL less its fee over the entry notional it closed.

Pure: no Ray, no Redis (the caller reads the journal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Iterable, Sequence

import numpy as np

from actors.journal import EntryKind, JournalEntry
from actors.ledger import Ledger, split_symbol
from actors.messages import Fill
from jobs.execution_report import execution_report, fee_in_quote
from raytrader.errors import InputError

__all__ = ["PaperEquity", "PaperRecordError", "paper_equity", "market_span", "journal_copy", "MAX_POINTS",
           "MAX_ORDERS"]

#: bars kept in a record's equity series (a longer session is thinned to its every k-th bar close)
MAX_POINTS = 5000
#: orders kept in a record's per-order execution detail (the newest)
MAX_ORDERS = 5000


class PaperRecordError(InputError):
    """The session's summary lacks what its equity curve needs (the field is named)."""


@dataclass(frozen=True)
class PaperEquity:
    """The session's account per bar (module docstring). Arrays have one value per bar."""

    timestamp: np.ndarray
    equity: np.ndarray
    exposure: np.ndarray
    trade_returns: np.ndarray
    capital: float
    timeframe_ms: int


def _default(name: str) -> Any:
    from jobs.paper_trade import PaperRequest  # noqa: PLC0415 - its defaults only; keeps this module light

    return next(f.default for f in fields(PaperRequest) if f.name == name)


def _capital(summary: dict[str, Any], deposit_close: float, first_close: float, offsets: dict[str, float]) -> float:
    """The deposits valued at ``first_close`` (each venue at its offset); without ``deposits`` in the summary,
    the session's: ``cash`` quote and ``cash / deposit_close`` base (the close of bar ``warmup_bars``)."""
    base, quote = split_symbol(summary["symbol"])
    deposits = summary.get("deposits")
    if not deposits:
        cash = float(_default("cash"))
        deposits = {v: {quote: cash, base: cash / deposit_close} for v in summary["venues"]}
    return float(sum(d.get(quote, 0.0) + d.get(base, 0.0) * first_close * (1 + offsets.get(v, 0.0) / 1e4)
                     for v, d in deposits.items()))


def market_span(entries: Sequence[JournalEntry], speed: float) -> tuple[int, int] | None:
    """The journal's first and last entry on the replay clock (market ms, module docstring); None without fills."""
    origins = sorted(e.payload.timestamp_ms - e.ts_ms * speed for e in entries if e.kind is EntryKind.FILL)
    if not origins:
        return None
    origin = origins[len(origins) // 2]
    return int(origin + entries[0].ts_ms * speed), int(origin + entries[-1].ts_ms * speed)


def paper_equity(fills: Sequence[Fill], summary: dict[str, Any], bar_ts: np.ndarray, bar_close: np.ndarray,
                 timeframe_ms: int, span: tuple[int, int] | None = None) -> PaperEquity:
    """The session's equity per bar (module docstring) from its fills and the replayed sample's bars.

    ``summary``: the session's summary (``symbol``, ``venues``, ``offsets_bps``, ``speed``, ``seconds``;
    ``warmup_bars`` and ``deposits`` when it has them). ``span``: the session's first and last moment in
    market ms (:func:`market_span`): the bars run from ``seconds * speed`` before its end (not before its
    start) to its end; without it, from the sample's bar ``warmup_bars`` for ``seconds * speed``. The bars never
    start before bar ``warmup_bars`` and always reach the last fill.
    """
    for name in ("symbol", "venues", "speed", "seconds"):
        if name not in summary:
            raise PaperRecordError(f"{name}: the paper session's summary has no {name!r}")
    offsets = {v: float(x) for v, x in (summary.get("offsets_bps") or {}).items()}
    warmup = int(summary.get("warmup_bars", _default("warmup_bars")))
    ts, close = np.asarray(bar_ts, dtype=np.int64), np.asarray(bar_close, dtype=np.float64)
    start = warm = min(warmup, ts.size - 1)
    trading_ms = float(summary["seconds"]) * float(summary["speed"]) * 1000.0
    end_ms = ts[start] + trading_ms
    if span is not None:
        begin = max(span[0], span[1] - trading_ms)
        start = min(max(start, int(np.searchsorted(ts, begin, side="right")) - 1), ts.size - 1)
        end_ms = span[1]
    deposit_close = float(close[warm])
    ordered = sorted(fills, key=lambda f: (f.timestamp_ms, f.venue, f.trade_id))
    if ordered:
        end_ms = max(end_ms, ordered[-1].timestamp_ms)
    stop = int(np.searchsorted(ts, end_ms, side="right"))
    ts, close = ts[start:max(stop, start + 2)], close[start:max(stop, start + 2)]
    symbol = summary["symbol"]
    venues = list(summary["venues"])
    capital = _capital(summary, deposit_close, float(close[0]), offsets)
    ledger = Ledger()
    equity, exposure = np.empty(ts.size), np.empty(ts.size)
    trade_returns: list[float] = []
    fees = 0.0
    k = 0
    for i in range(ts.size):
        while k < len(ordered) and (ordered[k].timestamp_ms < ts[i] + timeframe_ms or i == ts.size - 1):
            f = ordered[k]
            k += 1
            before = ledger.position(f.venue, f.symbol)
            if not ledger.apply_fill(f):
                continue
            fee = fee_in_quote(f) or 0.0
            fees += fee
            after = ledger.position(f.venue, f.symbol)
            if before.qty and (before.qty > 0) != (f.side == "buy"):  # it closed some of the position
                closed = min(abs(before.qty), f.amount)
                trade_returns.append((after.realized_pnl - before.realized_pnl - fee * closed / f.amount)
                                     / (closed * before.avg_price))
        value = 0.0
        for v in venues:
            mark = float(close[i]) * (1 + offsets.get(v, 0.0) / 1e4)
            ledger.mark(v, symbol, mark)
            value += ledger.position(v, symbol).qty * mark
        pnl = sum(p.total for p in ledger.pnl_total().values())
        equity[i] = capital + pnl - fees
        exposure[i] = value / equity[i] if equity[i] > 0 else 0.0
    return PaperEquity(ts, equity, exposure, np.asarray(trade_returns, dtype=np.float64), capital, int(timeframe_ms))


def _finite(x: Any) -> Any:
    """JSON without NaN/inf (a run record is strict JSON): non-finite floats become None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _equity_json(eq: PaperEquity, summary: dict[str, Any]) -> dict[str, Any]:
    from backtest.metrics import equity_summary, periods_per_year  # noqa: PLC0415 - the backtest package (numba) loads only when a copy is made

    ppy = periods_per_year(eq.timeframe_ms)
    metrics = {k: summary.get(k) for k in ("strategy", "params", "symbol") if k in summary}
    metrics.update(equity_summary(np.concatenate([[eq.capital], eq.equity]), eq.timestamp, eq.timeframe_ms,
                                  periods_per_year=ppy))
    tr = eq.trade_returns
    metrics.update({"source": f"paper session on {', '.join(summary.get('venues', []))} ({summary.get('sample')})",
                    "bars": int(eq.timestamp.size), "n_trades": int(tr.size),
                    "win_rate": float((tr > 0).mean()) if tr.size else None,
                    "exposure": float(np.mean(eq.exposure != 0.0))})
    step = max(1, math.ceil(eq.timestamp.size / MAX_POINTS))
    keep = np.arange(eq.timestamp.size)[step - 1::step] if step > 1 else np.arange(eq.timestamp.size)
    if keep[-1] != eq.timestamp.size - 1:
        keep = np.append(keep, eq.timestamp.size - 1)
    return {"timestamp": eq.timestamp[keep].tolist(), "equity": eq.equity[keep].tolist(),
            "exposure": eq.exposure[keep].tolist(), "trade_returns": tr.tolist(), "initial_cash": eq.capital,
            "periods_per_year": ppy / step, "every_nth_bar": step, "metrics": metrics}


def journal_copy(entries: Iterable[JournalEntry], summary: dict[str, Any], bar_ts: np.ndarray,
                 bar_close: np.ndarray, timeframe_ms: int, *, chain_ok: bool | None = None) -> dict[str, Any]:
    """What the run record keeps of the session's journal (module docstring); strict JSON."""
    entries = list(entries)
    fills = [e.payload for e in entries if e.kind is EntryKind.FILL]
    execution = execution_report(entries).to_json()
    execution["orders_detail"] = execution["orders_detail"][-MAX_ORDERS:]
    span = market_span(entries, float(summary["speed"])) if "speed" in summary else None
    eq = paper_equity(fills, summary, bar_ts, bar_close, timeframe_ms, span)
    return _finite({"stream": summary.get("journal_stream"), "entries": len(entries), "fills": len(fills),
                    "chain_ok": chain_ok, "equity": _equity_json(eq, summary), "execution": execution})
