"""The demo Ray job: backtests, and a quantum portfolio selection, as parallel Ray tasks.

* one SMA-crossover backtest per bundled alt/BTC pair (ten tasks);
* a walk-forward sweep of sma_cross on the same ten pairs: parameters chosen
  in-sample on 10 days, reported out-of-sample on the next 4 windows (40 tasks);
* one portfolio selection on the bundled 20-stock data: QAOA and CVaR-VQE on
  Qiskit Aer beside the exact (brute-force) optimum (one task);
* two emulated venues on loopback, one in the Binance and one in the
  Coinbase Exchange API dialect, with one ExchangeActor each (real ccxt):
  market data streamed with sequence numbers, a few orders placed and
  cancelled on both, the fills (``jobs.demo_exchange``);
* a short paper-trading session (``jobs.paper_trade``): sma_cross on the
  bundled XRP/ETH minute bars replayed on the same two venue dialects, through the
  StrategyRunner, the OMS's pre-trade risk check and Redis journal, and the
  PortfolioActor; it ends with PnL, orders by state and the check of the
  journal against the venues' own order books (``--paper-seconds 0`` skips it).

Submitted by ``raytrader demo`` through the Jobs API, or by hand::

    ray job submit --address http://127.0.0.1:8265 -- python -m jobs.demo --json

Prints one JSON object (its last stdout line): the strategy, its parameters
and, per pair, total return, Sharpe, max drawdown and trade count; the
``walkforward`` out-of-sample table; the ``quantum`` selection result; the
``exchange`` summary (per venue: streams, orders, fills, balances); the
``paper`` session summary (see :func:`jobs.paper_trade.paper_trade`); the
cluster's node and CPU count as the job saw them; ``timings``: seconds per
phase (``attach_s`` Ray import and attach, ``research_s`` backtests,
walk-forward and selection, ``exchange_s``, ``paper_s`` when it ran,
``report_s``) and ``seconds``, their sum (from ``main``'s start, after the
interpreter and the job module loaded).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Sequence

from jobs.backtest import BacktestRequest, run_backtest_request
from jobs.demo_parts import demo_samples
from raytrader.errors import InputError

__all__ = ["main"]

#: CPUs each backtest task asks for: 4 run at once on a 2-CPU node.
TASK_CPUS = 0.5


def _compact(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("symbol", "timeframe", "bars", "total_return", "sharpe", "max_drawdown", "n_trades", "seconds")
    return {k: result[k] for k in keep}


def main(argv: Sequence[str] | None = None) -> int:
    from raytrader.cli import CommandParser  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    parser = CommandParser(prog="python -m jobs.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--fast", type=int, default=12, help="fast SMA window in bars (default 12 = 1 hour)")
    parser.add_argument("--slow", type=int, default=48, help="slow SMA window in bars (default 48 = 4 hours)")
    parser.add_argument("--fees-bps", type=float, default=10.0, help="fee in bps of notional, each side")
    parser.add_argument("--paper-seconds", type=float, default=20.0,
                        help="seconds of the paper-trading session (default 20; 0 skips it)")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = parser.parse_args(argv)
    if not (args.paper_seconds == 0 or 1 <= args.paper_seconds <= 3600):
        parser.error(f"--paper-seconds: expected 0 (skip) or 1..3600, got {args.paper_seconds:g}")

    started = time.perf_counter()
    marks: dict[str, float] = {}

    def mark(phase: str) -> None:
        """Seconds since the previous mark (or ``started``) under ``phase``."""
        marks[phase] = round(time.perf_counter() - started - sum(marks.values()), 3)

    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    ray.init(address="auto", log_to_driver=False)
    mark("attach_s")
    samples = demo_samples()
    requests = [BacktestRequest(strategy="sma_cross", params=(("fast", str(args.fast)), ("slow", str(args.slow))),
                                sample=name, fees_bps=args.fees_bps) for name in samples]
    from jobs.demo_parts import demo_selection, demo_walkforward  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from jobs.resources import gather, plan_tasks  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    try:
        # sized to the CPUs free now (a Serve replica may hold some): a task asking for more waits silently
        quantum_cpus = plan_tasks(1.0, what="demo")
        quantum_ref = ray.remote(num_cpus=quantum_cpus)(demo_selection).remote()
        task_cpus = plan_tasks(TASK_CPUS, what="demo")
        task = ray.remote(num_cpus=task_cpus)(run_backtest_request)
        refs = [task.remote(r) for r in requests]
        walkforward = demo_walkforward(fees_bps=args.fees_bps)
        results = gather(refs, what="demo backtests", task_cpus=task_cpus)
        [quantum] = gather([quantum_ref], what="demo quantum selection", task_cpus=quantum_cpus)
        mark("research_s")
        from jobs.demo_exchange import demo_exchange  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        exchange = demo_exchange()
        mark("exchange_s")
        paper = None
        if args.paper_seconds:
            from jobs.paper_trade import PaperRequest, paper_trade  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

            paper = paper_trade(PaperRequest(seconds=args.paper_seconds, speed=600.0))
            mark("paper_s")
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause()
        if isinstance(cause, InputError):
            sys.stderr.write(f"jobs.demo: error: {cause}\n")
            return 2
        raise
    except InputError as exc:  # no CPUs free (jobs.resources names the holders)
        sys.stderr.write(f"jobs.demo: error: {exc}\n")
        return 2
    resources = ray.cluster_resources()
    out = {
        "job": "demo",
        "strategy": "sma_cross",
        "params": {"fast": args.fast, "slow": args.slow},
        "fees_bps": args.fees_bps,
        "fill": "next bar open",
        "results": [_compact(r) for r in results],
        "walkforward": walkforward,
        "quantum": quantum,
        "exchange": exchange,
        "paper": paper,
        "cluster": {"nodes": len([n for n in ray.nodes() if n["Alive"]]), "cpus": resources.get("CPU", 0.0),
                    "task_cpus": task_cpus},
        "timings": marks,
    }
    mark("report_s")
    out["seconds"] = round(sum(marks.values()), 3)
    sys.stdout.write(json.dumps(out, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
