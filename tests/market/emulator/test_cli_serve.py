"""`raytrader exchange serve` as a real process, driven by the real ccxt client.

Account secrets reach the server from the key store, a 0600 file or standard
input, never from its command line: a canary secret is planted and looked for
in every process's command line on the machine (psutil) and in the output.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import ccxt
import psutil
import pytest

from actors.keystore import MASTER_KEY_ENV, Credentials, KeyStore
from cluster.cli import main
from cluster.commands.exchange import parse_account, parse_account_ref
from market.emulator.client import ccxt_config, point_at
from raytrader.errors import InputError
from raytrader.processes import process_infos

RAYTRADER = str(Path(sys.executable).with_name("raytrader"))


def _spawn(argv: list[str], env: dict[str, str], stdin_text: str | None = None) -> subprocess.Popen:
    # one bar of replayed history, not the default 60: a book to trade against, a quarter of the start-up CPU less
    proc = subprocess.Popen([RAYTRADER, "exchange", "serve", "--sample", "ETH-BTC-5m", "--port", "0", "--json",
                             "--warmup-bars", "1", *argv],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if stdin_text is not None:
        proc.stdin.write(stdin_text)
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    return proc


def _ready(proc: subprocess.Popen) -> tuple[subprocess.Popen, dict]:
    """The server's first line (it is listening then), read from a process :func:`_spawn` started."""
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=20)
        raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read()}")
    return proc, json.loads(line)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The servers (and one refused start) the tests below use, all started at once.

    Each start is seconds of imports and replay set-up; side by side they overlap. Each test reads its
    own server's first line with :func:`_ready`, trades and stops it as before; whatever a failed test
    left running is killed here.
    """
    procs: dict[str, Any] = {}
    canary = "s3cret-canary-" + secrets.token_hex(8)
    procs["stdin"] = (_spawn(["--accounts-stdin"], dict(os.environ), f"# the paper account\nk1:{canary}:BTC=2,ETH=0\n"),
                      canary)

    tmp = tmp_path_factory.mktemp("keystore")
    canary = "ks-canary-" + secrets.token_hex(8)
    home = tmp / "home"
    env = {**os.environ, "RAYTRADER_CLUSTER__HOME": str(home)}
    env.pop(MASTER_KEY_ENV, None)
    KeyStore(home, env={}).add("paper", "binance", Credentials("kstore", canary))
    file_canary = "file-canary-" + secrets.token_hex(8)
    accounts = tmp / "accounts.txt"
    accounts.write_text(f"kfile:{file_canary}:BTC=2\n")
    accounts.chmod(0o600)
    procs["keystore"] = (_spawn(["--account", "paper:BTC=2,ETH=0", "--accounts-file", str(accounts)], env),
                         canary, file_canary)

    procs["faults"] = _spawn(["--fault-rate", "1", "--fault-kinds", "429", "--fault-seed", "3"], dict(os.environ))

    import base64

    home = tmp_path_factory.mktemp("coinbase") / "home"
    env = {**os.environ, "RAYTRADER_CLUSTER__HOME": str(home)}
    env.pop(MASTER_KEY_ENV, None)
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    store = KeyStore(home, env={})
    store.add("cb", "coinbaseexchange", Credentials("cbkey", secret, password="pass-" + secrets.token_hex(4)))
    store.add("nopass", "coinbaseexchange", Credentials("cbkey2", secret))
    procs["coinbase"] = (_spawn(["--dialect", "coinbase", "--venue", "coinbase", "--account", "cb:BTC=2,ETH=0"], env),
                         secret, store)
    procs["coinbase-nopass"] = subprocess.Popen(
        [RAYTRADER, "exchange", "serve", "--sample", "ETH-BTC-5m", "--port", "0", "--dialect", "coinbase",
         "--account", "nopass:BTC=1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env)
    try:
        yield procs
    finally:
        for entry in procs.values():
            proc = entry[0] if isinstance(entry, tuple) else entry
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return out, err


def _cmdlines_holding(needle: str) -> list[int]:
    """Pids of every process on the machine whose command line contains ``needle``."""
    found = []
    for p, info in process_infos(["cmdline"]):
        if needle in " ".join(info["cmdline"] or ()):
            found.append(p.pid)
    return found


def _trade(url: str, key: str, secret: str) -> None:
    ex = point_at(ccxt.binance(ccxt_config(key, secret)), url)
    ex.load_markets()
    assert ex.fetch_balance()["BTC"]["free"] == 2.0
    order = ex.create_order("ETH/BTC", "market", "buy", 1.0)
    assert order["status"] == "closed" and order["filled"] == 1.0
    balance = ex.fetch_balance()
    assert balance["ETH"]["free"] > 0.99 and balance["BTC"]["free"] < 2.0  # paid in BTC, fee in ETH
    with pytest.raises(ccxt.AuthenticationError):
        point_at(ccxt.binance(ccxt_config(key, "wrong")), url).fetch_balance()


def test_secret_from_stdin_never_reaches_argv_or_output(servers: dict[str, Any]) -> None:
    started, canary = servers["stdin"]
    proc, info = _ready(started)
    try:
        assert proc.pid in psutil.pids()
        assert _cmdlines_holding(canary) == []  # the server runs, trading with it, yet no argv shows it
        assert info["url"].startswith("http://127.0.0.1:") and info["markets"] == ["ETH/BTC"]
        assert info["accounts"] == ["k1"]
        _trade(info["url"], "k1", canary)
        assert _cmdlines_holding(canary) == []
    finally:
        out, err = _stop(proc)
    assert canary not in out + err


def test_secret_from_the_key_store_and_from_a_private_file(servers: dict[str, Any]) -> None:
    started, canary, file_canary = servers["keystore"]
    proc, info = _ready(started)
    try:
        assert sorted(info["accounts"]) == ["kfile", "kstore"]
        assert _cmdlines_holding(canary) == [] and _cmdlines_holding(file_canary) == []
        _trade(info["url"], "kstore", canary)
        _trade(info["url"], "kfile", file_canary)
    finally:
        out, err = _stop(proc)
    assert canary not in out + err and file_canary not in out + err


def test_old_secret_on_the_command_line_is_refused_with_how(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exchange", "serve", "--sample", "ETH-BTC-5m", "--port", "0",
                 "--account", "k1:not-echoed-secret:BTC=2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not-echoed-secret" not in err
    assert "raytrader keys add" in err and "--accounts-file" in err and "--accounts-stdin" in err


def test_a_readable_accounts_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accounts = tmp_path / "accounts.txt"
    accounts.write_text("k1:open-secret:BTC=2\n")
    accounts.chmod(0o644)
    assert main(["exchange", "serve", "--sample", "ETH-BTC-5m", "--accounts-file", str(accounts)]) == 2
    err = capsys.readouterr().err
    assert "chmod 600" in err and "open-secret" not in err and err.count("\n") == 1


@pytest.mark.parametrize("text", ["k1", "k1:s", "k1:s:BTC", "k1:s:BTC=-1", "k1:s:BTC=abc", ":s:BTC=1"])
def test_bad_account_line(text: str) -> None:
    with pytest.raises(InputError, match="line 1") as info:
        parse_account(text, "line 1")
    assert ":s:" not in str(info.value)


@pytest.mark.parametrize("text", ["", "bad name:BTC=1", "k1:BTC=-1", "k1:BTC"])
def test_bad_account_ref(text: str) -> None:
    with pytest.raises(InputError, match="--account"):
        parse_account_ref(text)


def test_serve_bad_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path))
    assert main(["exchange", "serve", "--sample", "NOPE-1m", "--port", "0"]) == 2
    assert main(["exchange", "serve", "--sample", "ETH-BTC-5m", "--account", "bad name"]) == 2
    assert main(["exchange", "serve"]) == 2
    assert main(["exchange", "serve", "--sample", "ETH-BTC-5m", "--account", "nokey:BTC=1"]) == 2  # not in the store
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("raytrader: error:") for line in err)


def test_serve_injects_seeded_faults_at_a_rate(servers: dict[str, Any]) -> None:
    import urllib.error
    import urllib.request

    proc, info = _ready(servers["faults"])
    try:
        assert info["faults"] == {"rate": 1.0, "seed": 3, "kinds": ["429"]}
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(info["url"] + "/api/v3/ping")
        assert err.value.code == 429 and err.value.headers["Retry-After"] == "1"
    finally:
        _stop(proc)


@pytest.mark.parametrize("argv", [["--fault-rate", "1.5"], ["--fault-rate", "nan"], ["--fault-kinds", "boom"],
                                  ["--fault-seed", "-1"]])
def test_bad_fault_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["exchange", "serve", "--sample", "ETH-BTC-5m", "--fault-rate", "0.05", *argv])
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert code == 2 and capsys.readouterr().err.count("\n") == 1


def test_coinbase_dialect_serves_ccxt_coinbaseexchange_with_a_key_store_passphrase(servers: dict[str, Any]) -> None:
    """`--dialect coinbase`: the real ccxt coinbaseexchange client trades; fees are paid in the quote asset."""
    from market.emulator.client import coinbase_config

    started, secret, store = servers["coinbase"]
    proc, info = _ready(started)
    try:
        assert info["dialect"] == "coinbase" and info["ws_url"] == info["url"].replace("http://", "ws://") + "/ws"
        passphrase = store.credentials("cb").password
        ex = point_at(ccxt.coinbaseexchange(coinbase_config("cbkey", secret, passphrase)), info["url"])
        ex.load_markets()
        assert ex.market("ETH/BTC")["id"] == "ETH-BTC" and ex.fetch_balance()["BTC"]["free"] == 2.0
        order = ex.create_order("ETH/BTC", "market", "buy", 1.0)
        assert order["status"] == "closed" and order["filled"] == 1.0
        balance = ex.fetch_balance()
        assert balance["ETH"]["total"] == 1.0  # the whole quantity arrives: the fee is paid in BTC
        fee = sum(t["fee"]["cost"] for t in ex.fetch_my_trades("ETH/BTC"))
        assert fee > 0 and balance["BTC"]["total"] == pytest.approx(2.0 - order["cost"] - fee)
        with pytest.raises(ccxt.AuthenticationError):
            point_at(ccxt.coinbaseexchange(coinbase_config("cbkey", secret, "wrong")), info["url"]).fetch_balance()
    finally:
        out, err = _stop(proc)
    assert secret not in out + err and passphrase not in out + err
    bad = servers["coinbase-nopass"]  # the same store's key without a passphrase, started beside the server above
    _, bad_err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and "passphrase" in bad_err
