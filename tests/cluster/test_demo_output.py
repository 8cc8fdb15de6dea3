"""What `raytrader demo` prints about its time (cluster/commands/demo.py): the job's ``seconds`` is the whole job
(attach, research, exchange, paper, report), so the backtests' line says which part the research took and of what;
the whole run of the demo is tests/jobs/test_jobs.py."""

from __future__ import annotations

from cluster.commands.demo import format_demo


def _result(**extra: object) -> dict:
    row = {"symbol": "ETH/BTC", "bars": 5757, "total_return": 0.0118, "sharpe": 0.5, "max_drawdown": 0.02,
           "n_trades": 12}
    return {"strategy": "sma_cross", "params": {"fast": 12, "slow": 48}, "fees_bps": 10.0, "fill": "next bar open",
            "results": [row, {**row, "symbol": "LTC/BTC"}], "cluster": {"nodes": 1, "cpus": 2.0, "task_cpus": 0.5},
            "seconds": 57.25, **extra}


def test_the_backtests_line_gives_the_research_time_and_the_whole_jobs_apart() -> None:
    timings = {"attach_s": 1.5, "research_s": 21.04, "exchange_s": 11.3, "paper_s": 22.9, "report_s": 0.51}
    text = format_demo(_result(timings=timings))
    line = next(x for x in text.splitlines() if "backtests as Ray tasks" in x)
    assert line == ("2 backtests as Ray tasks (0.5 CPU each) on 1 node(s), 2 CPUs; "
                    "research 21.0 s of the job's 57.2 s")


def test_a_result_without_timings_names_the_whole_job() -> None:
    line = next(x for x in format_demo(_result()).splitlines() if "backtests as Ray tasks" in x)
    assert line.endswith("2 CPUs; the job 57.2 s")
