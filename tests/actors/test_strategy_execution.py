"""The pure parts of a strategy's execution through the router (actors/strategy_execution.py) and the paper flags
that choose it (``raytrader paper --execution ... --exec-param ...``): no Ray."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace

import pytest

from actors.messages import ParentIntent
from actors.parent_orders import ParentState, decide
from actors.strategy_execution import (
    ICEBERG_LIMIT_BPS,
    Execution,
    ExecutionError,
    decision_context,
    execution_of,
    parent_action,
    parent_id_for,
    parent_intent,
    parse_execution,
)
from actors.trading import Sizing, StrategySpec

KEY = "strategy:sma_cross:XRP/ETH@binance+coinbase"


@pytest.mark.parametrize("algo, items, names", [
    ("vwap", [], "execution 'vwap': expected one of direct, route, twap, iceberg"),
    ("direct", ["slices=4"], "exec-param slices: direct takes no parameters"),
    ("route", ["slices=4"], "exec-param slices: route takes participation, limit_bps"),
    ("route", ["participation=1.5"], "exec-param participation:"),
    ("route", ["participation=0"], "exec-param participation:"),
    ("twap", ["duration_s=5"], "exec-param slices:"),
    ("twap", ["slices=4"], "exec-param duration_s:"),
    ("twap", ["slices=2.5", "duration_s=5"], "exec-param slices:"),
    ("twap", ["slices=4", "slices=5", "duration_s=5"], "exec-param slices: given twice"),
    ("iceberg", [], "exec-param display:"),
    ("iceberg", ["display=-1"], "exec-param display:"),
    ("iceberg", ["display=100", "limit_bps=-3"], "exec-param limit_bps: expected bps in [0, 10000)"),
    ("twap", ["slices"], "exec-param 'slices': expected NAME=VALUE"),
    ("twap", ["slices=four"], "exec-param slices: 'four' is not a number"),
    ("twap", ["slices=4", "duration_s=5", "slices=2"], "exec-param slices: given twice"),
    ("route", ["limit_bps=nan"], "exec-param limit_bps: expected a number"),
])
def test_bad_execution_is_named(algo: str, items: list[str], names: str) -> None:
    with pytest.raises(ExecutionError, match=re.escape(names)):
        parse_execution(algo, items)


def test_params_become_the_parent_fields_and_the_limit() -> None:
    twap = parse_execution("twap", ["slices=4", "duration_s=2.5"])
    assert twap.routed and twap.parent_fields() == {"slices": 4, "duration_s": 2.5}
    assert isinstance(twap.parent_fields()["slices"], int)
    assert twap.limit("buy", 100.0) is None  # market children without limit_bps
    assert twap.label() == "twap slices=4 duration_s=2.5"
    capped = parse_execution("route", ["limit_bps=20"])
    assert capped.limit("buy", 100.0) == pytest.approx(100.2)
    assert capped.limit("sell", 100.0) == pytest.approx(99.8)
    ice = execution_of("iceberg", {"display": 500})
    assert ice.limit("buy", 100.0) == pytest.approx(100 * (1 + ICEBERG_LIMIT_BPS / 1e4))
    assert not Execution().routed and Execution().parent_fields() == {}


def test_parent_ids_are_deterministic_valid_and_distinct_per_runner_and_bar() -> None:
    a = parent_id_for(KEY, 1_700_000_000_000)
    assert a == parent_id_for(KEY, 1_700_000_000_000)
    assert a != parent_id_for(KEY, 1_700_000_060_000)
    assert a != parent_id_for(KEY.replace("binance+coinbase", "binance"), 1_700_000_000_000)
    ParentIntent(a, ("binance",), "XRP/ETH", "buy", 1.0)  # a valid parent id (no / or @)


def test_a_route_parent_spans_every_venue_and_a_twap_only_the_first() -> None:
    route = parent_intent(parse_execution("route", ["participation=0.5"]), KEY, ("binance", "coinbase"), "XRP/ETH",
                          "buy", 7000.0, 0.0014, 60_000, 1.0)
    assert (route.venues, route.algo, route.qty, route.participation, route.limit) == \
        (("binance", "coinbase"), "route", 7000.0, 0.5, None)
    twap = parent_intent(parse_execution("twap", ["slices=3", "duration_s=6", "limit_bps=50"]), KEY,
                         ("coinbase",), "XRP/ETH", "sell", 3000.0, 0.002, 120_000, 1.0)
    assert (twap.venues, twap.slices, twap.duration_s, twap.side) == (("coinbase",), 3, 6.0, "sell")
    assert twap.limit == pytest.approx(0.002 * (1 - 50 / 1e4))
    assert twap.parent_id == parent_id_for(KEY, 120_000)
    # the router's own state machine takes it: the first slice is due at the start
    first = decide(ParentState(replace(twap, start_ms=1000)), 1000)
    assert [(s.index, s.venue, s.qty) for s in first.send] == [(0, "coinbase", 1000.0)]


def test_a_parent_carries_the_strategy_decision_it_executes() -> None:
    """What the runner journals with its parent (so the children are attributed to it, not to the router): its key,
    the signal on the bar, the bar, and the OMS's sizing answer (position = held + pending)."""
    from actors.messages import BarTick

    bar = BarTick("1m", 60_000, 0.0014, 0.00141, 0.00139, 0.0014, 10.0)
    sized = {"status": "order", "side": "buy", "amount": 7000.0, "position": 1500.0, "held": 2000.0,
             "pending": -500.0, "equity": 80.0}
    ctx = decision_context(KEY, 0.5, bar, sized, Sizing("equity", 0.25, 1.0))
    assert (ctx.strategy, ctx.target, ctx.price, ctx.position, ctx.pending, ctx.equity, ctx.bar) == \
        (KEY, 0.5, 0.0014, 2000.0, -500.0, 80.0, bar)
    assert (ctx.sizing_mode, ctx.sizing_value, ctx.sizing_step) == ("equity", 0.25, 1.0)
    parent = parent_intent(parse_execution("route", []), KEY, ("binance", "coinbase"), "XRP/ETH", "buy", 7000.0,
                           bar.close, bar.timestamp_ms, 1.0, ctx)
    assert parent.context == ctx and parent.parent_id == parent_id_for(KEY, bar.timestamp_ms)


