"""One backtest of a registered strategy on one bar series.

Runs the same code three ways:

* ``raytrader backtest --data FILE --strategy sma_cross -p fast=10 -p slow=30 --fees-bps 10 --json``
* ``python -m jobs.backtest ...`` (same flags), e.g. as a Ray job:
  ``ray job submit --address http://127.0.0.1:8265 -- python -m jobs.backtest --sample ETH-BTC-5m --json``
* :func:`run_backtest_request` from Python.

A single backtest is small, so it runs in the calling process (the job's
driver when submitted as a Ray job). Output: one JSON object with
``total_return``, ``sharpe``, ``max_drawdown``, ``n_trades`` and ``trades``
(``{entry_time, exit_time, entry_price, exit_price, side}``, ISO-8601 UTC,
``exit_time`` null for a position still open at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Sequence

from jobs._inputs import DEFAULT_SAMPLE, add_data_arguments, load_bars, parse_param
from market.errors import InputError

__all__ = ["BacktestRequest", "add_backtest_arguments", "request_from_args", "run_backtest_request", "main"]

@dataclass(frozen=True)
class BacktestRequest:
    """What to backtest. Exactly one of ``data`` (a file) and ``sample`` (a bundled sample name) is set."""

    strategy: str
    params: tuple[tuple[str, str], ...]
    data: str = ""
    sample: str = ""
    symbol: str | None = None
    timeframe: str | None = None
    fees_bps: float = 10.0
    fill: str = "open"
    cash: float = 10_000.0
    slippage_bps: float = 0.0
    slippage_k_bps: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    """The backtest flags, shared by ``raytrader backtest`` and ``python -m jobs.backtest``."""
    add_data_arguments(parser)
    parser.add_argument("--strategy", default="sma_cross", help="registered strategy (default sma_cross)")
    parser.add_argument("-p", "--param", dest="params", action="append", type=parse_param, default=[],
                        metavar="NAME=VALUE", help="strategy parameter, repeatable (e.g. -p fast=10 -p slow=30)")
    parser.add_argument("--fees-bps", type=float, default=10.0, help="fee in bps of notional, each side (default 10)")
    parser.add_argument("--fill", choices=("open", "close"), default="open",
                        help="open: signal on bar t's close fills at bar t+1's open (default); close: at bar t's close")
    parser.add_argument("--cash", type=float, default=10_000.0, help="starting cash (default 10000)")
    parser.add_argument("--slippage-bps", type=float, default=0.0, help="fixed adverse slippage per fill, bps (default 0)")
    parser.add_argument("--slippage-k-bps", type=float, default=0.0,
                        help="slippage in bps per unit of participation (order units / bar volume) (default 0)")
    parser.add_argument("--stop-loss", type=float, default=None, metavar="FRACTION",
                        help="exit when price moves this fraction against the entry (e.g. 0.02)")
    parser.add_argument("--take-profit", type=float, default=None, metavar="FRACTION",
                        help="exit when price moves this fraction in favour of the entry")
    parser.add_argument("--trailing-stop", type=float, default=None, metavar="FRACTION",
                        help="exit when price falls this fraction from the best price since entry")


def request_from_args(args: argparse.Namespace) -> BacktestRequest:
    return BacktestRequest(strategy=args.strategy, params=tuple(args.params), data=args.data or "",
                           sample=args.sample or ("" if args.data else DEFAULT_SAMPLE), symbol=args.symbol,
                           timeframe=args.timeframe, fees_bps=args.fees_bps, fill=args.fill, cash=args.cash,
                           slippage_bps=args.slippage_bps, slippage_k_bps=args.slippage_k_bps,
                           stop_loss=args.stop_loss, take_profit=args.take_profit, trailing_stop=args.trailing_stop)


def run_backtest_request(request: BacktestRequest) -> dict[str, Any]:
    """Load the bars, run the strategy and the engine; return the JSON-able result."""
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.engine import run_backtest  # noqa: PLC0415
    from backtest.metrics import summary  # noqa: PLC0415
    from backtest.trades import trade_to_json  # noqa: PLC0415
    from market.timeframe import timeframe_ms  # noqa: PLC0415
    from strategies.params import validate_params  # noqa: PLC0415
    from strategies.registry import get_strategy  # noqa: PLC0415

    started = time.perf_counter()
    strategy = get_strategy(request.strategy)
    params = validate_params(strategy, dict(request.params))
    bars = load_bars(request.data, request.sample, request.symbol, request.timeframe)
    target = strategy.run(bars, params)
    result = run_backtest(bars, target, fees_bps=request.fees_bps, fill=request.fill, cash=request.cash,
                          slippage_bps=request.slippage_bps, slippage_k_bps=request.slippage_k_bps,
                          stop_loss=request.stop_loss, take_profit=request.take_profit,
                          trailing_stop=request.trailing_stop)
    stats = summary(result, timeframe_ms(bars.timeframe))
    return {
        "strategy": strategy.name,
        "params": params,
        "symbol": bars.symbol,
        "timeframe": bars.timeframe,
        "source": request.data or f"sample:{request.sample}",
        "bars": len(bars),
        "fees_bps": request.fees_bps,
        "fill": request.fill,
        "slippage_bps": request.slippage_bps,
        "stops": {"stop_loss": request.stop_loss, "take_profit": request.take_profit,
                  "trailing_stop": request.trailing_stop},
        **stats,
        "trades": [trade_to_json(t) for t in result.trades],
        "seconds": round(time.perf_counter() - started, 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.backtest``: print one JSON object; exit 2 on bad input."""
    from cluster.cli import CommandParser  # noqa: PLC0415

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
