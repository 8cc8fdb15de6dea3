"""Performance attribution: a hand-computed case, the parts summing to the total, and the portfolio ledger
(actors.ledger, a separate average-cost fold) agreeing per venue."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest

from actors.ledger import Ledger
from actors.messages import Fill
from backtest.attribution import attribute
from backtest.fill_record import FillRecord, FillRecordError


def rec(strategy: str, venue: str, side: str, amount: float, price: float, t: int, tid: str,
        symbol: str = "XRP/ETH", fee: float = 0.0, ccy: str | None = None) -> FillRecord:
    return FillRecord(venue, symbol, side, price, amount, t, tid, fee, ccy, strategy)


def test_hand_computed_books() -> None:
    fills = [rec("s1", "A", "buy", 10, 1.0, 1, "a1", fee=0.01, ccy="XRP"),  # base fee: 0.01 ETH at 1.0
             rec("s1", "A", "sell", 4, 1.5, 2, "a2", fee=0.006, ccy="ETH"),  # realises (1.5 - 1) * 4 = 2
             rec("s2", "B", "sell", 5, 2.0, 3, "b1")]  # short 5 @ 2
    a = attribute(fills)
    s1, s2 = a.books
    assert (s1.strategy, s1.position, s1.avg_price, s1.mark, s1.realized, s1.unrealized) == ("s1", 6, 1.0, 1.5, 2.0,
                                                                                                3.0)
    assert s1.fees == {"ETH": 0.006, "XRP": 0.01} and math.isclose(s1.fees_in_quote, 0.016)
    assert (s2.position, s2.realized, s2.unrealized) == (-5, 0.0, 0.0)
    [total] = a.total
    assert (total.key, total.quote, total.realized, total.unrealized, total.total) == ("total", "ETH", 2.0, 3.0, 5.0)
    assert math.isclose(total.net, 5.0 - 0.016) and total.fills == 3
    assert [(r.key, r.total) for r in a.by_venue] == [("A", 5.0), ("B", 0.0)]
    marked = attribute(fills, marks={("B", "XRP/ETH"): 1.8})
    assert math.isclose(marked.books[1].unrealized, 1.0)  # (1.8 - 2.0) * -5
    assert math.isclose(marked.total[0].total, 6.0)


def test_a_position_through_zero_reopens_at_the_fill_price() -> None:
    a = attribute([rec("s", "A", "buy", 3, 1.0, 1, "1"), rec("s", "A", "sell", 5, 2.0, 2, "2"),
                   rec("s", "A", "buy", 1, 1.5, 3, "3")])
    [book] = a.books
    assert (book.position, book.avg_price, book.realized) == (-1, 2.0, 3.0 + 0.5)
    assert book.unrealized == (1.5 - 2.0) * -1


def _random(seed: int, n: int = 400) -> list[FillRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        symbol = rng.choice(["XRP/ETH", "BTC/USDT", "ETH/USDT"])
        quote = symbol.split("/")[1]
        out.append(rec(rng.choice(["s1", "s2", "s3"]), rng.choice(["A", "B"]), rng.choice(["buy", "sell"]),
                       rng.randint(1, 20) / 4, rng.randint(80, 120) / 10, i, f"t{i}", symbol,
                       fee=rng.randint(0, 3) / 1000, ccy=rng.choice([quote, symbol.split("/")[0], "BNB"])))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_grouping_sums_to_the_total(seed: int) -> None:
    a = attribute(_random(seed))
    totals = {r.quote: r for r in a.total}
    assert set(totals) == {"ETH", "USDT"}
    for rows in (a.by_strategy, a.by_venue, a.by_symbol):
        for quote, total in totals.items():
            mine = [r for r in rows if r.quote == quote]
            assert mine and (rows is a.by_symbol or len(mine) >= 2)
            for field in ("realized", "unrealized", "total", "fees_in_quote", "net"):
                assert math.isclose(math.fsum(getattr(r, field) for r in mine), getattr(total, field),
                                    rel_tol=1e-12, abs_tol=1e-12), field
            assert sum(r.fills for r in mine) == total.fills
            fees: dict[str, float] = defaultdict(float)
            for r in mine:
                for ccy, x in r.fees.items():
                    fees[ccy] += x
            assert fees.keys() == total.fees.keys()
            assert all(math.isclose(fees[c], total.fees[c]) for c in fees)
    assert sum(b.fills for b in a.books) == 400


@pytest.mark.parametrize("seed", [1, 2])
def test_one_strategy_per_venue_and_symbol_equals_the_ledger(seed: int) -> None:
    fills = [FillRecord(f.venue, f.symbol, f.side, f.price, f.amount, f.timestamp_ms, f.trade_id, f.fee_cost,
                        f.fee_currency, strategy=f"strategy@{f.venue}") for f in _random(seed)]
    ledger = Ledger()
    for f in fills:
        ledger.apply_fill(Fill(f.venue, f.symbol, f.trade_id, "o", None, f.side, f.price, f.amount, f.fee_cost,
                               f.fee_currency, None, f.timestamp_ms))
    a = attribute(fills)
    want = ledger.pnl_by_venue()
    got = {(r.key, r.quote): r for r in a.by_venue}
    assert got.keys() == want.keys()
    for key, pnl in want.items():
        assert math.isclose(got[key].realized, pnl.realized, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(got[key].unrealized, pnl.unrealized, rel_tol=1e-9, abs_tol=1e-9)
    for (venue, ccy), paid in ledger.fees().items():
        assert math.isclose(sum(r.fees.get(ccy, 0.0) for r in a.by_venue if r.key == venue), paid)


def test_bad_mark_is_named() -> None:
    with pytest.raises(FillRecordError, match="mark of A XRP/ETH"):
        attribute([rec("s", "A", "buy", 1, 1.0, 1, "1")], marks={("A", "XRP/ETH"): -1.0})
