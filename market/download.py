"""Downloading OHLCV bars from an exchange through ccxt's synchronous client.

Only public market-data endpoints are used: no API keys are configured, and
error messages are scrubbed of anything that looks like a credential.

Pagination: ``fetch_ohlcv(symbol, timeframe, since, limit)`` is called with
``since`` moved one bar past the last open time received, until the range
is covered, a page comes back empty, or a page does not advance. Bars are
kept when ``since_ms <= timestamp < until_ms`` (half-open, UTC ms); the bar
still forming at the time of the download is dropped. Duplicates (overlapping
pages) are removed, the last copy winning, and the result is validated
(:func:`market.validate.validate_bars`).

Errors: an unknown exchange, market or timeframe raises
:class:`~market.errors.InputError`; transport failures and exchange-side
errors raise :class:`DownloadError` (an ``InputError``) with the cause.
"""

from __future__ import annotations

import difflib
import re
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import numpy as np

from market.bars import Bars
from raytrader.errors import InputError
from market.timeframe import floor_to_grid, parse_timeframe
from market.validate import validate_bars

__all__ = ["DownloadError", "download_ohlcv", "make_exchange", "redirect_urls"]

ProgressCallback = Callable[[int, "int | None"], None]

_SECRET_PARAM = re.compile(r"(?i)(signature|api[_-]?key|secret|password|passphrase|token|x-mbx-apikey)([=:]\s*)[^&\s,'\"}]+")
_MAX_MESSAGE = 400


class DownloadError(InputError):
    """A download failed on the network or at the exchange; the message names the cause."""


def redirect_urls(urls: Any, api_url: str) -> Any:
    """Copy of ``urls`` (nested dicts/lists of strings) with every http(s) URL's host replaced.

    ``https://api.binance.com/api/v3`` becomes ``<api_url>/api/v3``; a path
    in ``api_url`` is kept as a prefix.
    """
    base = urlsplit(api_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise InputError(f"--api-url {api_url!r} is not an http(s) URL like http://127.0.0.1:8000")
    prefix = f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}"

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, str):
            parts = urlsplit(value)
            if parts.scheme in ("http", "https") and parts.netloc:
                query = f"?{parts.query}" if parts.query else ""
                return f"{prefix}{parts.path}{query}"
        return value

    return swap(urls)


def make_exchange(exchange_id: str, api_url: str | None = None) -> Any:
    """A ccxt sync exchange for public market data (spot markets only, no currency list).

    ``api_url`` redirects every API host of the exchange (e.g. to the local
    emulator or a test server).
    """
    import ccxt  # noqa: PLC0415 - late: importing ccxt takes about a second

    if not isinstance(exchange_id, str) or exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(str(exchange_id), ccxt.exchanges, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"unknown exchange {exchange_id!r} (not a ccxt exchange id){hint}")
    exchange = getattr(ccxt, exchange_id)({
        "enableRateLimit": True,
        # both options exist in ccxt 4.5.90's binance class: fetchMarkets.types limits
        # load_markets to /api/v3/exchangeInfo; fetchCurrencies False skips the private
        # /sapi/v1/capital/config/getall call. Other exchanges ignore what they do not know.
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
    })
    if api_url:
        exchange.urls["api"] = redirect_urls(exchange.urls["api"], api_url)
    return exchange


def _scrub(text: str, exchange: Any = None) -> str:
    for attr in ("apiKey", "secret", "password", "uid", "privateKey", "token"):
        value = getattr(exchange, attr, None) if exchange is not None else None
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


