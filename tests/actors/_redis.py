"""A private redis-server for tests: the binary ``raytrader up`` uses, on a free loopback port, with a
password and its own data folder; restartable on the same port/password/folder (never the cluster's Redis)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cluster.lifecycle import redis_server_binary
from raytrader.ports import free_port

__all__ = ["PrivateRedis", "running"]


class PrivateRedis:
    """A redis-server of our own: AOF on, the given fsync policy, restartable on the same port/password/dir."""

    def __init__(self, folder: Path, appendfsync: str = "always") -> None:
        self.folder, self.port, self.password = folder, free_port(), secrets.token_urlsafe(16)
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "redis.conf"
        self.conf.write_text("\n".join([
            "bind 127.0.0.1", f"port {self.port}", f"requirepass {self.password}", "appendonly yes",
            f"appendfsync {appendfsync}", f'dir "{folder}"', 'save ""', "daemonize no", ""]))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.folder / "redis.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([redis_server_binary(), str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
            except redis.BusyLoadingError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not answer; see {self.folder / 'redis.log'}")

    def client(self, retries: bool = True) -> redis.Redis:
        """A client of this server; ``retries=False``: none of redis-py's retries (by default 10, ~4 s of backoff
        in all before a stopped server's ``ConnectionError`` reaches the caller)."""
        extra = {} if retries else {"retry": Retry(NoBackoff(), 0)}
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=10, **extra)

    def sigkill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@contextmanager
def running(folder: Path, appendfsync: str = "always") -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, stopped on exit."""
    server = PrivateRedis(folder, appendfsync)
    server.start()
    try:
        yield server
    finally:
        server.stop()
