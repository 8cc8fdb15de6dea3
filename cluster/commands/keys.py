"""``raytrader keys add | list | remove``: exchange API keys, encrypted at rest (see ``actors.keystore``).

Secrets are never taken as command-line arguments (they would show in
``ps`` and shell history): ``add`` reads them from stdin (``--stdin``: the
API key, the secret and an optional passphrase, one per line), from the
environment (``RAYTRADER_API_KEY``, ``RAYTRADER_API_SECRET``,
``RAYTRADER_API_PASSWORD``), or from a hidden prompt on a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time

from actors.keystore import Credentials, KeyStore, KeyStoreError
from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config

__all__ = ["register", "read_credentials"]


def read_credentials(args: argparse.Namespace) -> Credentials:
    """The credentials to store, from stdin, the environment or a prompt (in that order)."""
    if args.stdin:
        lines = [line.strip() for line in sys.stdin.read().splitlines()]
        lines = [line for line in lines if line]
        if len(lines) not in (2, 3):
            raise KeyStoreError("--stdin: expected 2 or 3 non-empty lines: API key, secret[, passphrase]")
        return Credentials(*lines)
    key, secret = os.environ.get("RAYTRADER_API_KEY", ""), os.environ.get("RAYTRADER_API_SECRET", "")
    if key and secret:
        return Credentials(key, secret, os.environ.get("RAYTRADER_API_PASSWORD", ""))
    if sys.stdin.isatty():
        return Credentials(getpass.getpass("API key: "), getpass.getpass("API secret: "),
                           getpass.getpass("passphrase (empty if none): "))
    raise KeyStoreError("no credentials: pass --stdin, or set RAYTRADER_API_KEY and RAYTRADER_API_SECRET")


def _store(config: Config) -> KeyStore:
    return KeyStore(config.cluster.home)


def _add(args: argparse.Namespace, config: Config) -> Output:
    entry = _store(config).add(args.name, args.exchange, read_credentials(args), replace=args.replace)
    data = {"name": entry.name, "exchange": entry.exchange, "key_hint": entry.key_hint}
    return Output(data=data, text=f"stored key {entry.name} for {entry.exchange} (API key ...{entry.key_hint}), "
                                  f"encrypted in {config.cluster.home / 'keys.json'}")


def _list(args: argparse.Namespace, config: Config) -> Output:
    entries = _store(config).entries()
    data = {"keys": [{"name": e.name, "exchange": e.exchange, "key_hint": e.key_hint,
                      "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.created_at))} for e in entries]}
    lines = [f"{k['name']:20s} {k['exchange']:12s} ...{k['key_hint']}  added {k['created_at']}" for k in data["keys"]]
    return Output(data=data, text="\n".join(lines) or "no keys stored (add one with `raytrader keys add`)")


def _remove(args: argparse.Namespace, config: Config) -> Output:
    _store(config).remove(args.name)
    return Output(data={"removed": args.name}, text=f"removed key {args.name}")


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "keys", "exchange API keys, encrypted at rest (Fernet)")
    p = add_command(group, "add", _add, "encrypt and store an API key pair (read from stdin, env or a prompt)")
    p.add_argument("name", help="a name for this key, e.g. binance-main")
    p.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
    p.add_argument("--stdin", action="store_true", help="read API key, secret[, passphrase] from stdin, one per line")
    p.add_argument("--replace", action="store_true", help="overwrite a key of the same name")
    add_command(group, "list", _list, "list stored keys (names, exchanges, last 4 characters of the API key)")
    p = add_command(group, "remove", _remove, "delete a stored key")
    p.add_argument("name")
