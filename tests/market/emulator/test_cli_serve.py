"""`raytrader exchange serve` as a real process, driven by the real ccxt client."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import ccxt
import pytest

from cluster.cli import main
from cluster.commands.exchange import parse_account
from market.emulator.client import ccxt_config, point_at
from raytrader.errors import InputError

RAYTRADER = str(Path(sys.executable).with_name("raytrader"))


def test_serve_trades_with_ccxt_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [RAYTRADER, "exchange", "serve", "--sample", "ETH-BTC-5m", "--port", "0", "--json",
         "--account", "k1:s3cret-canary:BTC=2,ETH=0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["url"].startswith("http://127.0.0.1:") and info["markets"] == ["ETH/BTC"]
        assert info["accounts"] == ["k1"] and "s3cret-canary" not in json.dumps(info)
        ex = point_at(ccxt.binance(ccxt_config("k1", "s3cret-canary")), info["url"])
        ex.load_markets()
        assert ex.fetch_balance()["BTC"]["free"] == 2.0
        order = ex.create_order("ETH/BTC", "market", "buy", 1.0)
        assert order["status"] == "closed" and order["filled"] == 1.0
        balance = ex.fetch_balance()
        assert balance["ETH"]["free"] > 0.99 and balance["BTC"]["free"] < 2.0  # paid in BTC, fee in ETH
        bad = point_at(ccxt.binance(ccxt_config("k1", "wrong")), info["url"])
        with pytest.raises(ccxt.AuthenticationError):
            bad.fetch_balance()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "s3cret-canary" not in out + err


@pytest.mark.parametrize("text", ["k1", "k1:s", "k1:s:BTC", "k1:s:BTC=-1", "k1:s:BTC=abc", ":s:BTC=1"])
def test_bad_account_spec(text: str) -> None:
    with pytest.raises(InputError, match="--account"):
        parse_account(text)


def test_serve_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exchange", "serve", "--sample", "NOPE-1m", "--port", "0"]) == 2
    assert main(["exchange", "serve", "--sample", "ETH-BTC-5m", "--account", "bad"]) == 2
    assert main(["exchange", "serve"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("raytrader: error:") for line in err)
