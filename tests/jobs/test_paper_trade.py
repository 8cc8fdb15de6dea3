"""Paper trading end to end on the shared test cluster: real Ray actors, the cluster's real Redis (journal,
appendfsync always), real ccxt against two emulated venues replaying the bundled XRP/ETH data.

One session serves every test in this module (a session costs ~20 s to start and warm up on 2 cores):
it trades, its actors are SIGKILLed one type at a time, a halt is tried, and at the end the venues' own
order books and balances are compared with the journal."""

from __future__ import annotations

import functools
import os
import signal
import time
from typing import Any, Iterator

import pytest

from actors.exchange_core import client_order_id
from actors.messages import OrderIntent
from tests._trade import wait_for

pytestmark = pytest.mark.usefixtures("ray_session")

SPEED = 600.0  # 10 one-minute bars a second: sma_cross(10, 30) crosses every few seconds; 4 min of replay

#: :func:`tests._trade.wait_for`, polled every 0.2 s
_wait = functools.partial(wait_for, every_s=0.2)


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    from jobs.paper_trade import PaperRequest, PaperSession

    with PaperSession(PaperRequest(speed=SPEED, seconds=60, warmup_bars=30)) as s:
        yield s


def _orders_sent(session: Any) -> int:
    import ray

    status = ray.get(session.oms.status.remote(), timeout=60)
    return sum(n for state, n in status["orders_by_state"].items() if state != "DENIED")


def test_a_session_trades_on_both_venues(session: Any) -> None:
    import ray

    runners = session.runners()
    assert len(runners) == 2

    def both_traded() -> bool:
        st = [ray.get(h.status.remote(), timeout=30) for h in runners.values()]
        return all(sum(1 for s in x["sent"] if s.get("status") == "order") >= 1 for x in st)

    _wait(both_traded, 90, "an order from each venue's strategy")
    status = ray.get(session.oms.status.remote(), timeout=30)
    assert status["trading"] and status["fills"] >= 2
    assert all(r["ok"] for r in status["reconciliations"])
    for st in [ray.get(h.status.remote(), timeout=30) for h in runners.values()]:
        assert st["holes"] == 0
        assert st["window"] >= st["min_bars"]


def test_targets_match_the_backtest_on_the_same_bars(session: Any) -> None:
    """Parity with ``raytrader backtest`` (fill at the next bar's open) on the replayed bundled bars.

    On ``binance`` (no price offset) the runner's closed bars are the sample's bars. Tolerances, and why:
    the runner's window holds the last 300 bars, and sma_cross's state before the first crossing it has
    seen is flat, so targets are compared from the first crossing inside the runner's window on. Orders are
    not compared here (see the note at the end). Before this test nothing was killed or halted."""
    import ray

    from market.samples import load_sample
    from strategies.registry import get_strategy

    key = "strategy:sma_cross:XRP/ETH@binance"
    runner = session.runners()[key]
    _wait(lambda: sum(1 for s in ray.get(runner.status.remote())["sent"] if s.get("status") == "order") >= 3,
          120, "three orders from the binance strategy")
    bars = load_sample(session.request.sample)
    index = {int(t): i for i, t in enumerate(bars.timestamp)}
    _wait(lambda: len(ray.get(runner.bars_seen.remote(), timeout=30)) >= 100, 300,
          "100 bars through the binance strategy runner")  # a loaded machine replays slower than x600
    seen = ray.get(runner.bars_seen.remote(), timeout=30)
    assert len(seen) >= 100
    for ts, o, h, lo, c in seen:  # the emulator served the bundled bars, through ccxt, unchanged
        i = index[ts]
        assert (o, h, lo, c) == (bars.open[i], bars.high[i], bars.low[i], bars.close[i])
    target = get_strategy("sma_cross").run(bars, dict(session.request.params))
    decisions = ray.get(runner.decisions_made.remote(), timeout=30)
    changes = [k for k in range(1, len(decisions)) if decisions[k][1] != decisions[k - 1][1]]
    assert changes, "no crossing in the session"
    first = decisions[changes[0]][0]
    # orders are compared from the second crossing on: at the first one the runner's previous target came from its
    # warm-up window (flat), so its order may differ from the backtest's; after it both hold the same target
    def crossings() -> int:
        d = ray.get(runner.decisions_made.remote(), timeout=30)
        return sum(1 for k in range(1, len(d)) if d[k][1] != d[k - 1][1])

    _wait(lambda: crossings() >= 3, 300, "three crossings seen by the runner")
    decisions = ray.get(runner.decisions_made.remote(), timeout=30)
    changes = [k for k in range(1, len(decisions)) if decisions[k][1] != decisions[k - 1][1]]
    compared = [(ts, x) for ts, x in decisions if ts >= first]
    assert len(compared) >= 10
    assert all(target[index[ts]] == x for ts, x in compared), [
        (ts, x, target[index[ts]]) for ts, x in compared if target[index[ts]] != x][:5]
    # Order-level parity (each paper order in the bar the backtest trades) is NOT asserted: in about 2 of 5 runs
    # (2026-12-01) the paper session placed one order at fill bar 1570759560000 where the backtest trades at
    # 1570759680000, although the runner's targets matched the backtest's bar for bar. Open defect; see issue 13.


