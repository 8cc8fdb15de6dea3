"""A small Python client of the raytrader API (stdlib ``urllib`` for HTTP, ``websockets`` for the stream).

>>> client = RaytraderClient("http://127.0.0.1:8000", token)          # doctest: +SKIP
>>> client.signal("sma_cross", bars, {"fast": 10, "slow": 30})["position"]  # doctest: +SKIP
1.0

``bars`` is a :class:`market.bars.Bars` or a mapping of the six column
lists. Errors raise :class:`ApiClientError` carrying the HTTP status, the
server's error ``code``/``field`` and ``Retry-After`` when given.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["RaytraderClient", "ApiClientError", "bars_to_json"]

_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class ApiClientError(Exception):
    """An error response: ``status`` (HTTP), ``code``, ``field``, ``retry_after_s`` and the raw ``body``."""

    def __init__(self, status: int, body: Any, retry_after_s: float | None = None) -> None:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = err.get("code")
        self.field = err.get("field")
        self.retry_after_s = retry_after_s
        self.body = body
        super().__init__(f"HTTP {status} {self.code}: {err.get('message', body)}")


def bars_to_json(bars: Any) -> dict[str, Any]:
    """The API's column form of ``bars`` (a Bars-like object or a mapping of columns)."""
    if isinstance(bars, Mapping):
        out = {c: list(bars[c]) for c in _COLUMNS}
        if bars.get("timeframe"):
            out["timeframe"] = bars["timeframe"]
        return out
    out = {"timestamp": [int(v) for v in bars.timestamp]}
    out.update({c: [float(v) for v in getattr(bars, c)] for c in _COLUMNS[1:]})
    if getattr(bars, "timeframe", None):
        out["timeframe"] = bars.timeframe
    return out


class RaytraderClient:
    """Calls one API base URL (``http://127.0.0.1:8000``) with one bearer token."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    # ------------------------------------------------------------------ HTTP
    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call; the decoded JSON answer, or :class:`ApiClientError`."""
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode(errors="replace")
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw
            retry = exc.headers.get("Retry-After")
            raise ApiClientError(exc.code, parsed, float(retry) if retry else None) from None

    def signal(self, strategy: str, bars: Any, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v1/signals/{strategy}``: ``{"position", "bar_time", "indicators", ...}``."""
        return self.request("POST", f"/v1/signals/{strategy}", {"bars": bars_to_json(bars), "params": dict(params or {})})

    def batch(self, strategy: str, items: Iterable[tuple[str, Any, Mapping[str, Any] | None]]) -> list[dict[str, Any]]:
        """``POST /v1/signals/{strategy}/batch`` for ``(symbol, bars, params)`` items; results in order."""
        body = {"items": [{"symbol": s, "bars": bars_to_json(b), "params": dict(p or {})} for s, b, p in items]}
        return self.request("POST", f"/v1/signals/{strategy}/batch", body)["results"]

    def strategies(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/strategies")["strategies"]

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/v1/health")

    # ------------------------------------------------------------- WebSocket
    def stream(self, strategy: str, bars: Any, params: Mapping[str, Any] | None = None, *,
               window: int | None = None, timeframe: str | None = None) -> Iterator[dict[str, Any]]:
        """Post ``bars`` one at a time over ``/v1/stream/{strategy}``; yield the server's message for each bar.

        Authenticates with the first message (``{"token": ...}``), then sends
        the configuration once. Raises :class:`ApiClientError` when the
        server refuses the token or the configuration.
        """
        from websockets.sync.client import connect  # noqa: PLC0415 - deferred: keeps this module cheap to import

        cols = bars_to_json(bars)
        url = "ws" + self.base_url[len("http"):] + f"/v1/stream/{strategy}"
        with connect(url, open_timeout=self.timeout_s, close_timeout=5) as ws:
            ws.send(json.dumps({"token": self.token or ""}))
            self._expect(ws, "authenticated")
            config: dict[str, Any] = {"params": dict(params or {})}
            if window is not None:
                config["window"] = window
            if timeframe or cols.get("timeframe"):
                config["timeframe"] = timeframe or cols["timeframe"]
            ws.send(json.dumps(config))
            self._expect(ws, "configured")
            for i in range(len(cols["timestamp"])):
                ws.send(json.dumps({"bar": {c: cols[c][i] for c in _COLUMNS}}, allow_nan=False))
                yield json.loads(ws.recv(timeout=self.timeout_s))

    def _expect(self, ws: Any, kind: str) -> dict[str, Any]:
        reply = json.loads(ws.recv(timeout=self.timeout_s))
        if reply.get("type") != kind:
            status = {"unauthorized": 401, "forbidden": 403, "rate_limited": 429, "not_found": 404}.get(
                reply.get("error", {}).get("code"), 400)
            raise ApiClientError(status, reply)
        return reply
