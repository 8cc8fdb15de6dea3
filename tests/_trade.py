"""Helpers of the trading-deployment tests: a real `raytrader exchange serve` venue, the deployment's TOML
file, and in-process CLI calls. Used by tests/cluster/test_trade_deploy.py and tests/api/test_trading_routes.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from raytrader.ports import free_port

SYMBOL = "XRP/ETH"
#: replay speed of the emulator: 10 one-minute bars a second, so sma_cross(5, 20) crosses every few seconds
SPEED = 600


def cli(*argv: str) -> tuple[int, str, str]:
    """``raytrader ARGV`` in this process (a Ray driver already attached is reused): (exit code, stdout, stderr)."""
    from cluster.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def cli_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(*argv, "--json")
    assert out.strip(), f"raytrader {' '.join(argv)} printed nothing (exit {code}): {err}"
    return code, json.loads(out)


def add_key(name: str) -> tuple[str, str]:
    """A fresh key pair stored as ``name`` in the cluster's key store (the run folder's master key)."""
    from actors.keystore import Credentials, KeyStore
    from raytrader.config import load_config

    api_key, secret = "k" + secrets.token_hex(8), secrets.token_hex(24)
    KeyStore(load_config().cluster.home).add(name, "binance", Credentials(api_key, secret), replace=True)
    return api_key, secret


@contextlib.contextmanager
def exchange_serve(key_name: str, venue: str = "binance") -> Iterator[dict[str, Any]]:
    """``raytrader exchange serve`` in its own process (as a user starts it), funded for ``key_name``; yields
    its ``--json`` line (``url``, ``ws_url``, ...); stopped with SIGTERM after."""
    port = free_port()
    argv = [sys.executable, "-m", "cluster.cli", "exchange", "serve", "--sample", "XRP-ETH-1m", "--venue", venue,
            "--port", str(port), "--speed", str(SPEED), "--warmup-bars", "60",
            "--account", f"{key_name}:ETH=10,XRP=6000", "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise AssertionError(f"exchange serve did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield json.loads(line)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def write_toml(path: Path, url: str, key_name: str, venue: str = "emu", journal: str = "", extra: str = "") -> Path:
    """The deployment file: one emulated venue, sma_cross(5, 20) on XRP/ETH, a quarter of equity per target."""
    journal = journal or f"raytrader:journal:test-{secrets.token_hex(4)}"
    path.write_text(f"""
[deployment]
journal = "{journal}"
namespace = "t{secrets.token_hex(3)}"

[[venues]]
name = "{venue}"
url = "{url}"
key = "{key_name}"

[[strategies]]
name = "sma_cross"
symbol = "{SYMBOL}"
venue = "{venue}"
params = {{ fast = 5, slow = 20 }}

[sizing]
mode = "equity"
value = 0.25
step = 0.1
min_qty = 0.1

[risk]
max_order_notional = 100.0
{extra}
""")
    return path


def wait_for(predicate: Any, timeout_s: float, what: str, every_s: float = 1.0) -> Any:
    """Poll ``predicate()`` until it returns something truthy (returned), or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"{what}: not within {timeout_s:g} s (last: {str(last)[:500]})")
