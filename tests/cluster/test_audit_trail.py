"""``raytrader audit ledger | taxlots | attribution | explain`` on the journal of a real paper session.

One short session on the shared test cluster (real Ray actors, the cluster's Redis, real ccxt against two
emulated venues replaying the bundled XRP/ETH bars) trades sma_cross(3, 8) until each venue has filled a few
orders; then the commands read its journal stream and are checked against the venues' own books and the
bundled bars. The session is the finished one of tests/_paper.py (shared with the paper report, then extended by
the Prometheus and live-risk tests, which run after these)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cluster.cli import main
from tests._paper import FINISHED, MIN_FILLS, SharedPaper
from tests._paper import venue_fills as _venue_fills

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture(scope="module")
def session(paper_pool: SharedPaper) -> Any:
    """sma_cross(3, 8) traded until each venue filled MIN_FILLS orders, stopped and settled; every venue fill
    journaled (tests/_paper.py)."""
    return paper_pool.at(FINISHED)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def ledger_frame(session: Any, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("ledger") / "ledger.parquet"
    assert main(["audit", "ledger", "--stream", session.stream, "--out", str(out)]) == 0
    return pd.read_parquet(out)


def test_ledger_rows_equal_the_venues_fills(session: Any, ledger_frame: pd.DataFrame, capsys, tmp_path: Path) -> None:
    from jobs.paper_trade import VENUE_DIALECT
    from market.emulator._coinbase import order_uuid

    venue_orders = session.venue_orders()  # each named by our client order id (Coinbase's client_oid UUID read back)
    venue_rows = {}  # the venue's own record of each of our fills (its sides are BUY / SELL)
    for name, fills in _venue_fills(session).items():
        orders = {o.order_id: o.client_order_id for o in venue_orders[name]}
        # the order id as the venue's dialect shows it: Binance the engine's integer, Coinbase the UUID of it
        shown = order_uuid if VENUE_DIALECT[name] == "coinbaseexchange" else str
        for f in fills:
            venue_rows[(name, str(f.trade_id))] = (session.symbol, shown(f.order_id), orders[f.order_id],
                                                   f.side.lower(), float(f.price), float(f.qty), float(f.commission),
                                                   f.commission_asset, f.is_maker, f.time_ms)
    frame = ledger_frame
    ours = {(r.venue, r.trade_id): (r.symbol, r.order_id, r.client_order_id, r.side, r.price, r.amount, r.fee_cost,
                                    r.fee_currency, r.is_maker, r.timestamp_ms) for r in frame.itertuples()}
    assert len(frame) == len(venue_rows) >= 2 * MIN_FILLS
    assert ours.keys() == venue_rows.keys()
    differ = [(key, ours[key], venue_rows[key]) for key in ours if ours[key] != venue_rows[key]]
    assert not differ, differ[:3]
    # every fill is one of a strategy's orders: its intent, signal, bar and approved risk decision are joined
    keys = {spec.key for spec in session.specs}
    assert set(frame["strategy"]) == keys
    for r in frame.itertuples():
        assert r.strategy.endswith(f"@{r.venue}") and r.intent_id.startswith(r.strategy + "#")
        assert r.signal in (-1.0, 0.0, 1.0) and r.bar_ts_ms == int(r.intent_id.rsplit("#", 1)[1])
        assert r.risk_approved and r.risk_reason == "APPROVED" and r.intent_entry_id and r.risk_entry_id
        assert r.notional == pytest.approx(r.price * r.amount)
    # the CSV holds the same rows
    csv_path = tmp_path / "ledger.csv"
    code, out, _ = _cli(capsys, "audit", "ledger", "--stream", session.stream, "--format", "csv", "--out",
                        str(csv_path), "--json")
    result = json.loads(out)
    assert code == 0 and result["fills"] == len(frame) and result["chain_ok"] and result["strategies"] == sorted(keys)
    csv = pd.read_csv(csv_path, dtype={"trade_id": str, "order_id": str})
    assert list(csv["trade_id"]) == list(frame["trade_id"]) and list(csv["price"]) == list(frame["price"])


def test_explain_shows_the_whole_chain(session: Any, ledger_frame: pd.DataFrame, capsys) -> None:
    from market.samples import load_sample

    row = ledger_frame[ledger_frame["venue"] == "binance"].iloc[0]
    code, out, _ = _cli(capsys, "audit", "explain", row["client_order_id"], "--stream", session.stream, "--json")
    story = json.loads(out)
    assert code == 0 and story["chain_ok"] and story["client_order_id"] == row["client_order_id"]
    assert story["strategy"] == row["strategy"] and story["state"] == "FILLED"
    events = story["events"]
    kinds = [e["kind"] for e in events]
    assert kinds[:3] == ["intent", "risk_decision", "state_change"] and "fill" in kinds
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[0]["entry_id"] == row["intent_entry_id"] and events[1]["entry_id"] == row["risk_entry_id"]
    order_fills = ledger_frame[ledger_frame["client_order_id"] == row["client_order_id"]]
    assert {e["entry_id"] for e in events if e["kind"] == "fill"} == set(order_fills["fill_entry_id"])
    assert story["filled"] == pytest.approx(order_fills["amount"].sum())
    states = [(e["payload"]["from_state"], e["payload"]["to_state"]) for e in events if e["kind"] == "state_change"]
    assert states[0] == ("INITIALIZED", "SUBMITTED") and states[-1][1] == "FILLED"
    # the bar it acted on is the bundled sample's bar at that time (binance replays it unchanged)
    ctx = story["context"]
    bars = load_sample(session.request.sample)
    i = list(bars.timestamp).index(ctx["bar"]["timestamp_ms"])
    assert (ctx["bar"]["open"], ctx["bar"]["close"]) == (float(bars.open[i]), float(bars.close[i]))
    assert ctx["price"] == ctx["bar"]["close"] and ctx["target"] == row["signal"]
    assert ctx["sizing_mode"] == "equity" and ctx["sizing_value"] == session.request.size and ctx["equity"] > 0
    # the venue's order id and the intent id find the same order; the text names every entry
    for other in (row["order_id"], row["intent_id"]):
        code, out, _ = _cli(capsys, "audit", "explain", other, "--stream", session.stream, "--json")
        assert code == 0 and json.loads(out)["client_order_id"] == row["client_order_id"]
    code, out, _ = _cli(capsys, "audit", "explain", row["client_order_id"], "--stream", session.stream)
    assert code == 0 and f"strategy: {row['strategy']}" in out and "signal (target)" in out
    assert all(e["entry_id"] in out for e in events)


def test_explain_of_an_unknown_order_exits_2(session: Any, capsys) -> None:
    code, out, err = _cli(capsys, "audit", "explain", "paper-000000000000000000000000", "--stream", session.stream)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "paper-000000000000000000000000" in err and "no client order id" in err


def test_taxlots_and_attribution_agree_with_the_journal(session: Any, ledger_frame: pd.DataFrame, capsys) -> None:
    from actors.journal import Journal
    from actors.ledger import ledger_from_entries
    from actors.trading import redis_url

    ledger = ledger_from_entries(Journal.from_url(redis_url(), session.stream).entries())
    code, out, _ = _cli(capsys, "audit", "attribution", "--stream", session.stream, "--json")
    result = json.loads(out)
    assert code == 0 and result["fills"] == len(ledger_frame)
    by_venue = {(r["key"], r["quote"]): r for r in result["by_venue"]}
    for (venue, quote), pnl in ledger.pnl_by_venue().items():  # one strategy per venue: the same books
        assert by_venue[(venue, quote)]["realized"] == pytest.approx(pnl.realized, rel=1e-9, abs=1e-12)
        assert by_venue[(venue, quote)]["unrealized"] == pytest.approx(pnl.unrealized, rel=1e-9, abs=1e-12)
    for (venue, ccy), paid in ledger.fees().items():
        assert by_venue[(venue, "ETH")]["fees"][ccy] == pytest.approx(paid)
    [total] = result["total"]
    for group in ("by_strategy", "by_venue", "by_symbol"):
        assert sum(r["total"] for r in result[group]) == pytest.approx(total["total"], rel=1e-9, abs=1e-12)
    code, out, _ = _cli(capsys, "audit", "taxlots", "--stream", session.stream, "--method", "fifo", "--json")
    lots = json.loads(out)
    assert code == 0 and lots["fills"] == len(ledger_frame) and lots["by_year"]
    # every unit traded is either closed twice over (by its lot and by the closing fill) or still open
    traded = ledger_frame["amount"].sum()
    disposed = sum(y["quantity"] for y in lots["by_year"])
    still_open = sum(o["quantity"] for o in lots["open_lots"])
    assert 2 * disposed + still_open == pytest.approx(traded)
    assert sum(y["gain"] for y in lots["by_year"]) == pytest.approx(sum(d["gain"] for d in lots["disposals"]))
    code, out, _ = _cli(capsys, "audit", "taxlots", "--stream", session.stream, "--method", "average")
    assert code == 0 and "realised gains by tax lot (average)" in out and "XRP" in out


@pytest.mark.parametrize("marks, names", [
    (["binance-XRP/ETH=1"], "--mark binance-XRP/ETH=1: expected VENUE:BASE/QUOTE=PRICE"),
    (["binance:XRP/ETH=0"], "--mark binance:XRP/ETH=0: expected VENUE:BASE/QUOTE=PRICE with a price > 0"),
    (["binance:XRP/ETH=1", "coinbase:XRP/ETH=1", "binance:XRP/ETH=2"], "--mark binance:XRP/ETH: given twice"),
])
def test_bad_mark_exits_2(marks: list[str], names: str, capsys) -> None:
    code, out, err = _cli(capsys, "audit", "attribution", *(w for m in marks for w in ("--mark", m)))
    assert code == 2 and out == "" and names in err and err.count("\n") == 1, err


def test_execution_report_agrees_with_the_venues_books_and_the_bundled_bars(
        session: Any, ledger_frame: pd.DataFrame, capsys) -> None:
    """``raytrader execution report``: per venue, the orders and fill ratio of the venue's own book, and the
    shortfall of the venue's own fills against the bundled bar close each order was decided on (fees valued in
    the quote currency at the fill price), computed here from those sources."""
    from jobs.paper_trade import ACCOUNT, _retrying
    from market.samples import load_sample

    code, out, _ = _cli(capsys, "execution", "report", "--stream", session.stream, "--json")
    report = json.loads(out)
    assert code == 0 and report["chain_ok"] and report["denied"] == 0 and report["no_arrival"] == 0
    bars = load_sample(session.request.sample)
    close_at = dict(zip((int(t) for t in bars.timestamp), (float(c) for c in bars.close)))
    # each order's arrival price: the close of the bar it was decided on, as the venue published it (binanceus
    # replays at a 5 bps price offset), which is the bundled bar's close within that offset
    # (keyed by the venue's trade id: a venue's own order ids and client ids are in its dialect's form)
    arrival_of = {(r.venue, str(r.trade_id)): float(r.bar_close) for r in ledger_frame.itertuples()}
    for r in ledger_frame.itertuples():
        assert r.bar_close == pytest.approx(close_at[int(r.bar_ts_ms)], rel=1e-3)
    base = session.symbol.split("/")[0]  # fees charged in it are valued at the fill price, in the quote currency
    rows = {r["venue"]: r for r in report["by_venue"]}
    assert set(rows) == set(session.request.venues)
    for name, venue in session.venues.items():
        orders = list(_retrying(lambda v=venue: v.engine.orders(ACCOUNT, session.symbol)))
        fills = _venue_fills(session)[name]
        row = rows[name]
        assert row["orders"] == len(orders)
        assert row["fill_ratio"] == pytest.approx(sum(float(o.executed_qty / o.orig_qty) for o in orders) / len(orders))
        # per order: (cost over the arrival notional in bps, filled value); the report's number is their
        # fill-weighted mean
        per_order = []
        for o in orders:
            mine = [f for f in fills if f.order_id == o.order_id]
            if mine:
                arrival = arrival_of[(name, str(mine[0].trade_id))]
                qty = sum(float(f.qty) for f in mine)
                value = sum(float(f.qty) * float(f.price) for f in mine)
                fees = sum(float(f.commission) * (float(f.price) if f.commission_asset == base else 1.0)
                           for f in mine)
                sign = 1.0 if o.side == "BUY" else -1.0
                per_order.append(((sign * (value - qty * arrival) + fees) / (qty * arrival) * 1e4, value))
        want = sum(b * w for b, w in per_order) / sum(w for _, w in per_order)
        assert row["shortfall_bps"] == pytest.approx(want, rel=1e-6, abs=1e-6)
        assert row["fees"] == pytest.approx(sum(float(f.commission) * (float(f.price) if f.commission_asset == base
                                                                       else 1.0) for f in fills), rel=1e-9)
        # times run forward: the ack and fills come after the decision, the last fill not before the first
        assert row["median_ack_ms"] >= 0 and 0 <= row["median_first_fill_ms"] <= row["median_last_fill_ms"]
    assert report["total"]["orders"] == sum(r["orders"] for r in rows.values()) == report["orders"]
    assert {r["strategy"] for r in report["by_strategy"]} == {spec.key for spec in session.specs}
    # the text table names each venue and strategy; a stream with no entries exits 2 naming it
    code, out, _ = _cli(capsys, "execution", "report", "--stream", session.stream)
    assert code == 0 and all(f"venue {v}" in out for v in session.request.venues) and "total" in out
    code, out, err = _cli(capsys, "execution", "report", "--stream", "raytrader:journal:no-such-session")
    assert code == 2 and "raytrader:journal:no-such-session" in err and out == ""
