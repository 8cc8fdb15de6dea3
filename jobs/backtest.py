"""One backtest of a registered strategy on one bar series.

Runs the same code three ways:

* ``raytrader backtest --data FILE --strategy sma_cross -p fast=10 -p slow=30 --fees-bps 10 --json``
* ``python -m jobs.backtest ...`` (same flags), e.g. as a Ray job:
  ``ray job submit --address http://127.0.0.1:8265 -- python -m jobs.backtest --sample ETH-BTC-5m --json``
* :func:`plan_backtest` then :func:`run_backtest` from Python (request, plan, report), or
  :func:`run_backtest_request` for the JSON object in one call.

A single backtest is small, so it runs in the calling process (the job's
driver when submitted as a Ray job). Output: one JSON object with
``total_return``, ``cagr`` (over calendar time), ``sharpe``, ``sortino``,
``max_drawdown``, ``n_trades``, ``periods_per_year`` (the bars per year
used for Sharpe, Sortino and volatility: measured from the timestamps, or
``--periods-per-year``) with ``periods_per_year_source``, ``ruined_at``,
``ruined_at_time`` and ``ruin_shortfall`` (the bar index and ISO time at
which the account's equity reached 0 and was liquidated, null when it
survived; see "Ruin" in :mod:`backtest.engine`) and ``trades``
(``{entry_time, exit_time, entry_price, exit_price, side, exit_reason}``,
ISO-8601 UTC, ``exit_time`` null for a position still open at the end).

Multi-asset strategies (``pairs_trading``, ``xs_momentum``: registry
``max_assets != 1``) take several series: repeat ``--sample`` or ``--data``
(``--sample ETH-BTC-5m --sample LTC-BTC-5m``). The series are cut to their
common timestamps (never filled), the strategy's weight matrix runs through
the shared-cash engine :func:`backtest.portfolio.run_portfolio`, and the
output has the same keys plus ``symbols`` and ``assets`` (per asset:
``n_trades``, ``fills``, ``fees_paid``, ``traded``, ``exposure``); each
trade also names its ``symbol``. A trade there is one stretch of a
non-zero position of one sign in one asset (resizing inside it is not a new
trade); its prices are the fill prices at entry and exit. No slippage or
stops in that engine: those flags are refused (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from jobs.inputs import (SeriesRequest, add_data_arguments, add_strategy_arguments, data_fields, describe_source, load_request_bars,
                          load_request_series)
from raytrader.errors import InputError

__all__ = ["BacktestRequest", "BacktestPlan", "BacktestReport", "MultiSeriesError", "add_backtest_arguments",
           "request_from_args", "plan_backtest", "run_backtest", "run_backtest_request", "main"]


class MultiSeriesError(InputError):
    """The number of series (``--sample``/``--data``) or an option does not fit the strategy (the flag is named)."""

@dataclass(frozen=True, kw_only=True)
class BacktestRequest(SeriesRequest):
    """What to backtest. Exactly one of ``data`` (a file) and ``sample`` (a bundled sample name) is set."""

    strategy: str = field()  # required here (no default)
    data: str | tuple[str, ...] = ""  # one file, or several for a multi-asset strategy
    sample: str | tuple[str, ...] = ""  # one sample name, or several
    symbol: str | tuple[str, ...] | None = None  # one, or one per --data file; alone: a stored series
    params: tuple[tuple[str, str], ...]
    slippage_bps: float = 0.0
    slippage_k_bps: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    periods_per_year: float | None = None  # None: measured from the timestamps
    sizing: str = ""  # --sizing spec (backtest.sizing), e.g. "vol-target:0.2"; "" = the strategy's own targets


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    """The backtest flags, shared by ``raytrader backtest`` and ``python -m jobs.backtest``."""
    add_data_arguments(parser, multi=True)
    add_strategy_arguments(parser, axes="param")
    parser.add_argument("--slippage-bps", type=float, default=0.0, help="fixed adverse slippage per fill, bps (default 0)")
    parser.add_argument("--slippage-k-bps", type=float, default=0.0,
                        help="slippage in bps per unit of participation (order units / bar volume) (default 0)")
    parser.add_argument("--stop-loss", type=float, default=None, metavar="FRACTION",
                        help="exit when price moves this fraction against the entry (e.g. 0.02)")
    parser.add_argument("--take-profit", type=float, default=None, metavar="FRACTION",
                        help="exit when price moves this fraction in favour of the entry")
    parser.add_argument("--trailing-stop", type=float, default=None, metavar="FRACTION",
                        help="exit when price falls this fraction from the best price since entry")
    parser.add_argument("--sizing", default="", metavar="SPEC",
                        help="scale the strategy's targets: fixed:W, vol-target:SIGMA[,lam=,max=,warmup=,ppy=], "
                             "kelly:FRACTION[,window=,cap=] (one asset), risk-parity[,window=,every=] (several); "
                             "bar t uses data up to t only (see backtest.sizing)")


def request_from_args(args: argparse.Namespace) -> BacktestRequest:
    return BacktestRequest(strategy=args.strategy, params=tuple(args.params), **data_fields(args),
                           fees_bps=args.fees_bps, fill=args.fill, cash=args.cash,
                           slippage_bps=args.slippage_bps, slippage_k_bps=args.slippage_k_bps,
                           stop_loss=args.stop_loss, take_profit=args.take_profit, trailing_stop=args.trailing_stop,
                           periods_per_year=args.periods_per_year, sizing=getattr(args, "sizing", "") or "")


@dataclass(frozen=True)
class BacktestPlan:
    """A validated backtest: the strategy (sized when ``--sizing`` is given), its checked parameters and the
    bars: one series, or for a multi-asset strategy the series cut to their common timestamps."""

    request: BacktestRequest
    strategy: Any
    params: dict[str, Any]
    series: tuple[Any, ...]  # market.bars.Bars; one unless the strategy is multi-asset (then aligned)

    @property
    def multi(self) -> bool:
        return bool(self.strategy.multi_asset)


def plan_backtest(request: BacktestRequest) -> BacktestPlan:
    """Validate the request and load its bars (no Ray).

    Raises:
        InputError: an unknown strategy or parameter, bad data, or a flag the strategy's engine does not take
            (:class:`MultiSeriesError` names the flag).
    """
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from strategies.params import validate_params  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    strategy = get_strategy(request.strategy)
    params = validate_params(strategy, dict(request.params))
    if request.sizing:
        from backtest.sizing import parse_sizing, sized_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast

        strategy = sized_strategy(strategy, parse_sizing(request.sizing))
    datas, samples = _names(request.data), _names(request.sample)
    if strategy.multi_asset:
        return BacktestPlan(request, strategy, params, _plan_multi(request, strategy, params, datas, samples))
    if len(datas) + len(samples) > 1:
        raise MultiSeriesError(f"--sample/--data: strategy {strategy.name!r} takes one series, got "
                               f"{len(datas) + len(samples)}; the multi-asset strategies take several")
    return BacktestPlan(request, strategy, params, (load_request_bars(request),))


@dataclass(frozen=True)
class BacktestReport:
    """A finished backtest: the engine's result (``backtest.engine.BacktestResult``, or for several series
    ``backtest.portfolio.PortfolioResult`` over ``panel``), its metrics (``backtest.metrics.summary``), the
    trades as JSON rows, and the wall time in seconds (planning included)."""

    plan: BacktestPlan
    result: Any
    metrics: dict[str, Any]
    trades: tuple[dict[str, Any], ...]
    seconds: float
    panel: Any = None  # multi-asset: the aligned backtest.portfolio.Panel
    assets: tuple[dict[str, Any], ...] = ()  # multi-asset: per symbol n_trades, fills, fees_paid, traded, exposure

    def to_json(self) -> dict[str, Any]:
        """The job's JSON object (see the module docstring for its keys)."""
        from backtest.trades import ms_to_iso  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        plan, request, res = self.plan, self.plan.request, self.result
        stats = dict(self.metrics)
        ruined_ms = stats.pop("ruined_at_ms")
        ruined_time = None if ruined_ms is None else ms_to_iso(ruined_ms)
        head = {"strategy": plan.strategy.name.partition("@")[0], "params": plan.params}
        if not plan.multi:
            bars = plan.series[0]
            return {**head, "symbol": bars.symbol, "timeframe": bars.timeframe, "source": describe_source(request),
                    "bars": len(bars), "fees_bps": request.fees_bps, "fill": request.fill,
                    "slippage_bps": request.slippage_bps, "sizing": request.sizing or None,
                    "stops": {"stop_loss": request.stop_loss, "take_profit": request.take_profit,
                              "trailing_stop": request.trailing_stop},
                    **stats, "ruined_at_time": ruined_time, "ruin_shortfall": res.ruin_shortfall,
                    "trades": list(self.trades), "seconds": self.seconds}
        return {**head, "symbol": "+".join(self.panel.symbols), "symbols": list(self.panel.symbols),
                "timeframe": plan.series[0].timeframe, "source": describe_source(request), "bars": len(plan.series[0]),
                "fees_bps": request.fees_bps, "fill": request.fill, "cash": request.cash,
                "sizing": request.sizing or None, **stats, "ruined_at_time": ruined_time,
                "ruin_shortfall": res.ruin_shortfall, "fees_paid": res.fees_paid, "n_trades": len(self.trades),
                "assets": list(self.assets), "trades": list(self.trades), "seconds": self.seconds}

    def equity_input(self, shown: dict[str, Any]) -> Any:
        """The per-bar series the HTML report draws (``backtest.report.EquityInput``); ``shown`` is the JSON
        object whose metrics the report lists (this run's, or the recorded run's)."""
        import numpy as np  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        from backtest.report import EquityInput  # noqa: PLC0415 - plotly loads when a report is drawn

        res = self.result
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.plan.multi:
                exposure = np.where(res.equity > 0, np.abs(res.units * self.panel.close).sum(axis=1) / res.equity,
                                    0.0)
            else:
                exposure = np.where(res.equity > 0, res.units * np.asarray(self.plan.series[0].close) / res.equity,
                                    0.0)
        if self.plan.multi:
            sign = {"long": 1.0, "short": -1.0}
            trade_returns = np.array([sign[t["side"]] * (t["exit_price"] / t["entry_price"] - 1.0)
                                      for t in shown.get("trades", []) if t.get("exit_price")])
        else:
            closed = res.trade_records[res.trade_records["exit_time"] >= 0]
            trade_returns = np.asarray(closed["ret"], dtype=np.float64)
        return EquityInput(timestamp=np.asarray(res.timestamp), equity=np.asarray(res.equity),
                           initial_cash=float(res.initial_cash), exposure=exposure, trade_returns=trade_returns,
                           periods_per_year=float(shown.get("periods_per_year") or 365.0), metrics=shown,
                           title=f"{shown.get('strategy')} on {shown.get('symbol')}")


