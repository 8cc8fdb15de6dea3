"""Stop-limit intents in the trading system's pure parts: the intent's checks, the ccxt params per dialect,
the order manager tracking one (OPEN while it waits, a normal cancel), and the journal keeping its fields."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from actors.exchange_core import client_order_id
from actors.journal import EntryKind, decode_body, entry_body
from actors.messages import OrderIntent, OrderIntentError, OrderUpdate
from actors.order_manager import CancelOrder, PlaceOrder, cancel, initial_oms_state, on_update, submit
from actors.order_state import OrderState
from actors.stop_params import StopOrderUnsupported, stop_params
from risk.pretrade import RiskLimits, RiskView

T0 = 1_700_000_000_000
LIMITS = RiskLimits(max_order_notional=1000.0, max_position_notional=math.inf, max_gross_exposure=math.inf,
                    max_net_exposure=math.inf, price_band_bps=1000.0)
VIEW = RiskView(last_prices={("binance", "BTC/USDT"): 100.0})


def stop(side: str = "sell", trigger: str = "stop_loss", stop_price: float = 95.0, price: float = 94.0,
         intent_id: str = "sl-1") -> OrderIntent:
    return OrderIntent("binance", "BTC/USDT", side, "limit", 2.0, intent_id, price,  # type: ignore[arg-type]
                       stop_price=stop_price, trigger=trigger)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stop_price": 95.0}, "trigger"),
        ({"trigger": "stop_loss"}, "stop_price"),
        ({"stop_price": -1.0, "trigger": "stop_loss"}, "stop_price"),
        ({"stop_price": 95.0, "trigger": "trailing"}, "trigger"),
    ],
)
def test_a_stop_intent_needs_a_positive_stop_price_and_a_known_trigger(kwargs: dict, field: str) -> None:
    with pytest.raises(OrderIntentError, match=field):
        OrderIntent("binance", "BTC/USDT", "sell", "limit", 2.0, "x", 94.0, **kwargs)


def test_a_stop_intent_must_be_a_limit_order() -> None:
    with pytest.raises(OrderIntentError, match="type limit"):
        OrderIntent("binance", "BTC/USDT", "sell", "market", 2.0, "x", stop_price=95.0, trigger="stop_loss")


@pytest.mark.parametrize(
    ("side", "trigger", "binance", "coinbase_stop"),
    [
        ("sell", "stop_loss", {"stopLossPrice": 95.0}, "loss"),      # falls to the stop
        ("buy", "take_profit", {"takeProfitPrice": 95.0}, "loss"),   # falls to it
        ("buy", "stop_loss", {"stopLossPrice": 95.0}, "entry"),      # rises to it
        ("sell", "take_profit", {"takeProfitPrice": 95.0}, "entry"),  # rises to it
    ],
)
def test_stop_params_per_dialect(side: str, trigger: str, binance: dict, coinbase_stop: str) -> None:
    intent = stop(side, trigger)
    assert stop_params("binance", intent) == binance
    assert stop_params("coinbase", intent) == {"stop": coinbase_stop, "stop_price": 95.0}
    plain = OrderIntent("binance", "BTC/USDT", "sell", "limit", 2.0, "p", 94.0)
    assert stop_params("binance", plain) == {} and stop_params("kraken", plain) == {}
    with pytest.raises(StopOrderUnsupported, match="kraken"):
        stop_params("kraken", intent)


def test_the_order_manager_tracks_a_waiting_stop_as_open_and_cancels_it_normally() -> None:
    state = initial_oms_state("strat1", LIMITS, T0)
    intent = stop()
    state, step = submit(state, intent, VIEW, T0)
    cid = client_order_id("strat1", "sl-1")
    assert step.actions == (PlaceOrder(intent, cid),) and step.actions[0].intent.stop_price == 95.0
    waiting = OrderUpdate(venue="binance", symbol="BTC/USDT", client_order_id=cid, order_id="7", status="open",
                          side="sell", type="stop_loss_limit", amount=2.0, filled=0.0, remaining=2.0, average=None,
                          price=94.0, fee_cost=0.0, fee_currency=None, timestamp_ms=T0)
    state, _ = on_update(state, waiting, T0)
    assert state.orders[cid].state is OrderState.ACCEPTED
    state, step = cancel(state, cid, "user", VIEW, T0)
    assert step.actions == (CancelOrder("binance", "BTC/USDT", cid),)
    state, _ = on_update(state, replace(waiting, status="canceled"), T0)
    assert state.orders[cid].state is OrderState.CANCELED


def test_the_journal_keeps_the_stop_fields_of_an_intent() -> None:
    intent = stop("buy", "take_profit", 90.0, 91.0, "tp-1")
    _, kind, _, payload = decode_body(entry_body(1, EntryKind.INTENT, T0, intent))
    assert kind is EntryKind.INTENT and payload == intent
    assert (payload.stop_price, payload.trigger) == (90.0, "take_profit")
