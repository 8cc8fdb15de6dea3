"""The per-dialect venue table (actors.exchange_config): no Ray."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.exchange_config import (
    DIALECTS,
    ExchangeConfig,
    ExchangeConfigError,
    dialect_of,
    our_client_id,
    venue_client_id,
)
from actors.exchange_core import client_order_id


def test_each_dialect_names_how_its_api_differs() -> None:
    binance, coinbase = dialect_of("binance"), dialect_of("coinbaseexchange")
    assert dialect_of("binanceus") is binance
    assert (binance.query_client_id, coinbase.query_client_id) == ("origClientOrderId", "clientOrderId")
    assert binance.fills_from_id_param == "fromId" and coinbase.fills_from_id_param is None
    assert binance.websocket and not coinbase.websocket and coinbase.streamed == ("trades", "book")
    assert (binance.sign_window_ms, coinbase.sign_window_ms) == (None, 30_000)
    assert (binance.fee_asset, coinbase.fee_asset) == ("received", "quote")
    with pytest.raises(ExchangeConfigError, match="'kraken': no venue table"):
        ExchangeConfig(venue="k", exchange_id="kraken")
    assert set(DIALECTS) == {"binance", "binanceus", "coinbaseexchange"}


def test_client_ids_keep_their_form_or_become_a_stable_uuid() -> None:
    ours = client_order_id("rt", "intent-1")
    assert venue_client_id(dialect_of("binance"), ours) == ours
    as_uuid = venue_client_id(dialect_of("coinbaseexchange"), ours)
    assert uuid.UUID(as_uuid).version == 8 and as_uuid == venue_client_id(dialect_of("coinbaseexchange"), ours)
    other = venue_client_id(dialect_of("coinbaseexchange"), client_order_id("rt", "intent-2"))
    assert other != as_uuid  # one-to-one over our ids


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_]{1,11}", fullmatch=True), st.text(min_size=1, max_size=40))
def test_a_uuid_client_id_reads_back_into_ours_with_no_state(namespace: str, intent_id: str) -> None:
    coinbase, binance = dialect_of("coinbaseexchange"), dialect_of("binance")
    ours = client_order_id(namespace, intent_id)
    sent = venue_client_id(coinbase, ours)
    parsed = uuid.UUID(sent)
    assert str(parsed) == sent and parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert our_client_id(coinbase, namespace, sent) == ours
    assert our_client_id(binance, namespace, ours) == ours
    other_ns = "x" + namespace[:10] if namespace != "x" + namespace[:10] else "y"
    assert our_client_id(coinbase, other_ns, sent) == sent  # another namespace's order is not claimed
    stranger = str(uuid.uuid4())
    assert our_client_id(coinbase, namespace, stranger) == stranger
    assert our_client_id(coinbase, namespace, "emu0000000001") == "emu0000000001"
