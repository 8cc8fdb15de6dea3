"""jobs/paper_record.py without Ray or Redis: a paper session's equity per bar from its journal's fills, worked
out by hand; the copy a run record keeps is strict JSON, bounded, and draws the paper report's sections.
The same copy of a real session's journal, recorded and drawn in Chromium: tests/cluster/test_report_browser.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actors.journal import EntryKind, JournalEntry
from actors.messages import Fill
from backtest.report import CHART_CLASS, paper_charts, paper_report
from jobs import paper_record
from jobs.paper_record import PaperRecordError, journal_copy, market_span, paper_equity

T0, TF = 1_733_040_000_000, 60_000
TS = T0 + TF * np.arange(6)
CLOSE = np.array([10.0, 10.0, 11.0, 12.0, 9.0, 10.0])
#: warm-up 1 bar: the session starts at bar 1; 3 s at x60 = 180 s of market time, so bars 1..4
SUMMARY = {"strategy": "sma_cross", "params": {"fast": 3}, "symbol": "XRP/ETH", "sample": "XRP-ETH-1m",
           "venues": ["a", "b"], "offsets_bps": {"a": 0.0, "b": 100.0}, "speed": 60.0, "seconds": 3.0,
           "warmup_bars": 1, "journal_stream": "raytrader:journal:paper:t",
           "deposits": {"a": {"ETH": 1.0}, "b": {"ETH": 1.0, "XRP": 0.1}}}


def _fill(venue: str, trade: str, side: str, price: float, qty: float, fee: float, fee_ccy: str, ts: int) -> Fill:
    return Fill(venue, "XRP/ETH", trade, "o" + trade, "c" + trade, side, price, qty, fee, fee_ccy, False, ts)


FILLS = [
    _fill("a", "f1", "buy", 10.0, 0.1, 0.001, "ETH", int(TS[1]) + 1_200),   # bar 1: long 0.1 at 10
    _fill("b", "f3", "sell", 11.11, 0.05, 0.00005, "XRP", int(TS[2]) + 60),  # bar 2: short 0.05 at 11.11, fee in base
    _fill("a", "f2", "sell", 12.0, 0.1, 0.0012, "ETH", int(TS[3]) + 120),   # bar 3: closes a's long at 12
    _fill("a", "f1", "buy", 10.0, 0.1, 0.001, "ETH", int(TS[1]) + 1_200),   # the first fill seen twice: once
]


def test_the_equity_per_bar_is_capital_plus_pnl_less_fees_marked_at_each_venues_price() -> None:
    eq = paper_equity(FILLS, SUMMARY, TS, CLOSE, TF)
    assert eq.timestamp.tolist() == TS[1:5].tolist()
    capital = 1.0 + 1.0 + 0.1 * 10.0 * 1.01  # b's 0.1 XRP at its first close, 100 bps dearer there
    assert eq.capital == pytest.approx(capital)
    fee_b = 0.00005 * 11.11  # the base fee at its fill's price
    want = [capital - 0.001,                                                   # a long at 10, marked 10
            capital + 0.1 * 1.0 + (11.11 - 11.0 * 1.01) * 0.05 - 0.001 - fee_b,  # a marked 11; b short marked 11.11
            capital + 0.2 - (12.0 * 1.01 - 11.11) * 0.05 - 0.0022 - fee_b,      # a closed +0.2; b marked 12.12
            capital + 0.2 + (11.11 - 9.0 * 1.01) * 0.05 - 0.0022 - fee_b]       # b marked 9.09
    assert eq.equity.tolist() == pytest.approx(want, rel=1e-12)
    value = [0.1 * 10.0, 0.1 * 11.0 - 0.05 * 11.11, -0.05 * 12.12, -0.05 * 9.09]
    assert eq.exposure.tolist() == pytest.approx([v / e for v, e in zip(value, want)], rel=1e-12)
    # the one closing fill: (12 - 10) x 0.1 realised less its fee, over the 1.0 of entry notional it closed
    assert eq.trade_returns.tolist() == pytest.approx([(0.2 - 0.0012) / 1.0])


def test_without_deposits_the_capital_is_cash_plus_its_value_in_base_per_venue() -> None:
    from jobs.paper_trade import PaperRequest

    summary = {k: v for k, v in SUMMARY.items() if k != "deposits"}
    eq = paper_equity([], summary, TS, CLOSE, TF)
    cash = PaperRequest.__dataclass_fields__["cash"].default
    # on each venue cash quote and cash's worth of base at bar 1's close; b values its base 100 bps dearer
    assert eq.capital == pytest.approx(cash * 2 + cash * (1 + 1.01))
    assert eq.equity.tolist() == [eq.capital] * 4 and not eq.trade_returns.size
    with pytest.raises(PaperRecordError, match="speed"):
        paper_equity([], {k: v for k, v in summary.items() if k != "speed"}, TS, CLOSE, TF)


#: wall clock of the journal: the replay runs x60, so a fill at market time m was journaled at wall(m)
W0 = 1_800_000_000_000


def _wall(market_ms: int) -> int:
    return W0 + (market_ms - int(TS[1])) // 60


def _entries(fills: list[Fill], last_market_ms: int) -> list[JournalEntry]:
    """FILL entries journaled at their market time's wall time; the duplicate last, at ``last_market_ms``."""
    walls = [_wall(f.timestamp_ms) for f in fills[:-1]] + [_wall(last_market_ms)]
    return [JournalEntry(i + 1, EntryKind.FILL, w, f, "", "", f"{w}-0") for i, (f, w) in enumerate(zip(fills, walls))]