def _iso(ms: int | None) -> str:
    if ms is None:
        return "now"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def download_ohlcv(
    exchange_id: str,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int | None = None,
    api_url: str | None = None,
    limit: int = 1000,
    on_progress: ProgressCallback | None = None,
) -> Bars:
    """Download ``symbol`` bars of ``timeframe`` with open times in ``[since_ms, until_ms)``.

    ``until_ms`` None means up to the last closed bar. ``limit`` is the page
    size asked for (Binance serves at most 1000). ``on_progress(rows_so_far,
    expected_rows_or_None)`` is called after each page. Returns validated
    :class:`Bars` with ``venue=exchange_id``.
    """
    tf = parse_timeframe(timeframe)
    if not isinstance(since_ms, (int, np.integer)) or isinstance(since_ms, bool):
        raise InputError(f"since must be UTC milliseconds (int), got {since_ms!r}")
    if until_ms is not None and int(until_ms) <= int(since_ms):
        raise InputError(f"until ({_iso(int(until_ms))}) must be after since ({_iso(int(since_ms))})")
    if not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit must be a positive integer, got {limit!r}")
    since_ms = int(since_ms)
    exchange = make_exchange(exchange_id, api_url)
    import ccxt  # noqa: PLC0415 - deferred: keeps this module cheap to import

    try:
        return _download(exchange, exchange_id, symbol, tf.text, tf.ms, since_ms, until_ms, limit, on_progress)
    except ccxt.BadSymbol as exc:
        raise InputError(f"{exchange_id} has no market {symbol!r}: {_scrub(str(exc), exchange)}") from None
    except ccxt.BadRequest as exc:
        raise InputError(f"{exchange_id} rejected the request for {symbol} {tf.text}: {_scrub(str(exc), exchange)}") from None
    except ccxt.NetworkError as exc:
        raise DownloadError(
            f"network error talking to {exchange_id} ({type(exc).__name__}): {_scrub(str(exc), exchange)}"
        ) from None
    except ccxt.BaseError as exc:
        raise DownloadError(f"{exchange_id} download failed ({type(exc).__name__}): {_scrub(str(exc), exchange)}") from None
    finally:
        exchange.close()


def _download(
    exchange: Any, exchange_id: str, symbol: str, timeframe: str, tf_ms: int,
    since_ms: int, until_ms: int | None, limit: int, on_progress: ProgressCallback | None,
) -> Bars:
    exchange.load_markets()
    if symbol not in exchange.markets:
        close = difflib.get_close_matches(symbol, list(exchange.markets), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"{exchange_id} has no market {symbol!r}{hint}")
    if not exchange.has.get("fetchOHLCV"):
        raise InputError(f"{exchange_id} does not serve OHLCV bars through ccxt")
    if exchange.timeframes and timeframe not in exchange.timeframes:
        raise InputError(f"{exchange_id} has no {timeframe} bars; it offers {', '.join(exchange.timeframes)}")

    # the bar open at 'now' is still forming: stop before it
    end = floor_to_grid(int(exchange.milliseconds()), timeframe)
    if until_ms is not None:
        end = min(end, int(until_ms))
    expected = max(0, -(-(end - since_ms) // tf_ms))
    chunks: list[np.ndarray] = []
    rows = 0
    since = since_ms
    while since < end:
        page = exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)
        if not page:
            break
        arr = np.array([row[:6] for row in page], dtype=np.float64)
        ts = arr[:, 0].astype(np.int64)
        keep = (ts >= since_ms) & (ts < end)
        if keep.any():
            chunks.append(arr[keep])
            rows += int(keep.sum())
        if on_progress is not None:
            on_progress(min(rows, expected), expected)
        next_since = int(ts.max()) + tf_ms
        if next_since <= since:  # the exchange did not move forward: stop rather than loop
            break
        since = next_since

    if not chunks:
        raise InputError(f"{exchange_id} returned no {timeframe} bars for {symbol} between {_iso(since_ms)} and {_iso(end)}")
    data = np.concatenate(chunks)
    ts = data[:, 0].astype(np.int64)
    # dedupe, last copy wins: unique on the reversed array keeps the first of the reversed = last
    _, first_rev = np.unique(ts[::-1], return_index=True)
    idx = len(ts) - 1 - first_rev
    data = data[idx]  # np.unique orders by timestamp
    bars = Bars(
        timestamp=data[:, 0].astype(np.int64), open=data[:, 1], high=data[:, 2], low=data[:, 3], close=data[:, 4],
        volume=data[:, 5], symbol=symbol, timeframe=timeframe, venue=exchange_id,
    )
    validate_bars(bars, source=f"{exchange_id} {symbol} {timeframe} download")
    if on_progress is not None:
        on_progress(len(bars), expected)
    return bars
