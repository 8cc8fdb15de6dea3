"""The trading pipeline's pure parts: sizing, closed bars, the journaled trading state, the loss trigger."""

from __future__ import annotations

import pytest

from actors.journal import EntryKind, JournalEntry
from actors.messages import BarTick, TradingStateChange
from actors.risk_monitor import loss_breach
from actors.trading import (
    ClosedBars,
    Sizing,
    StrategySpec,
    TradingConfig,
    TradingConfigError,
    size_order,
    target_intent_id,
    trading_state_of,
    window_bars,
)
from risk.pretrade import TradingState


def test_notional_sizing_rounds_down_to_the_lot_step() -> None:
    # 1.0 target, 1 ETH at 0.0014 ETH/XRP = 714.28... XRP -> 714 (step 1)
    assert size_order(1.0, 0.0, 0.0014, Sizing("notional", 1.0, 1.0, 1.0)) == ("buy", 714.0)
    # step 10: 710
    assert size_order(1.0, 0.0, 0.0014, Sizing("notional", 1.0, 10.0, 10.0)) == ("buy", 710.0)


def test_equity_sizing_uses_the_fraction_of_equity() -> None:
    # 0.5 of 20 quote = 10 quote at price 2 -> 5 base
    assert size_order(1.0, 0.0, 2.0, Sizing("equity", 0.5, 0.001, 0.001), equity=20.0) == ("buy", 5.0)
    with pytest.raises(TradingConfigError, match="equity"):
        size_order(1.0, 0.0, 2.0, Sizing("equity", 0.5, 0.001, 0.001))


def test_exit_sells_the_whole_position_and_short_goes_through_zero() -> None:
    sizing = Sizing("notional", 10.0, 1.0, 1.0)
    assert size_order(0.0, 37.0, 2.0, sizing) == ("sell", 37.0)
    assert size_order(-1.0, 3.0, 2.0, sizing) == ("sell", 8.0)  # -5 wanted, +3 held


def test_trades_on_target_changes_only() -> None:
    """A long position is left alone while the target stays long, even after the price moved (as the
    backtest engine, which fills on target changes)."""
    sizing = Sizing("notional", 10.0, 1.0, 1.0)
    assert size_order(1.0, 5.0, 1.0, sizing) is None  # 10 wanted at the new price, 5 held: no rebalance
    assert size_order(-1.0, -5.0, 1.0, sizing) is None
    assert size_order(0.0, 0.0, 1.0, sizing) is None
    assert size_order(0.0, 0.4, 1.0, sizing) is None  # below min_qty


@pytest.mark.parametrize("bad", [dict(mode="kelly"), dict(value=0.0), dict(step=-1.0), dict(min_qty=float("inf"))])
def test_bad_sizing_is_refused_naming_the_field(bad: dict) -> None:
    with pytest.raises(TradingConfigError, match="sizing"):
        Sizing(**bad)


def test_trading_config_refuses_duplicate_venues_and_bad_loss() -> None:
    with pytest.raises(TradingConfigError, match="venues"):
        TradingConfig(stream="s", venues=("a", "a"))
    with pytest.raises(TradingConfigError, match="max_loss"):
        TradingConfig(stream="s", venues=("a",), max_loss=-1.0)


def _bar(ts: int, close: float) -> BarTick:
    return BarTick("1m", ts, close, close, close, close, 1.0)


def test_closed_bars_closes_a_bar_when_the_next_one_starts_and_last_version_wins() -> None:
    cb = ClosedBars()
    assert cb.push(_bar(0, 1.0)) == []
    assert cb.push(_bar(0, 1.5)) == []  # the forming bar again
    assert cb.push(_bar(60_000, 2.0)) == [_bar(0, 1.5)]
    assert cb.push(_bar(0, 9.0)) == []  # an old bar replayed after a reconnect
    assert cb.push(_bar(60_000, 2.5)) == []
    assert cb.push(_bar(180_000, 3.0)) == [_bar(60_000, 2.5)]
    w = window_bars([_bar(0, 1.5), _bar(60_000, 2.5)])
    assert list(w.close) == [1.5, 2.5] and list(w.timestamp) == [0.0, 60_000.0]


def test_closed_on_publish_passes_each_new_bar_once() -> None:
    cb = ClosedBars(closed_on_publish=True)
    assert cb.push(_bar(0, 1.0)) == [_bar(0, 1.0)]
    assert cb.push(_bar(0, 1.0)) == []
    assert cb.push(_bar(60_000, 2.0)) == [_bar(60_000, 2.0)]


def _state_entry(seq: int, to: str) -> JournalEntry:
    return JournalEntry(seq, EntryKind.TRADING_STATE, 0, TradingStateChange("ACTIVE", to, "t"), "", "", f"{seq}-0")


def test_trading_state_is_the_last_journaled_one() -> None:
    assert trading_state_of([]) is TradingState.ACTIVE
    entries = [_state_entry(1, "HALTED"), _state_entry(2, "REDUCING"), _state_entry(3, "HALTED")]
    assert trading_state_of(entries) is TradingState.HALTED
    assert trading_state_of(entries[:2]) is TradingState.REDUCING


def test_intent_ids_are_deterministic_per_strategy_and_bar() -> None:
    key = StrategySpec("sma_cross", "XRP/ETH", "binance").key
    assert key == "strategy:sma_cross:XRP/ETH@binance"
    assert target_intent_id(key, 60_000) == target_intent_id(key, 60_000) != target_intent_id(key, 120_000)


def test_loss_breach_names_the_currency() -> None:
    pnl = {"ETH": {"total": -0.6}, "USDT": {"total": 5.0}}
    assert loss_breach(pnl, None) is None
    assert loss_breach(pnl, 1.0) is None
    assert "ETH" in (loss_breach(pnl, 0.5) or "")
