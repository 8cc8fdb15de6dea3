"""Recovery time of the trading actors after a SIGKILL, per actor type (issue 13's benchmark).

A private raytrader cluster (``cluster.lifecycle.up`` in a temp run folder on free ports: Ray head and the
journal's redis-server, ``appendfsync always``) runs a paper session (:class:`jobs.paper_trade.PaperSession`:
two emulated Binance-dialect venues replaying the bundled ALT/BTC 1-minute bars at ``--speed`` x,
``sma_cross`` 2/3, which trades about every 2.7 bars), the same session as the crash test
(``tests/jobs/test_paper_crash.py``), killed and timed by the same code (:mod:`jobs.crash_drill`). Then,
``--kills`` times per type, in turn (exchange, oms, portfolio, risk, strategy runner; the venue of an
exchange or runner drawn from a seeded generator), after a seeded-random pause of 0.2-2 s: the actor's OS
process (PID from Ray's state API) gets ``SIGKILL``, and two times are taken from the kill:

* **answers**: the restarted actor answers ``ping`` from a new PID (Ray's restart, the actor's rebuild from
  the journal; the OMS's reconciliation with both venues happens after this);
* **trading again**: a new order of ours reached the venue(s) the actor serves (the killed exchange's or
  runner's venue, else either) after the actor answered: the emulator's own order book, not our view.

Medians and maxima per type go to ``benchmarks/RESULTS.md`` (section ``recovery``). At the end the session's
books are checked as in the crash test (none lost, none duplicated, balances equal), so the numbers are of a
recovery that was correct. Usage: ``.venv/bin/python -m benchmarks.recovery [--kills 4] [--speed 900]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._results import machine_line, write_section
from raytrader.ports import free_port_block, free_ports

SAMPLE = "ALT-BTC-1m"  # 13,681 one-minute bars: at x900 the replay outlasts the kills (as in the crash test)
VENUES = ("binance", "binanceus")


def _env(home: Path) -> dict[str, str]:
    """A private cluster's settings: run folder ``home``, free pairwise-distinct ports."""
    serve = free_port_block(11)
    gcs, dashboard, client, agent = free_ports(4, exclude=range(serve, serve + 11))
    return {"RAYTRADER_CLUSTER__HOME": str(home), "RAYTRADER_CLUSTER__TEMP_DIR": str(home / "ray"),
            "RAYTRADER_CLUSTER__GCS_PORT": str(gcs), "RAYTRADER_CLUSTER__DASHBOARD_PORT": str(dashboard),
            "RAYTRADER_CLUSTER__CLIENT_PORT": str(client), "RAYTRADER_CLUSTER__AGENT_PORT": str(agent),
            "RAYTRADER_CLUSTER__NUM_CPUS": "2", "RAYTRADER_SERVE__PORT": str(serve),
            "RAYTRADER_DATA__STORE": str(home / "store"),
            "RAYTRADER_CLUSTER__START_TIMEOUT_S": "600",  # a loaded machine starts Ray slowly
            # as the test cluster (tests/conftest.py); set before ray is imported: ray reads them at import time
            # (a driver without the single-machine switch joins on the machine's routable address, not loopback)
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def run(kills: int, speed: float, seed: int) -> dict[str, Any]:
    """The drill on a private cluster: ``kills`` rounds over every actor type; the times and the checks."""
    home = Path(tempfile.mkdtemp(prefix="rt-bench-rec-", dir="/tmp"))
    os.environ.update(_env(home))  # before ray is imported (see _env)
    import ray

    from cluster.lifecycle import down, up
    from jobs.crash_drill import KINDS, kill_and_recover, kill_plan, venue_order_count, wait_until
    from jobs.paper_trade import PaperRequest, PaperSession
    from raytrader.config import load_config

    config = load_config()
    try:
        state = up(config).state
        ray.init(address=state.ray.gcs_address, log_to_driver=False)
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
        request = PaperRequest(params=(("fast", 2), ("slow", 3)), sample=SAMPLE, venues=VENUES, speed=speed,
                               seconds=600, warmup_bars=30)
        with PaperSession(request) as session:
            venues = session.request.venues
            wait_until(lambda: venue_order_count(session, venues) >= 20, 120, "the first 20 orders", every_s=0.2)
            for name, pause in kill_plan(session, kills, seed):
                time.sleep(pause)
                r = kill_and_recover(session, name, timeout_s=300)
                times[r.kind].append((r.answered_s, r.trading_s))
                print(f"killed {name}: answers after {r.answered_s:.2f} s, trading after {r.trading_s:.2f} s",
                      flush=True)
            orders = venue_order_count(session, venues)
            session.stop_strategies()
            session.settle(timeout_s=90)
            checks = session.checks()
        print({k: v for k, v in checks.items() if k not in ("balance_diffs",)}, flush=True)
        ok = (checks["lost"] == [] and checks["duplicated"] == [] and checks["not_in_journal"] == []
              and checks["balances_match"] and checks["chain_ok"] and checks["unsettled"] == []
              and checks["state_mismatches"] == [])
        return {"times": times, "orders": orders, "checks_ok": ok, "speed": speed, "kills": kills,
                "load": os.getloadavg()[1]}
    finally:
        ray.shutdown()
        down(config)


def _markdown(result: dict[str, Any]) -> str:
    rows = ["| actor killed | kills | answers again: median / max (s) | trading again: median / max (s) |",
            "|---|---|---|---|"]
    every_a, every_t = [], []
    for kind, pairs in result["times"].items():
        a, t = [p[0] for p in pairs], [p[1] for p in pairs]
        every_a += a
        every_t += t
        rows.append(f"| {kind} | {len(pairs)} | {statistics.median(a):.2f} / {max(a):.2f} | "
                    f"{statistics.median(t):.2f} / {max(t):.2f} |")
    rows.append(f"| **all** | {len(every_t)} | {statistics.median(every_a):.2f} / {max(every_a):.2f} | "
                f"{statistics.median(every_t):.2f} / {max(every_t):.2f} |")
    verdict = ("none lost, none duplicated, every order settled and equal at the venue, balances equal, "
               "chain verified" if result["checks_ok"] else "**the end-of-session checks FAILED**")
    return "\n".join([
        "## Recovery after SIGKILL, per trading actor (`benchmarks/recovery.py`)",
        "",
        f"{machine_line()}. A paper session on a private cluster (two emulated venues, `sma_cross` 2/3 on "
        f"{SAMPLE}, replay x{result['speed']:g}); each actor type SIGKILLed {result['kills']} times in turn at seeded-random "
        "moments. *Answers*: kill -> the restarted actor answers from a new PID. *Trading again*: kill -> a new "
        "order of ours at the venue(s) the actor serves (the emulator's own book). "
        f"{result['orders']} orders at the venues; after the kills: {verdict}. Load average (5 min) at the end: "
        f"{result['load']:.1f} on this machine, from other work: the times are of a loaded machine when it is high.",
        "",
        *rows,
        "",
        "Reproduce: `.venv/bin/python -m benchmarks.recovery --kills 4`.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs per actor type (default 4, as the crash test)")
    parser.add_argument("--speed", type=float, default=900.0, help="replay speed, x real time (default 900)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the pauses and venues (default 13)")
    args = parser.parse_args(argv)
    result = run(args.kills, args.speed, args.seed)
    text = _markdown(result)
    path = write_section("recovery", text)
    print(text)
    print(f"\nwritten to {path}")
    return 0 if result["checks_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
