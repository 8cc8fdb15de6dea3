"""Pre-trade risk: each rule denies exactly past its boundary, and every reason code is reachable.

Numbers are chosen so that the boundary values are exact in binary floating
point (a value *at* a limit must pass, the next representable step above
must not).
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from risk.pretrade import (
    OpenOrder,
    OrderRequest,
    RiskConfigError,
    RiskLimits,
    RiskReason,
    RiskState,
    RiskView,
    Rule,
    TradingState,
    check_order,
    initial_state,
)

INF = math.inf
LOOSE = RiskLimits(max_order_notional=INF, max_position_notional=INF, max_gross_exposure=INF, max_net_exposure=INF,
                   price_band_bps=INF, max_orders_per_second=1000.0, order_burst=1000)
T0 = 1_700_000_000_000


def _req(amount: float, price: float | None = None, side: str = "buy", symbol: str = "BTC/USDT", venue: str = "a",
         action: str = "submit") -> OrderRequest:
    return OrderRequest(action=action, intent_id="i1", venue=venue, symbol=symbol, side=side, amount=amount,
                        price=price)


def _check(req: OrderRequest, view: RiskView, limits: RiskLimits, state: RiskState | None = None, now_ms: int = T0):
    return check_order(req, view, limits, state or initial_state(limits, T0), now_ms)


def _just_above(x: float) -> float:
    return math.nextafter(x, INF)


def test_order_notional_boundary() -> None:
    limits = replace(LOOSE, max_order_notional=1000.0)
    view = RiskView(last_prices={("a", "BTC/USDT"): 250.0})
    assert _check(_req(4.0, 250.0), view, limits)[0].approved
    assert _check(_req(4.0), view, limits)[0].approved  # market: valued at the last trade
    denied = _check(_req(_just_above(4.0), 250.0), view, limits)[0]
    assert denied.reason is RiskReason.NOTIONAL_EXCEEDS_MAX_PER_ORDER and not denied.approved
    assert "1000" in denied.detail


def test_price_band_boundary_both_sides() -> None:
    limits = replace(LOOSE, price_band_bps=625.0)  # 6.25 % of 256 = 16
    view = RiskView(last_prices={("a", "BTC/USDT"): 256.0})
    for price in (272.0, 240.0):
        assert _check(_req(1.0, price), view, limits)[0].approved
    for price in (_just_above(272.0), math.nextafter(240.0, 0)):
        assert _check(_req(1.0, price), view, limits)[0].reason is RiskReason.PRICE_OUTSIDE_BAND


def test_position_per_symbol_counts_every_venue_and_open_orders_on_the_side() -> None:
    limits = replace(LOOSE, max_position_notional=1000.0)
    view = RiskView(positions={("a", "BTC/USDT"): 2.0, ("b", "BTC/USDT"): 1.0, ("a", "ETH/USDT"): 50.0},
                    last_prices={("a", "BTC/USDT"): 200.0, ("b", "BTC/USDT"): 200.0, ("a", "ETH/USDT"): 10.0},
                    open_orders=(OpenOrder("b", "BTC/USDT", "buy", 150.0, 1.0),
                                 OpenOrder("a", "BTC/USDT", "sell", 400.0, 3.0)))  # other side: not counted
    assert _check(_req(1.0, 200.0), view, limits)[0].approved  # (2 + 1 + 1 + 1) * 200 = 1000
    assert _check(_req(1.0 + 1e-12, 200.0), view, limits)[0].reason is RiskReason.POSITION_EXCEEDS_MAX_PER_SYMBOL
    # sells: 3 held, 3 more on open sells: |3 - 3 - 5| * 200 = 1000 passes, |3 - 3 - 7| * 200 = 1400 does not
    assert _check(_req(5.0, 200.0, side="sell"), view, limits)[0].approved
    assert _check(_req(5.0 + 1e-12, 200.0, side="sell"), view, limits)[0].reason is RiskReason.POSITION_EXCEEDS_MAX_PER_SYMBOL
    assert _check(_req(7.0, 200.0, side="sell"), view, limits)[0].reason is RiskReason.POSITION_EXCEEDS_MAX_PER_SYMBOL


def test_gross_exposure_boundary_ignores_other_quote_currencies() -> None:
    limits = replace(LOOSE, max_gross_exposure=1000.0)
    view = RiskView(positions={("a", "ETH/USDT"): -2.0, ("a", "XRP/ETH"): 1e9},
                    last_prices={("a", "ETH/USDT"): 100.0, ("a", "BTC/USDT"): 200.0, ("a", "XRP/ETH"): 1.0})
    assert _check(_req(4.0), view, limits)[0].approved  # 2 * 100 + 4 * 200 = 1000
    assert _check(_req(_just_above(4.0)), view, limits)[0].reason is RiskReason.GROSS_EXPOSURE_EXCEEDS_MAX


def test_net_exposure_boundary() -> None:
    limits = replace(LOOSE, max_net_exposure=600.0)
    view = RiskView(positions={("a", "ETH/USDT"): -2.0},
                    last_prices={("a", "ETH/USDT"): 100.0, ("a", "BTC/USDT"): 200.0})
    assert _check(_req(4.0), view, limits)[0].approved  # 4 * 200 - 2 * 100 = 600
    assert _check(_req(_just_above(4.0)), view, limits)[0].reason is RiskReason.NET_EXPOSURE_EXCEEDS_MAX
    # the same order with the short gone is over; net counts the sign, gross would not
    assert _check(_req(2.0, side="sell"), view, limits)[0].approved  # |-2*100 - 2*200| = 600
    assert _check(_req(_just_above(2.0), side="sell"), view, limits)[0].reason is RiskReason.NET_EXPOSURE_EXCEEDS_MAX


def test_self_cross_boundary() -> None:
    view = RiskView(last_prices={("a", "BTC/USDT"): 100.0},
                    open_orders=(OpenOrder("a", "BTC/USDT", "sell", 101.0, 1.0),
                                 OpenOrder("a", "BTC/USDT", "buy", 99.0, 1.0),
                                 OpenOrder("b", "BTC/USDT", "sell", 50.0, 1.0)))  # other venue: no cross
    assert _check(_req(1.0, math.nextafter(101.0, 0)), view, LOOSE)[0].approved
    assert _check(_req(1.0, 101.0), view, LOOSE)[0].reason is RiskReason.SELF_CROSS
    assert _check(_req(1.0), view, LOOSE)[0].reason is RiskReason.SELF_CROSS  # market buy
    assert _check(_req(1.0, _just_above(99.0), side="sell"), view, LOOSE)[0].approved
    assert _check(_req(1.0, 99.0, side="sell"), view, LOOSE)[0].reason is RiskReason.SELF_CROSS


def test_rate_limit_token_bucket_with_an_injected_clock() -> None:
    limits = replace(LOOSE, max_orders_per_second=2.0, order_burst=3)
    view = RiskView(last_prices={("a", "BTC/USDT"): 100.0})
    state = initial_state(limits, T0)
    for _ in range(3):
        decision, state = check_order(_req(1.0), view, limits, state, T0)
        assert decision.approved
    decision, state = check_order(_req(1.0), view, limits, state, T0)
    assert decision.reason is RiskReason.RATE_LIMIT_EXCEEDED
    decision, state = check_order(_req(1.0), view, limits, state, T0 + 499)
    assert decision.reason is RiskReason.RATE_LIMIT_EXCEEDED
    decision, state = check_order(_req(1.0), view, limits, state, T0 + 500)  # one token refilled
    assert decision.approved and decision.ts_ms == T0 + 500
    # a cancel never takes a token, and a denied order does not either
    decision, after = check_order(_req(1.0, action="cancel"), view, limits, state, T0 + 500)
    assert decision.approved and after == state
    decision, after = check_order(_req(1.0, 1.0), view, replace(limits, price_band_bps=1.0), state, T0 + 1000)
    assert decision.reason is RiskReason.PRICE_OUTSIDE_BAND and after == state


def test_halted_refuses_submits_and_modifies_but_lets_cancels_through() -> None:
    view = RiskView(last_prices={("a", "BTC/USDT"): 100.0})
    state = initial_state(LOOSE, T0, TradingState.HALTED)
    for action in ("submit", "modify"):
        assert check_order(_req(1.0, action=action), view, LOOSE, state, T0)[0].reason is RiskReason.TRADING_HALTED
    cancel = check_order(_req(1.0, action="cancel"), RiskView(), LOOSE, state, T0)[0]
    assert cancel.approved and cancel.reason is RiskReason.APPROVED


def test_reducing_refuses_anything_that_grows_exposure() -> None:
    view = RiskView(positions={("a", "BTC/USDT"): 5.0}, last_prices={("a", "BTC/USDT"): 100.0})
    state = initial_state(LOOSE, T0, TradingState.REDUCING)
    assert check_order(_req(5.0, side="sell"), view, LOOSE, state, T0)[0].approved
    for req in (_req(_just_above(5.0), side="sell"), _req(0.1, side="buy"), _req(1.0, side="sell", venue="b")):
        assert check_order(req, view, LOOSE, state, T0)[0].reason is RiskReason.REDUCING_WOULD_INCREASE_EXPOSURE
    short = RiskView(positions={("a", "BTC/USDT"): -1.0}, last_prices={("a", "BTC/USDT"): 100.0})
    assert check_order(_req(1.0, side="buy"), short, LOOSE, state, T0)[0].approved


def test_no_last_trade_price() -> None:
    decision = _check(_req(1.0, 100.0), RiskView(last_prices={("b", "BTC/USDT"): 100.0}), LOOSE)[0]
    assert decision.reason is RiskReason.NO_LAST_TRADE_PRICE and "a BTC/USDT" in decision.detail


def test_extra_rules_run_before_the_rate_limit() -> None:
    calls = []

    def var_rule(req, view, limits, last):  # the place for VaR / ES (risk analytics)
        calls.append(last)
        return "VaR 99% would exceed 5% of equity"

    limits = replace(LOOSE, order_burst=1)
    view = RiskView(last_prices={("a", "BTC/USDT"): 100.0})
    state = initial_state(limits, T0)
    decision, after = check_order(_req(1.0), view, limits, state, T0,
                                  extra_rules=(Rule(RiskReason.NET_EXPOSURE_EXCEEDS_MAX, var_rule),))
    assert not decision.approved and decision.detail.startswith("VaR") and calls == [100.0] and after == state


def test_every_reason_code_is_reachable() -> None:
    seen = set()
    scenarios = [
        (_req(1.0, action="cancel"), RiskView(), LOOSE, TradingState.HALTED),
        (_req(1.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), LOOSE, TradingState.HALTED),
        (_req(1.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), LOOSE, TradingState.REDUCING),
        (_req(1.0), RiskView(), LOOSE, TradingState.ACTIVE),
        (_req(1.0, 2.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), replace(LOOSE, price_band_bps=10.0),
         TradingState.ACTIVE),
        (_req(2.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), replace(LOOSE, max_order_notional=1.0),
         TradingState.ACTIVE),
        (_req(2.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), replace(LOOSE, max_position_notional=1.0),
         TradingState.ACTIVE),
        (_req(2.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), replace(LOOSE, max_gross_exposure=1.0),
         TradingState.ACTIVE),
        (_req(2.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), replace(LOOSE, max_net_exposure=1.0),
         TradingState.ACTIVE),
        (_req(1.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0},
                             open_orders=(OpenOrder("a", "BTC/USDT", "sell", 1.0, 1.0),)), LOOSE, TradingState.ACTIVE),
    ]
    for req, view, limits, trading in scenarios:
        seen.add(check_order(req, view, limits, initial_state(limits, T0, trading), T0)[0].reason)
    empty = replace(initial_state(LOOSE, T0), bucket=replace(initial_state(LOOSE, T0).bucket, tokens=0.0))
    seen.add(check_order(_req(1.0), RiskView(last_prices={("a", "BTC/USDT"): 1.0}), LOOSE, empty, T0)[0].reason)
    assert seen == set(RiskReason)


@pytest.mark.parametrize("name", ["max_order_notional", "price_band_bps", "order_burst", "max_orders_per_second"])
def test_bad_limits_name_the_field(name: str) -> None:
    with pytest.raises(RiskConfigError, match=name):
        RiskLimits(**{name: 0})
    with pytest.raises(RiskConfigError, match="order_burst"):
        RiskLimits(order_burst=2.5)
    with pytest.raises(RiskConfigError, match="amount"):
        _req(-1.0)
