"""``raytrader backtest``: one backtest, in this process (see ``jobs.backtest``)."""

from __future__ import annotations

import argparse

from raytrader.cli import Output, add_command
from raytrader.config import Config
from cluster.commands.report import add_report_flag
from jobs.backtest import add_backtest_arguments, request_from_args, run_backtest_request

__all__ = ["register", "format_result"]


def format_result(r: dict) -> str:
    """Human summary of a backtest result (the JSON of ``jobs.backtest``)."""
    params = " ".join(f"{k}={v}" for k, v in r["params"].items())
    lines = [
        f"{r['strategy']} {params} on {r['symbol']} {r['timeframe']} ({r['bars']} bars, {r['source']})",
        f"  total return {r['total_return']:+.2%}   sharpe {r['sharpe']:.2f}   "
        f"max drawdown {r['max_drawdown']:.2%}   trades {r['n_trades']}   fees {r['fees_bps']:g} bps",
    ]
    if "periods_per_year" in r:
        cagr = "n/a" if r["cagr"] is None else f"{r['cagr']:+.2%}"
        lines.append(f"  cagr {cagr} over {r['years']:.2f} calendar years   sortino {r['sortino']:.2f}   "
                     f"periods/year {r['periods_per_year']:,.2f} ({r['periods_per_year_source']})")
    if r.get("sizing"):
        lines.append(f"  sizing {r['sizing']}")
    if r.get("ruined_at") is not None:
        lines.append(f"  RUINED at bar {r['ruined_at']} ({r['ruined_at_time']}): equity reached 0, positions "
                     f"liquidated, no trades after; shortfall {r['ruin_shortfall']:.2f} not carried")
    for a in r.get("assets", []):
        lines.append(f"  {a['symbol']:12s} trades {a['n_trades']:4d}  fills {a['fills']:4d}  "
                     f"fees {a['fees_paid']:.2f}  exposure {a['exposure']:.1%}")
    for t in r["trades"][:5]:
        exit_txt = f"{t['exit_time']} @ {t['exit_price']:.8g}" if t["exit_time"] else "open"
        who = f"{t['symbol']} " if "symbol" in t else ""
        lines.append(f"  {who}{t['side']:5s} {t['entry_time']} @ {t['entry_price']:.8g} -> {exit_txt}")
    if len(r["trades"]) > 5:
        lines.append(f"  ... {len(r['trades']) - 5} more trades (--json for all)")
    return "\n".join(lines)


def _backtest(args: argparse.Namespace, config: Config) -> Output:
    from cluster.commands.sweep import apply_research_defaults  # noqa: PLC0415 - late: keeps the CLI and --help fast

    result = run_backtest_request(request_from_args(apply_research_defaults(args, config)))
    return Output(data=result, text=format_result(result))


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "backtest", _backtest, "backtest one strategy on one bar series (several for multi-asset strategies)")
    add_backtest_arguments(parser)
    add_report_flag(parser, "backtest")
    # not given -> the config's [research] value (strategy, -p, fees, cash, fill), whose defaults are the old ones
    parser.set_defaults(**{f: None for f in ("strategy", "fees_bps", "cash", "fill") if any(a.dest == f for a in parser._actions)})