def run_backtest(plan: BacktestPlan, started: float | None = None) -> BacktestReport:
    """Run the planned strategy through the engine (one series) or the shared-cash portfolio engine (several).

    ``started``: a ``time.perf_counter()`` reading the report's ``seconds`` count from (default: now).
    """
    from backtest.engine import run_backtest as engine_backtest  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.metrics import summary  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.trades import trade_to_json  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from market.timeframe import timeframe_ms  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter() if started is None else started
    request = plan.request
    if plan.multi:
        return _run_multi(plan, started)
    bars = plan.series[0]
    target = plan.strategy.run(bars, plan.params)
    result = engine_backtest(bars, target, fees_bps=request.fees_bps, fill=request.fill, cash=request.cash,
                             slippage_bps=request.slippage_bps, slippage_k_bps=request.slippage_k_bps,
                             stop_loss=request.stop_loss, take_profit=request.take_profit,
                             trailing_stop=request.trailing_stop)
    stats = summary(result, timeframe_ms(bars.timeframe), periods_per_year=request.periods_per_year)
    trades = tuple({**trade_to_json(t), "exit_reason": t.exit_reason} for t in result.trades)
    return BacktestReport(plan, result, stats, trades, round(time.perf_counter() - started, 4))


def run_backtest_request(request: BacktestRequest) -> dict[str, Any]:
    """Plan and run ``request`` in this process; its JSON object (what a Ray task or a caller in Python wants)."""
    started = time.perf_counter()
    return run_backtest(plan_backtest(request), started).to_json()


