"""``raytrader trade start|status|halt|resume|stop``, ``raytrader portfolio``, ``raytrader orders`` and
``raytrader status --json`` against a real deployment: the shared test cluster (Ray + Redis journal), a venue
started separately with ``raytrader exchange serve`` in its own process, reached through real ccxt exactly as
a real exchange is. Bad files and live venues without --confirm-live exit 2 before the cluster is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._trade import SYMBOL, add_key, cli, cli_json, exchange_serve, wait_for, write_toml

GOOD = """
[[venues]]
name = "emu"
url = "http://127.0.0.1:9001"
key = "demo"

[[strategies]]
name = "sma_cross"
symbol = "XRP/ETH"
venue = "emu"
params = { fast = 5, slow = 20 }
"""


@pytest.mark.parametrize("text, field", [
    (GOOD.replace('url = "http', 'urll = "http'), "venues[0].urll"),
    (GOOD.replace("127.0.0.1", "10.0.0.1"), "venues[0].url"),
    (GOOD.replace(':9001"', '"'), "venues[0].url"),
    (GOOD.replace('key = "demo"', ""), "venues[0].key"),
    (GOOD.replace('venue = "emu"', 'venue = "nowhere"'), "strategies[0].venue"),
    (GOOD.replace('name = "sma_cross"', 'name = "no_such_strategy"'), "strategies[0].name"),
    (GOOD.replace("fast = 5", 'fast = "x"'), "strategies[0].params.fast"),
    (GOOD.replace("fast = 5", "fast = 50"), "strategies[0].params"),
    (GOOD.replace('"XRP/ETH"', '"XRPETH"'), "strategies[0].symbol"),
    (GOOD.replace("[[strategies]]\n", '[[strategies]]\nsizing = "vol-target:abc"\n'), "strategies[0].sizing"),
    (GOOD.replace("[[strategies]]\n", '[[strategies]]\nsizing = "risk-parity"\n'), "strategies[0].sizing"),
    (GOOD.replace("[[strategies]]\n", "[[strategies]]\nsizing = 0.2\n"), "strategies[0].sizing"),
    (GOOD + '\n[sizing]\nmode = "percent"\n', "sizing.mode"),
    (GOOD + "\n[sizing]\nvalue = -1\n", "sizing.value"),
    (GOOD + "\n[risk]\nmax_order_notional = 0\n", "risk.max_order_notional"),
    (GOOD + "\n[risk]\nmax_loss = -5\n", "risk.max_loss"),
    (GOOD + "\n[risk]\nflatten_on_kill = 1\n", "risk.flatten_on_kill"),
    (GOOD + '\n[deployment]\nnamespace = "has space"\n', "deployment.namespace"),
    (GOOD + "\n[extras]\nx = 1\n", "extras"),
    (GOOD.split("[[strategies]]")[0], "strategies"),
    (GOOD + "\n[[venues]]\nname = \"emu\"\nkey = \"demo\"\nurl = \"http://127.0.0.1:9002\"\n", "venues[1].name"),
    ("[[venues]\nname=", "not valid TOML"),
    (GOOD.replace('key = "demo"', 'key = "demo"\ntaker_bps = -1'), "venues[0].taker_bps"),
    (GOOD.replace('key = "demo"', 'key = "demo"\ntaker_bps = 10000'), "venues[0].taker_bps"),
    (GOOD.replace('key = "demo"', 'key = "demo"\ntaker_bps = "ten"'), "venues[0].taker_bps"),
    (GOOD.replace('key = "demo"', 'key = "demo"\nbook_stream = 1'), "venues[0].book_stream"),
    (GOOD + "\n[deployment]\nmax_reroutes = 1.5\n", "deployment.max_reroutes"),
    (GOOD + "\n[deployment]\nbook_max_age_s = -1\n", "deployment.book_max_age_s"),
])
def test_a_bad_file_exits_2_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "trade.toml"
    path.write_text(text)
    code, out, err = cli("trade", "start", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and field in err and str(path) in err, err


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = cli("trade", "start", str(tmp_path / "none.toml"))
    assert code == 2 and "not found" in err


def test_a_real_exchange_needs_confirm_live(tmp_path: Path) -> None:
    """A venue without url is the real exchange: refused (exit 2) without --confirm-live; with it, the file
    passes that check and the next one (the key must be in the key store) speaks, before any actor starts."""
    path = tmp_path / "live.toml"
    path.write_text(GOOD.replace('url = "http://127.0.0.1:9001"\n', "").replace('"demo"', '"no-such-key"'))
    code, _, err = cli("trade", "start", str(path))
    assert code == 2 and "--confirm-live" in err and "emu" in err and err.count("\n") == 1
    code, _, err = cli("trade", "start", str(path), "--confirm-live")
    assert code == 2 and "--confirm-live" not in err and "venues[0].key" in err and "no-such-key" in err


@pytest.mark.usefixtures("ray_session")
def test_start_status_halt_resume_stop_on_a_separately_started_venue(tmp_path: Path) -> None:
    import ccxt

    from market.emulator.client import ccxt_config, point_at

    assert cli("trade", "status")[0] == 1  # nothing runs yet
    api_key, secret = add_key("deploy-test")
    with exchange_serve("deploy-test") as venue:
        path = write_toml(tmp_path / "trade.toml", venue["url"], "deploy-test")
        code, started = cli_json("trade", "start", str(path))
        try:
            assert code == 0, started
            assert started["oms"]["trading"] and started["risk"]["trading_state"] == "ACTIVE"
            assert [r["venue"] for r in started["oms"]["reconciliations"] if r["ok"]] == ["emu"]
            key = f"strategy:sma_cross:{SYMBOL}@emu"
            names = {"control", "oms", "portfolio", "risk", "exchange:emu", key}
            by_name = {a["name"]: a for a in started["actors"]}
            assert names <= set(by_name), by_name
            assert all(by_name[n]["state"] == "ALIVE" and by_name[n]["pid"] > 0 for n in names)
            assert cli("trade", "start", str(path))[0] == 2  # one deployment at a time

            # it trades by itself: the strategy's orders fill at the venue
            def filled() -> list[dict]:
                orders = cli_json("orders")[1]["orders"]
                return [o for o in orders if o["state"] == "FILLED"]
            done = wait_for(filled, 180, "a FILLED order", every_s=0.25)

            # the venue's own book, asked through ccxt with the same key, holds every order we list
            ex = point_at(ccxt.binance(ccxt_config(api_key, secret)), venue["url"])
            ex.load_markets()
            at_venue = {o["clientOrderId"] for o in ex.fetch_orders(SYMBOL)}
            assert {o["client_order_id"] for o in done} <= at_venue

            code, status = cli_json("status")
            ours = {a["name"]: a for a in status["actors"] if a["namespace"] == "raytrader-trade"}
            assert names <= set(ours) and all(ours[n]["state"] == "ALIVE" and ours[n]["pid"] > 0 for n in names)

            code, snap = cli_json("portfolio")
            assert code == 0 and snap["fills"] >= len(done)
            assert any(p["venue"] == "emu" and p["symbol"] == SYMBOL for p in snap["positions"])
            code, text, _ = cli("portfolio")
            assert code == 0 and "PnL (ETH)" in text

            code, halted = cli_json("trade", "halt", "--reason", "test halt")
            assert code == 0 and halted["trading_state"] == "HALTED"
            code, st = cli_json("trade", "status")
            assert code == 0 and st["risk"]["trading_state"] == "HALTED" and st["running"]
            open_now = cli_json("orders", "--open")[1]
            assert open_now["open_only"] and all(o["state"] not in ("FILLED", "CANCELED", "DENIED")
                                                 for o in open_now["orders"])
            code, resumed = cli_json("trade", "resume")
            assert code == 0 and resumed["trading_state"] == "ACTIVE"
            code, text, _ = cli("trade", "status")
            assert code == 0 and "state ACTIVE" in text and "exchange:emu" in text and "pid" in text
        finally:
            code, stopped = cli_json("trade", "stop")
        assert code == 0 and names <= set(stopped["stopped"])
    after = wait_for(lambda: (lambda r: r if r[1]["actors"] == [] else None)(cli_json("trade", "status")), 60,
                     "every actor of the deployment gone", every_s=0.25)
    assert after == (1, {"running": False, "actors": []})
    code, _, err = cli("orders")
    assert code == 2 and "no trading deployment is running" in err
    # the journal the deployment wrote verifies
    journal = started["journal"]
    code, verified = cli_json("audit", "verify", "--stream", journal)
    assert code == 0 and verified["ok"] and verified["entries"] > len(done)


def test_the_example_file_is_valid() -> None:
    from jobs.trade_config import load_trade_config

    dep = load_trade_config(Path(__file__).resolve().parents[2] / "cluster" / "trade.example.toml")
    assert [(v.name, v.url, v.live) for v in dep.venues] == [("emu", "http://127.0.0.1:9001", False)]
    assert dep.strategies[0].params == (("fast", 10), ("slow", 30)) and dep.limits.max_order_notional == 5.0
    assert dep.venues[0].ws_url == "ws://127.0.0.1:9001/stream/ws" and dep.max_loss == 2.0
    from jobs.trade_deploy import trading_config

    config = trading_config(dep)  # the router nets the venue's book with the file's fee; books on demand
    assert config.taker_bps == (("emu", 10.0),) and not dep.venues[0].book_stream
    assert (config.book_max_age_s, config.max_reroutes) == (2.0, 2)


def test_a_strategy_sizing_rule_reaches_its_runner_spec(tmp_path: Path) -> None:
    """`sizing = "vol-target:0.2"` under a strategy: parsed with the backtests' parser, handed to the StrategyRunner
    (which wraps the strategy with backtest.sizing.sized_strategy, the function backtests and sweeps use)."""
    import tomllib

    from actors.trading import StrategySpec
    from backtest.sizing import parse_sizing
    from jobs.trade_config import parse_trade_config

    text = GOOD.replace("[[strategies]]\n", '[[strategies]]\nsizing = "vol-target:0.2,warmup=10"\n')
    dep = parse_trade_config(tomllib.loads(text), "t.toml")
    assert dep.strategies[0].sizing == "vol-target:0.2,warmup=10"
    assert parse_sizing(dep.strategies[0].sizing).option("warmup") == 10
    assert parse_trade_config(tomllib.loads(GOOD), "t.toml").strategies[0].sizing == ""
    assert StrategySpec("sma_cross", "XRP/ETH", "emu", target_sizing="kelly:0.5").target_sizing == "kelly:0.5"
