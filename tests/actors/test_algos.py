"""TWAP and iceberg schedules (actors.algos) and execution quality (actors.execution_quality): exact cases
and properties (no Ray)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.algos import AlgoError, IcebergState, child_client_id, iceberg_next, twap_schedule
from actors.execution_quality import ExecutionError, FillRecord, OrderRecord, order_quality, summarise


def test_twap_splits_evenly_in_lots_over_the_window() -> None:
    kids = twap_schedule(10, 0, 60_000, 4, step=1)
    assert [(k.at_ms, k.qty) for k in kids] == [(0, 3), (15_000, 3), (30_000, 2), (45_000, 2)]
    assert twap_schedule(2, 0, 60_000, 5, step=1)[-1].index == 1  # fewer lots than slices: two children


@given(qty=st.integers(1, 10_000), slices=st.integers(1, 50), step=st.sampled_from([1.0, 0.5, 0.01]))
def test_twap_children_sum_to_the_parent_and_differ_by_at_most_one_lot(qty, slices, step) -> None:
    total = qty * step
    kids = twap_schedule(total, 1_000, 61_000, slices, step=step)
    lots = [round(k.qty / step) for k in kids]
    assert sum(lots) == qty and max(lots) - min(lots) <= 1 and min(lots) >= 1
    times = [k.at_ms for k in kids]
    assert times == sorted(times) and times[0] == 1_000 and times[-1] < 61_000


def test_iceberg_shows_one_clip_at_a_time_until_the_parent_is_done() -> None:
    state, clip = iceberg_next(IcebergState(total=25, display=10, step=1), 0)
    assert clip == 10 and state.clips == 1
    state, clip = iceberg_next(state, 4)  # partly filled: the clip still rests
    assert clip == 0 and state.shown == 6 and state.filled == 4
    state, clip = iceberg_next(state, 6)
    assert clip == 10 and state.filled == 10 and state.clips == 2
    state, clip = iceberg_next(state, 10)
    assert clip == 5 and state.filled == 20  # the last clip is the remainder
    state, clip = iceberg_next(state, 5)
    assert clip == 0 and state.filled == 25 and state.clips == 3
    with pytest.raises(AlgoError):
        iceberg_next(state, 1)  # more than rests
    assert child_client_id("rt-abc", 2) == "rt-abc-c2"


@pytest.mark.parametrize("call", [
    lambda: twap_schedule(0, 0, 1, 1),
    lambda: twap_schedule(1, 5, 5, 1),
    lambda: twap_schedule(1, 0, 1, 0),
    lambda: IcebergState(total=10, display=0.5, step=1),
    lambda: child_client_id("p", -1),
])
def test_bad_algo_parameters_are_named(call) -> None:
    with pytest.raises(AlgoError):
        call()


def test_implementation_shortfall_and_times_on_a_hand_computed_order() -> None:
    buy = OrderRecord("o1", "binance", "buy", "market", qty=10, arrival_price=100.0, decided_ms=1_000, acked_ms=1_012,
                      fills=(FillRecord(1_020, 100.1, 6, 0.06), FillRecord(1_050, 100.3, 4, 0.04)))
    q = order_quality(buy)
    # paid 600.6 + 401.2 = 1001.8 plus 0.10 fees against 1000 at arrival: 1.9 / 1000 = 19 bps
    assert q.filled == 10 and q.fill_ratio == 1 and q.avg_price == pytest.approx(100.18)
    assert q.shortfall_bps == pytest.approx(19.0) and (q.ack_ms, q.first_fill_ms, q.last_fill_ms) == (12, 20, 50)
    sell = OrderRecord("o2", "coinbase", "sell", "limit", qty=4, arrival_price=100.0, decided_ms=0,
                       fills=(FillRecord(10, 100.5, 2, 0.1),))
    s = order_quality(sell)
    # received 201 - 0.1 fee against 200 at arrival: better by 0.9 -> shortfall -45 bps; half filled
    assert s.shortfall_bps == pytest.approx(-45.0) and s.fill_ratio == 0.5 and s.ack_ms is None
    rows = summarise([q, s], by=("venue",))
    assert [r["venue"] for r in rows] == ["binance", "coinbase"] and rows[0]["shortfall_bps"] == pytest.approx(19.0)
    both = summarise([q, s], by=())[0]
    assert both["orders"] == 2 and both["shortfall_bps"] == pytest.approx((19.0 * 1001.8 - 45.0 * 201) / 1202.8)
    assert math.isclose(both["fees"], 0.2)
    with pytest.raises(ExecutionError):
        OrderRecord("bad", "x", "buy", "market", qty=1, arrival_price=0, decided_ms=0)
