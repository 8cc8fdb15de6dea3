"""Point a real ccxt ``binance`` or ``coinbaseexchange`` client (sync or ccxt.pro/async) at an emulator.

ccxt is not imported here: callers build the exchange themselves::

    import ccxt
    exchange = ccxt.binance(ccxt_config(api_key="k", secret="s"))
    point_at(exchange, server.url)

:func:`ccxt_config` keeps ``load_markets`` to ``/api/v3/exchangeInfo`` only
(spot markets, no currencies endpoint, no margin pairs);
:func:`point_at` rewrites every ``https://api.binance.com`` URL of the
client (REST) and, when given, the WebSocket base; for ``coinbaseexchange``
(:func:`coinbase_config`) it points the ``public`` and ``private`` REST bases
at the Coinbase-dialect server (:class:`market.emulator.coinbase.CoinbaseServer`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ccxt_config", "coinbase_config", "point_at", "BINANCE_REST"]

BINANCE_REST = "https://api.binance.com"


def ccxt_config(api_key: str | None = None, secret: str | None = None, **extra: Any) -> dict[str, Any]:
    """ccxt constructor config for the emulator; ``extra`` is merged on top (``options`` merged too)."""
    options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}
    options.update(extra.pop("options", {}))
    config: dict[str, Any] = {"options": options, **extra}
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    return config


def coinbase_config(api_key: str | None = None, secret: str | None = None, password: str | None = None,
                    **extra: Any) -> dict[str, Any]:
    """ccxt ``coinbaseexchange`` constructor config (``password`` is Coinbase's passphrase; ``secret`` base64)."""
    config: dict[str, Any] = dict(extra)
    for name, value in (("apiKey", api_key), ("secret", secret), ("password", password)):
        if value is not None:
            config[name] = value
    return config


def point_at(exchange: Any, base_url: str, ws_url: str | None = None) -> Any:
    """Replace ``https://api.binance.com`` with ``base_url`` in every string of ``exchange.urls['api']``.

    With ``ws_url`` (``EmulatorServer.ws_url``) the spot WebSocket base of a
    ccxt.pro client points there too, and its WebSocket API (where ccxt.pro subscribes to the user-data
    stream: ``watch_my_trades``, ``watch_orders``, ``watch_balance``) at the same server's ``/ws-api/v3``.
    """
    api = exchange.urls["api"]
    if getattr(exchange, "id", "") == "coinbaseexchange":
        api["public"] = api["private"] = base_url.rstrip("/")
        if ws_url is not None:
            api["ws"] = ws_url
        return exchange
    for name, value in list(api.items()):
        if isinstance(value, str):
            api[name] = value.replace(BINANCE_REST, base_url.rstrip("/"))
    if ws_url is not None and isinstance(api.get("ws"), dict):
        api["ws"]["spot"] = ws_url
        if isinstance(api["ws"].get("ws-api"), dict):  # the user-data stream (ccxt.pro spot), same host and port
            api["ws"]["ws-api"]["spot"] = ws_url.split("/stream/ws")[0] + "/ws-api/v3"
    return exchange