@pytest.mark.parametrize("parent, asked, action", [
    (None, False, "send"),
    ({"status": "done", "open_children": 0}, False, "send"),
    ({"status": "cancelled", "open_children": 0}, True, "send"),
    ({"status": "working", "open_children": 1}, False, "cancel"),
    ({"status": "working", "open_children": 0}, False, "cancel"),  # a TWAP between slices
    ({"status": "working", "open_children": 1}, True, "wait"),
    ({"status": "cancelled", "open_children": 2}, True, "wait"),  # its children's cancels not settled yet
    ({"status": "cancelled", "open_children": 2}, False, "cancel"),
])
def test_one_working_parent_per_runner(parent: dict | None, asked: bool, action: str) -> None:
    assert parent_action(parent, asked) == action


def test_a_routed_spec_is_named_after_all_its_venues() -> None:
    spec = StrategySpec("sma_cross", "XRP/ETH", "binance", execution="route", route_venues=("binance", "coinbase"))
    assert spec.key == KEY
    assert StrategySpec("sma_cross", "XRP/ETH", "binance").key == "strategy:sma_cross:XRP/ETH@binance"


def _request(flags: list[str]):  # type: ignore[no-untyped-def]
    from jobs.paper_trade import add_paper_arguments, request_from_args

    parser = argparse.ArgumentParser()
    add_paper_arguments(parser)
    return request_from_args(parser.parse_args(flags))


