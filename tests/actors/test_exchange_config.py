"""The per-dialect venue table (actors.exchange_config): no Ray."""

from __future__ import annotations

import uuid

import pytest

from actors.exchange_config import DIALECTS, ExchangeConfig, ExchangeConfigError, dialect_of, venue_client_id
from actors.exchange_core import client_order_id


def test_each_dialect_names_how_its_api_differs() -> None:
    binance, coinbase = dialect_of("binance"), dialect_of("coinbaseexchange")
    assert dialect_of("binanceus") is binance
    assert (binance.query_client_id, coinbase.query_client_id) == ("origClientOrderId", "clientOrderId")
    assert binance.fills_from_id_param == "fromId" and coinbase.fills_from_id_param is None
    assert binance.websocket and not coinbase.websocket
    assert (binance.fee_asset, coinbase.fee_asset) == ("received", "quote")
    with pytest.raises(ExchangeConfigError, match="'kraken': no venue table"):
        ExchangeConfig(venue="k", exchange_id="kraken")
    assert set(DIALECTS) == {"binance", "binanceus", "coinbaseexchange"}


def test_client_ids_keep_their_form_or_become_a_stable_uuid() -> None:
    ours = client_order_id("rt", "intent-1")
    assert venue_client_id(dialect_of("binance"), ours) == ours
    as_uuid = venue_client_id(dialect_of("coinbaseexchange"), ours)
    assert uuid.UUID(as_uuid).version == 5 and as_uuid == venue_client_id(dialect_of("coinbaseexchange"), ours)
    other = venue_client_id(dialect_of("coinbaseexchange"), client_order_id("rt", "intent-2"))
    assert other != as_uuid  # one-to-one over our ids