def _names(value: str | Sequence[str]) -> list[str]:
    """``--data``/``--sample`` as a list: one string (possibly empty) or several."""
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v]


def _plan_multi(request: BacktestRequest, strategy: Any, params: dict[str, Any], datas: list[str],
                samples: list[str]) -> tuple[Any, ...]:
    """The series of a multi-asset strategy, checked and cut to their common timestamps."""
    from strategies.align import align_series  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    for flag, value in (("--slippage-bps", request.slippage_bps), ("--slippage-k-bps", request.slippage_k_bps)):
        if value:
            raise MultiSeriesError(f"{flag}: the multi-asset (shared-cash) engine has no slippage model")
    for flag, value in (("--stop-loss", request.stop_loss), ("--take-profit", request.take_profit),
                        ("--trailing-stop", request.trailing_stop)):
        if value is not None:
            raise MultiSeriesError(f"{flag}: the multi-asset (shared-cash) engine has no stops")
    count = len(datas) + len(samples) or len(_names(request.symbol or ""))
    hi = strategy.max_assets
    if count < strategy.min_assets or (hi is not None and count > hi):
        want = f"exactly {hi}" if hi == strategy.min_assets else (
            f"at least {strategy.min_assets}" if hi is None else f"{strategy.min_assets} to {hi}")
        raise MultiSeriesError(f"--sample/--data: strategy {strategy.name!r} needs {want} series, got {count} "
                               "(repeat --sample NAME or --data FILE)")
    series = load_request_series(request)
    frames = {b.timeframe for b in series}
    if len(frames) != 1:
        raise MultiSeriesError(f"--sample/--data: the series have different timeframes {sorted(frames)}")
    symbols = [b.symbol for b in series]
    if len(set(symbols)) != len(symbols):
        raise MultiSeriesError(f"--sample/--data: a series is given twice ({', '.join(symbols)})")
    aligned = align_series(series)
    n = len(aligned[0])
    needed = int(strategy.min_bars(params))
    if n < needed:
        raise MultiSeriesError(f"--sample/--data: the series share only {n} timestamps; strategy {strategy.name!r} "
                               f"needs at least {needed} common bars")
    return tuple(aligned)


