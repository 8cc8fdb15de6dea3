"""API keys encrypted at rest; secrets never printed, listed or left in plain text."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from actors.keystore import MASTER_KEY_ENV, Credentials, KeyStore, KeyStoreError
from cluster.cli import main

CANARY_KEY = "AKIA-canary-key-7f3e9b2d"
CANARY_SECRET = "s3cret-canary-0d4c8a1f9e"


def test_round_trip_is_encrypted_at_rest_and_private(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, env={})
    entry = store.add("binance-main", "binance", Credentials(CANARY_KEY, CANARY_SECRET))
    assert entry.key_hint == CANARY_KEY[-4:]
    raw = (tmp_path / "keys.json").read_text()
    assert CANARY_SECRET not in raw and CANARY_KEY not in raw
    for name in ("keys.json", "master.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    creds = KeyStore(tmp_path, env={}).credentials("binance-main")  # a fresh store reads master.key
    assert (creds.api_key, creds.secret, creds.password) == (CANARY_KEY, CANARY_SECRET, "")
    assert CANARY_SECRET not in repr(creds) and CANARY_KEY not in repr(creds)
    assert [e.name for e in store.entries()] == ["binance-main"]


def test_master_key_from_the_environment(tmp_path: Path) -> None:
    env = {MASTER_KEY_ENV: Fernet.generate_key().decode()}
    KeyStore(tmp_path, env=env).add("k", "binance", Credentials("key1", "sec1", "pass1"))
    assert not (tmp_path / "master.key").exists()
    assert KeyStore(tmp_path, env=env).credentials("k").password == "pass1"
    other = {MASTER_KEY_ENV: Fernet.generate_key().decode()}
    with pytest.raises(KeyStoreError, match="cannot decrypt with this master key") as err:
        KeyStore(tmp_path, env=other).credentials("k")
    assert "sec1" not in str(err.value)
    with pytest.raises(KeyStoreError, match="not a Fernet key"):
        KeyStore(tmp_path, env={MASTER_KEY_ENV: "short"}).credentials("k")


def test_refusals(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, env={})
    store.add("k", "binance", Credentials("a", "b"))
    with pytest.raises(KeyStoreError, match="already exists"):
        store.add("k", "binance", Credentials("a", "c"))
    store.add("k", "binance", Credentials("a", "c"), replace=True)
    assert store.credentials("k").secret == "c"
    with pytest.raises(KeyStoreError, match="no key named 'nope'"):
        store.remove("nope")
    with pytest.raises(KeyStoreError, match="key name"):
        store.add("bad name!", "binance", Credentials("a", "b"))
    with pytest.raises(KeyStoreError, match="required"):
        store.add("k2", "binance", Credentials("a", ""))
    store.remove("k")
    assert store.entries() == []


def test_cli_add_list_remove_never_prints_the_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{CANARY_KEY}\n{CANARY_SECRET}\n"))
    assert main(["keys", "add", "main", "--exchange", "binance", "--stdin", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "main", "exchange": "binance", "key_hint": CANARY_KEY[-4:]}
    assert main(["keys", "list"]) == 0
    assert main(["keys", "list", "--json"]) == 0
    monkeypatch.setenv("RAYTRADER_API_KEY", "k2")
    monkeypatch.setenv("RAYTRADER_API_SECRET", "s2-canary")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["keys", "add", "second", "--exchange", "binance"]) == 0
    assert main(["keys", "add", "main", "--exchange", "binance"]) == 2  # exists: named error, exit 2
    assert main(["keys", "remove", "second"]) == 0
    assert main(["keys", "remove", "second"]) == 2
    out = capsys.readouterr()
    for secret in (CANARY_SECRET, CANARY_KEY, "s2-canary"):
        assert secret not in out.out + out.err
    assert "already exists" in out.err and "no key named 'second'" in out.err
    assert KeyStore(tmp_path).credentials("main").secret == CANARY_SECRET


def test_cli_add_without_credentials_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path))
    monkeypatch.delenv("RAYTRADER_API_KEY", raising=False)
    monkeypatch.delenv("RAYTRADER_API_SECRET", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["keys", "add", "x", "--exchange", "binance"]) == 2
    assert "RAYTRADER_API_KEY" in capsys.readouterr().err
