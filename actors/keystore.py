"""Exchange API keys, encrypted at rest.

``<home>/keys.json`` (0600) maps a name to an exchange id, a short hint of
the API key (its last 4 characters) and a Fernet token holding the key, the
secret and the optional passphrase. The Fernet master key comes from
``$RAYTRADER_MASTER_KEY`` or, when that is unset, from ``<home>/master.key``
(0600, created on first use). Only :meth:`KeyStore.credentials` decrypts;
the exchange actor calls it inside its own process. Listing never decrypts,
and no method's return value or error message contains a secret.

Pure: no Ray. The command line is ``raytrader keys add | list | remove``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from raytrader.errors import InputError

__all__ = ["Credentials", "KeyEntry", "KeyStore", "KeyStoreError", "MASTER_KEY_ENV"]

MASTER_KEY_ENV = "RAYTRADER_MASTER_KEY"


class KeyStoreError(InputError):
    """A key-store operation was refused (unknown name, bad master key, ...); never carries a secret."""


@dataclass(frozen=True)
class Credentials:
    """Decrypted API credentials. ``repr`` hides everything but the key's hint."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key=...{self.api_key[-4:]}, secret=***)"


@dataclass(frozen=True)
class KeyEntry:
    """What ``list`` shows: no secret material."""

    name: str
    exchange: str
    key_hint: str
    created_at: float


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class KeyStore:
    """The encrypted key file in ``home`` (see the module docstring)."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.path = self.home / "keys.json"
        self._env = os.environ if env is None else env

    # ------------------------------------------------------------ master key
    def _fernet(self, create: bool) -> Fernet:
        raw = self._env.get(MASTER_KEY_ENV, "").strip()
        source = f"${MASTER_KEY_ENV}"
        if not raw:
            key_file = self.home / "master.key"
            source = str(key_file)
            if key_file.is_file():
                raw = key_file.read_text().strip()
            elif create:
                self.home.mkdir(parents=True, exist_ok=True)
                raw = Fernet.generate_key().decode()
                _write_private(key_file, raw.encode())
            else:
                raise KeyStoreError(f"no master key: set {MASTER_KEY_ENV} or add a key first (creates {key_file})")
        try:
            return Fernet(raw.encode())
        except (ValueError, TypeError):
            raise KeyStoreError(f"master key from {source} is not a Fernet key "
                                "(32 url-safe base64-encoded bytes; make one with Fernet.generate_key())") from None

    # ---------------------------------------------------------------- file
    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError:
            raise KeyStoreError(f"{self.path} is not valid JSON; restore it from a backup") from None
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        _write_private(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    # ----------------------------------------------------------------- API
    def add(self, name: str, exchange: str, credentials: Credentials, *, replace: bool = False) -> KeyEntry:
        """Encrypt and store ``credentials`` under ``name``."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise KeyStoreError(f"key name {name!r}: use letters, digits, '-' and '_'")
        if not exchange.isidentifier():
            raise KeyStoreError(f"exchange {exchange!r}: expected a ccxt exchange id such as binance")
        if not credentials.api_key or not credentials.secret:
            raise KeyStoreError(f"key {name}: both the API key and the secret are required")
        data = self._load()
        if name in data and not replace:
            raise KeyStoreError(f"key {name} already exists; remove it first or pass --replace")
        token = self._fernet(create=True).encrypt(json.dumps(
            {"api_key": credentials.api_key, "secret": credentials.secret, "password": credentials.password}).encode())
        entry = KeyEntry(name=name, exchange=exchange, key_hint=credentials.api_key[-4:], created_at=time.time())
        data[name] = {"exchange": exchange, "key_hint": entry.key_hint, "created_at": entry.created_at,
                      "token": token.decode()}
        self._save(data)
        return entry

    def entries(self) -> list[KeyEntry]:
        """Stored keys, by name; nothing is decrypted."""
        return [KeyEntry(name=n, exchange=e["exchange"], key_hint=e["key_hint"], created_at=e["created_at"])
                for n, e in sorted(self._load().items())]

    def remove(self, name: str) -> None:
        data = self._load()
        if name not in data:
            raise KeyStoreError(f"no key named {name!r}; known: {', '.join(sorted(data)) or 'none'}")
        del data[name]
        self._save(data)

    def credentials(self, name: str) -> Credentials:
        """Decrypt ``name`` (call this inside the process that talks to the exchange, nowhere else)."""
        data = self._load()
        if name not in data:
            raise KeyStoreError(f"no key named {name!r}; known: {', '.join(sorted(data)) or 'none'}")
        try:
            plain = self._fernet(create=False).decrypt(data[name]["token"].encode())
        except InvalidToken:
            raise KeyStoreError(f"key {name}: cannot decrypt with this master key "
                                f"(did {MASTER_KEY_ENV} or master.key change?)") from None
        return Credentials(**json.loads(plain))