def _run_multi(plan: BacktestPlan, started: float) -> BacktestReport:
    """A multi-asset strategy on its aligned series through the shared-cash portfolio engine."""
    import numpy as np  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from backtest import metrics  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.portfolio import align_bars as to_panel  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.portfolio import run_portfolio  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.trades import ms_to_iso  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    request, aligned = plan.request, list(plan.series)
    n = len(aligned[0])
    weights = plan.strategy.run(aligned, plan.params)
    panel = to_panel(aligned)
    res = run_portfolio(panel, weights, fees_bps=request.fees_bps, fill=request.fill, cash=request.cash)
    curve = np.concatenate([[res.initial_cash], res.equity])
    stats = metrics.equity_summary(curve, panel.timestamp, panel.timeframe_ms,
                                   periods_per_year=request.periods_per_year)
    prices = panel.close if request.fill == "close" else panel.open
    trades, assets = [], []
    for j, sym in enumerate(panel.symbols):
        sign = np.sign(res.units[:, j])
        count_j = 0
        entry = None
        for t in range(n):
            prev = sign[t - 1] if t else 0.0
            if sign[t] == prev:
                continue
            if entry is not None:  # the open stretch ends (flat or flipped) at this fill
                liquidated = t == res.ruined_at
                trades.append({**entry, "exit_time": ms_to_iso(int(panel.timestamp[t])),
                               "exit_price": float(res.ruin_prices[j] if liquidated else prices[t, j]),
                               "exit_reason": "liquidation" if liquidated else "signal"})
                entry = None
            if sign[t] != 0:
                count_j += 1
                entry = {"symbol": sym, "entry_time": ms_to_iso(int(panel.timestamp[t])),
                         "entry_price": float(prices[t, j]), "side": "long" if sign[t] > 0 else "short"}
        if entry is not None:
            trades.append({**entry, "exit_time": None, "exit_price": None, "exit_reason": "open"})
        assets.append({"symbol": sym, "n_trades": count_j, "fills": int(res.n_fills[j]),
                       "fees_paid": float(res.fees[:, j].sum()), "traded": float(res.traded[:, j].sum()),
                       "exposure": float(np.mean(res.units[:, j] != 0.0))})
    trades.sort(key=lambda tr: (tr["entry_time"], tr["symbol"]))
    return BacktestReport(plan, res, stats, tuple(trades), round(time.perf_counter() - started, 4), panel=panel,
                          assets=tuple(assets))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.backtest``: print one JSON object; exit 2 on bad input."""
    from raytrader.cli import CommandParser  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    parser = CommandParser(prog="python -m jobs.backtest", description=__doc__.splitlines()[0])
    add_backtest_arguments(parser)
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = parser.parse_args(argv)
    try:
        result = run_backtest_request(request_from_args(args))
    except InputError as exc:
        sys.stderr.write(f"jobs.backtest: error: {' '.join(str(exc).split())}\n")
        return 2
    sys.stdout.write(json.dumps(result, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
