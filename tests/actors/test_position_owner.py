"""One owner per venue position (actors.deployment's spec check, before any actor is created): two runners that
would trade one symbol on one venue - a direct runner and a routed one, two direct ones, a runner and an
arbitrage runner - are refused with a PositionOwnerError naming both; runners on different venues or symbols
pass."""

from __future__ import annotations

import pytest

from actors.arb_runner import ArbSpec
from actors.deployment import PositionOwnerError, TradingStartError, _check_specs
from actors.trading import StrategySpec, TradingConfig

CONFIG = TradingConfig(stream="raytrader:journal:owner-test", venues=("binance", "coinbase", "kraken"))
DIRECT = StrategySpec("sma_cross", "XRP/ETH", "binance")
ROUTED = StrategySpec("ema_cross", "XRP/ETH", "coinbase", execution="route", route_venues=("coinbase", "binance"))
ARB = ArbSpec("XRP/ETH", ("coinbase", "kraken"), (10.0, 20.0))


@pytest.mark.parametrize("specs, venue", [
    ((DIRECT, ROUTED), "binance"),  # the routed runner sizes on binance's position too
    ((DIRECT, StrategySpec("ema_cross", "XRP/ETH", "binance")), "binance"),
    ((DIRECT, DIRECT), "binance"),
    ((ROUTED, ARB), "coinbase"),
])
def test_two_runners_on_one_venue_position_are_refused_naming_both(specs: tuple, venue: str) -> None:
    with pytest.raises(PositionOwnerError) as err:
        _check_specs(CONFIG, specs)
    text = str(err.value)
    assert f"strategies {specs[0].key} and {specs[1].key} both trade XRP/ETH on {venue}" in text
    assert isinstance(err.value, TradingStartError)  # the CLI's exit 2, the API's 4xx


def test_runners_on_different_venues_or_symbols_each_own_their_position() -> None:
    other_symbol = StrategySpec("ema_cross", "BTC/ETH", "binance")
    assert _check_specs(CONFIG, (DIRECT, other_symbol, ARB)) is False  # none routes
    assert _check_specs(CONFIG, (ROUTED, StrategySpec("sma_cross", "XRP/ETH", "kraken"))) is True


def test_the_deployment_file_refuses_a_second_owner_naming_both_tables() -> None:
    from jobs.trade_config import TradeConfigError, parse_trade_config

    venues = [{"name": "a", "key": "k", "url": "http://127.0.0.1:9001"},
              {"name": "b", "key": "k", "url": "http://127.0.0.1:9002"}]
    routed = {"name": "sma_cross", "symbol": "XRP/ETH", "venue": "a", "execution": "route"}  # over a and b
    direct = {"name": "ema_cross", "symbol": "XRP/ETH", "venue": "b"}
    with pytest.raises(TradeConfigError, match=r"strategies\[1\]: ema_cross and strategies\[0\] \(sma_cross\) both "
                                               r"trade XRP/ETH on b"):
        parse_trade_config({"venues": venues, "strategies": [routed, direct]})
    assert len(parse_trade_config({"venues": venues, "strategies": [
        {**direct, "venue": "a"}, direct]}).strategies) == 2  # one per venue: fine