@pytest.mark.parametrize("flags, names", [
    (["--execution", "twap", "--exec-param", "slices=4"], "--exec-param duration_s:"),
    (["--execution", "iceberg"], "--exec-param display:"),
    (["--exec-param", "slices=4"], "--exec-param slices: direct takes no parameters"),
    (["--execution", "route", "--exec-param", "participation=2"], "--exec-param participation:"),
    (["--strategy", "arbitrage", "--execution", "route"], "--execution: arbitrage sends its own IOC legs"),
])
def test_bad_paper_execution_flags_are_named_before_ray(flags: list[str], names: str) -> None:
    from jobs.paper_trade import PaperInputError

    with pytest.raises(PaperInputError, match=re.escape(names)):
        _request(flags)


def test_paper_execution_flags_make_the_request() -> None:
    req = _request(["--execution", "twap", "--exec-param", "slices=4", "--exec-param", "duration_s=5"])
    assert (req.execution, req.exec_params) == ("twap", (("slices", 4.0), ("duration_s", 5.0)))
    assert _request([]).execution == "direct"


_DEPLOYMENT = {"venues": [{"name": "a", "key": "k", "url": "http://127.0.0.1:9001"},
                          {"name": "b", "key": "k", "url": "http://127.0.0.1:9002"}],
               "strategies": [{"name": "sma_cross", "symbol": "XRP/ETH", "venue": "b"}]}


def _deployment(**strategy: object):  # type: ignore[no-untyped-def]
    """One strategy at venue ``b``; unless it routes, a second one at ``a`` (every venue must be used)."""
    from jobs.trade_config import parse_trade_config

    strategies = [{**_DEPLOYMENT["strategies"][0], **strategy}]
    if strategy.get("execution") != "route":
        strategies.append({"name": "sma_cross", "symbol": "XRP/ETH", "venue": "a"})
    return parse_trade_config({**_DEPLOYMENT, "strategies": strategies})


def test_the_deployment_toml_chooses_the_execution() -> None:
    from jobs.trade_config import StrategyEntry

    assert _deployment().strategies[0].execution == "direct"
    routed = _deployment(execution="route").strategies[0]
    # route: every venue by default, the strategy's own (its bars) first; a venue only routed to is used (one
    # strategy here) and its ExchangeActor trades the symbol
    assert routed.route_venues == ("b", "a") and _deployment(execution="route").symbols("a") == ("XRP/ETH",)
    assert routed.venues == ("b", "a") and _deployment().strategies[0].venues == ("b",)
    twap = _deployment(execution="twap", execution_params={"slices": 4, "duration_s": 20}).strategies[0]
    assert (twap.execution, twap.execution_params, twap.route_venues) == \
        ("twap", (("slices", 4), ("duration_s", 20)), ())
    assert isinstance(twap, StrategyEntry)


@pytest.mark.parametrize("strategy, names", [
    ({"execution": "vwap"}, "strategies[0].execution: expected one of direct, route, twap, iceberg"),
    ({"execution": "twap", "execution_params": {"slices": 4}}, "strategies[0].execution_params.duration_s:"),
    ({"execution": "iceberg", "execution_params": {"display": 5, "slices": 2}},
     "strategies[0].execution_params.slices: exec-param slices: iceberg takes display, limit_bps"),
    ({"execution": "route", "execution_params": [1]}, "strategies[0].execution_params: expected a table"),
    ({"execution": "route", "route_venues": ["a"]}, "strategies[0].route_venues: must include the strategy's venue 'b'"),
    ({"execution": "route", "route_venues": ["b", "c"]}, "strategies[0].route_venues: 'c' is not one of the [[venues]]"),
    ({"route_venues": ["a", "b"]}, "strategies[0].route_venues: applies to execution = \"route\" only"),
])
def test_a_bad_execution_in_the_deployment_toml_is_named(strategy: dict, names: str) -> None:
    from jobs.trade_config import TradeConfigError

    with pytest.raises(TradeConfigError, match=re.escape(names)):
        _deployment(**strategy)