@pytest.mark.parametrize("name", ["oms", "portfolio", "risk", "strategy:sma_cross:XRP/ETH@binance"])
def test_sigkill_of_each_actor_type_recovers(session: Any, name: str) -> None:
    """SIGKILL the actor's process (PID from the Ray state API) mid-session: Ray restarts it, it rebuilds
    from the journal (the OMS also reconciles with both venues) and trading carries on."""
    import ray

    from jobs.crash_drill import actor_pid

    before = _orders_sent(session)
    pid = actor_pid(session, name)  # the one ALIVE actor of that name in the session's namespace
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    handle = session.actor(name)

    def back() -> int | None:
        try:
            new = ray.get(handle.ping.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - restarting
            return None
        return new if new != pid else None

    new_pid = _wait(back, 120, f"{name} to come back")
    assert new_pid != pid
    status = session.wait_trading()
    recovery_s = time.monotonic() - killed
    assert status["trading"], status["reason"]
    assert all(r["ok"] for r in status["reconciliations"])
    if name == "oms":
        assert status["pid"] == new_pid
        _wait(lambda: _orders_sent(session) > before, 90, "an order after the restart")
    print(f"{name}: recovered in {recovery_s:.2f} s")


def test_halted_refuses_a_new_order_but_lets_a_cancel_through(session: Any) -> None:
    import ray

    risk, oms = session.actor("risk"), session.oms
    venue = session.request.venues[0]
    book = ray.get(session.actor(f"exchange:{venue}").poll.remote(f"trades:{session.symbol}", 0, 5.0, 100_000))
    last = book[-1].trade.price
    rest = OrderIntent(venue, session.symbol, "buy", "limit", 10, f"halt-test-rest-{time.time_ns()}",
                       round(last * 0.96, 8))
    placed = ray.get(oms.submit_intent.remote(rest, last), timeout=60)
    assert placed["state"] == "ACCEPTED", placed
    assert ray.get(risk.halt.remote("test"), timeout=30) == "HALTED"
    try:
        new = OrderIntent(venue, session.symbol, "buy", "limit", 10, f"halt-test-new-{time.time_ns()}",
                          round(last * 0.96, 8))
        denied = ray.get(oms.submit_intent.remote(new, last), timeout=60)
        assert denied["state"] == "DENIED" and denied["reason"] == "TRADING_HALTED", denied
        canceled = ray.get(oms.cancel.remote(placed["client_order_id"], "test"), timeout=60)
        assert canceled["state"] == "CANCELED", canceled
        at_venue = {o.client_order_id: o.status for o in session.venue_orders()[venue]}
        assert at_venue[placed["client_order_id"]] == "CANCELED"
        assert client_order_id(session.config.namespace, new.intent_id) not in at_venue
    finally:
        ray.get(risk.resume.remote("test"), timeout=30)


def test_after_the_session_the_venues_books_equal_the_journal(session: Any) -> None:
    import ray

    _wait(lambda: _orders_sent(session) >= 6, 120, "at least 6 orders in the session")
    session.stop_strategies()
    summary = session.summary()
    checks = summary["checks"]
    assert checks["chain_ok"] and checks["journal_entries"] > 0
    assert checks["lost"] == [] and checks["duplicated"] == [] and checks["not_in_journal"] == []
    # an order the venue refused (a 429 or a stale recvWindow on a loaded machine) is REJECTED in the journal and
    # absent at the venue: every other order sent is on a venue's book, once
    assert checks["orders_sent"] - checks["orders_rejected"] == checks["venue_orders"] >= 6
    assert checks["orders_rejected"] <= checks["orders_sent"] // 4, checks  # refusals are the exception
    assert checks["balances_match"], checks["balance_diffs"]
    # the portfolio (rebuilt after its SIGKILL) holds what the venues hold: the base asset's balance moved by
    # the position less the fees the venue charged in it
    base = session.symbol.split("/")[0]
    venue_change = session.venue_balance_changes()
    for p in summary["positions"]:
        fees = summary["fees"].get(f"{p['venue']}:{base}", 0.0)
        assert p["qty"] - fees == pytest.approx(venue_change[f"{p['venue']}:{base}"], abs=1e-6)
    assert not {s for s in summary["orders_by_state"] if s in ("SUBMITTED", "UNKNOWN", "PENDING_CANCEL")}
    for venue in session.request.venues:
        assert any(p["venue"] == venue for p in summary["positions"])
    assert ray.get(session.oms.status.remote(), timeout=30)["trading"]


def test_kill_switch_cancels_every_open_order_flattens_and_halts(session: Any) -> None:
    """After the strategies stopped: a resting order on each venue, then ``risk.kill(flatten=True)``."""
    import ray

    risk, oms = session.actor("risk"), session.oms
    resting = []
    for venue in session.request.venues:
        trades = ray.get(session.actor(f"exchange:{venue}").poll.remote(f"trades:{session.symbol}", 0, 5.0, 100_000))
        last = trades[-1].trade.price
        intent = OrderIntent(venue, session.symbol, "buy", "limit", 10, f"kill-test-{venue}-{time.time_ns()}",
                             round(last * 0.96, 8))
        placed = ray.get(oms.submit_intent.remote(intent, last), timeout=60)
        assert placed["state"] == "ACCEPTED", placed
        resting.append((venue, placed["client_order_id"]))
    report = ray.get(risk.kill.remote(flatten=True), timeout=120)
    assert report["trading_state"] == "HALTED" and report["canceled"] == len(resting)
    session.settle()
    books = session.venue_orders()
    for venue, cid in resting:
        assert {o.client_order_id: o.status for o in books[venue]}[cid] == "CANCELED"
    _wait(lambda: all(p["qty"] == 0 for p in
                      ray.get(session.actor("portfolio").snapshot.remote(), timeout=60)["positions"]),
          30, "every position flat")
    checks = session.checks()
    assert checks["lost"] == [] and checks["duplicated"] == [] and checks["balances_match"] and checks["chain_ok"]
    base = session.symbol.split("/")[0]
    fees = ray.get(session.actor("portfolio").snapshot.remote(), timeout=60)["fees"]
    for venue in session.request.venues:  # flat: the venue holds its base deposit less the base fees charged
        change = session.venue_balance_changes()[f"{venue}:{base}"]
        assert change == pytest.approx(-fees.get(f"{venue}:{base}", 0.0), abs=1e-6)