def test_the_records_copy_spans_the_journal_is_strict_json_thinned_to_max_points_and_draws_the_report(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the session traded for its last 3 s at x60: 3 minutes before the journal's end (bar 5, not bar 4), so
    # from bar 2; before that the replay ran while the session started
    span = (int(TS[1]), int(TS[5]) + 60)
    assert paper_equity(FILLS, SUMMARY, TS, CLOSE, TF, span).timestamp.tolist() == TS[2:6].tolist()
    # without a span, 1 s at x60 from bar 1 would end in bar 2, and the bars reach the last fill (bar 3)
    assert paper_equity(FILLS, {**SUMMARY, "seconds": 1.0}, TS, CLOSE, TF).timestamp.tolist() == TS[1:4].tolist()
    summary = SUMMARY
    entries = _entries(FILLS, int(TS[4]) + 60)
    # the fills agree on the clocks' offset (the duplicate, journaled late, is outvoted): first entry .. last
    assert market_span(entries, 60.0) == (int(TS[1]) + 1_200, int(TS[4]) + 60)
    copy = journal_copy(entries, summary, TS, CLOSE, TF, chain_ok=True)
    json.dumps(copy, allow_nan=False)  # a run record is strict JSON
    eq = copy["equity"]
    full = paper_equity(FILLS, SUMMARY, TS, CLOSE, TF)  # bars 1..4
    assert eq["timestamp"] == TS[1:5].tolist() and eq["every_nth_bar"] == 1
    assert eq["equity"] == pytest.approx(full.equity.tolist())
    assert eq["metrics"]["total_return"] == pytest.approx(full.equity[-1] / full.capital - 1)
    assert (eq["metrics"]["n_trades"], eq["metrics"]["bars"], copy["fills"]) == (1, 4, 4)
    assert (copy["stream"], copy["chain_ok"]) == (SUMMARY["journal_stream"], True)
    monkeypatch.setattr(paper_record, "MAX_POINTS", 3)  # 4 bars -> every 2nd bar close, the last one kept
    thin = journal_copy(entries, summary, TS, CLOSE, TF)["equity"]
    assert thin["timestamp"] == TS[[2, 4]].tolist() and thin["equity"] == pytest.approx(full.equity[[1, 3]].tolist())
    assert thin["periods_per_year"] == pytest.approx(eq["periods_per_year"] / 2)
    summary = {**summary, "pnl_by_venue": {"a/ETH": {"realized": 0.2, "unrealized": 0.0}},
               "orders_by_state": {"FILLED": 3}}
    page = paper_report(summary, copy)
    # the journal has fills but no intents: no order stood on a book, so no execution chart; equity's five
    # and the session's two
    assert page.count(f'class="{CHART_CLASS}"') == paper_charts(summary, copy) == 7
    assert "<h2>Equity and drawdown</h2>" in page and "nothing to measure" in page
    assert paper_report(summary).count(f'class="{CHART_CLASS}"') == paper_charts(summary) == 2
