"""The API's stable port: the replica itself serves ``serve.port``, whatever port Serve gave it.

Serve's direct ingress hands each replica a port from a range and, after a
replica is killed, gives the new one the *next* port: the killed replica's
port still has connections in TIME_WAIT, Serve binds without
``SO_REUSEADDR``, the bind fails and Serve blocks that port for good. Users
and their clients hold ``serve.port``, so the replica also listens there
itself, on its own event loop, with the same ASGI app:

* the socket is bound with ``SO_REUSEADDR`` (never ``SO_REUSEPORT``: two
  live processes must not share the port), so a restarted replica takes the
  port back at once, TIME_WAIT or not;
* while another process holds the port (the old replica draining during a
  redeploy), the bind is retried every ``retry_s`` seconds until it is free;
* :meth:`StableListener.problem` says how long the port has been unbound, so
  the deployment's health check can fail and Serve replaces the replica.

The app runs here without Serve's request router in between (as plain
uvicorn), so the app's own guard (allowlist, size limits, auth, in-flight
limits) is what protects it; Serve's ``max_ongoing_requests`` counts only
requests that arrive through Serve's own ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["StableListener"]

log = logging.getLogger("raytrader.api")


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: the replica process (Ray's) owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class StableListener:
    """Serve ``app`` on ``host:port`` from the running event loop, taking the port as soon as it is free.

    Invariants: at most one bound socket; ``bound_since`` is set while serving
    and ``unbound_since`` (monotonic seconds) while waiting for the port.
    """

    def __init__(self, app: Any, host: str, port: int, *, retry_s: float = 0.25,
                 keep_alive_s: float = 5.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.retry_s = retry_s
        self.keep_alive_s = keep_alive_s
        self.unbound_since: float | None = time.monotonic()
        self.bound_since: float | None = None
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin serving from the running loop (returns at once)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stable-listener:{self.port}")

    def _bind(self) -> socket.socket | None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            return None
        sock.listen(2048)
        return sock

    async def _run(self) -> None:
        waited_logged = False
        while True:
            sock = self._bind()
            if sock is None:
                if not waited_logged:
                    log.warning("port %s:%d is busy; serving it as soon as it is free", self.host, self.port)
                    waited_logged = True
                await asyncio.sleep(self.retry_s)
                continue
            self.unbound_since, self.bound_since = None, time.monotonic()
            server = _QuietServer(uvicorn.Config(
                self.app, lifespan="off", access_log=False, log_level=None, log_config=None,
                timeout_keep_alive=int(self.keep_alive_s)))
            self._server = server
            try:
                await server.serve(sockets=[sock])
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed server is logged and bound again, never left dead
                log.exception("the server on %s:%d stopped; binding it again", self.host, self.port)
            finally:
                sock.close()
                self._server = None
                self.bound_since, self.unbound_since = None, time.monotonic()
            if server.should_exit:
                return
            await asyncio.sleep(self.retry_s)

    def problem(self, max_unbound_s: float) -> str | None:
        """Why this listener is unhealthy (unbound for longer than ``max_unbound_s``), else None."""
        if self.unbound_since is None:
            return None
        waited = time.monotonic() - self.unbound_since
        if waited <= max_unbound_s:
            return None
        return f"port {self.host}:{self.port} not bound for {waited:.0f} s (held by another process?)"

    async def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            self._task.cancel()
