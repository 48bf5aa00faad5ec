"""Broker configs: paper by default, venue configs required, secrets never in reprs."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from actors.brokers.ccxt_broker import CcxtBrokerConfig
from actors.brokers.clock import ManualClock
from actors.brokers.factory import BrokerConfig, build_broker
from actors.brokers.paper import PaperBroker


def test_paper_is_the_default() -> None:
    assert isinstance(build_broker(BrokerConfig(), ManualClock(0)), PaperBroker)


def test_venue_kinds_need_their_config() -> None:
    with pytest.raises(ValidationError, match="ccxt config"):
        BrokerConfig(kind="binance")
    with pytest.raises(ValidationError, match="ccxt config"):
        BrokerConfig(kind="coinbase", ccxt=CcxtBrokerConfig(exchange="binance"))
    with pytest.raises(ValidationError, match="robinhood config"):
        BrokerConfig(kind="robinhood")


def test_ccxt_config_hides_keys_and_points_at_sandbox_or_simulator() -> None:
    cfg = CcxtBrokerConfig(exchange="binance", api_key=SecretStr("k-1234567890"), api_secret=SecretStr("s-0987654321"),
                           testnet=True)
    assert "k-1234567890" not in repr(cfg) and "s-0987654321" not in str(BrokerConfig(kind="binance", ccxt=cfg))
    broker = build_broker(BrokerConfig(kind="binance", ccxt=cfg), ManualClock(0))
    assert "testnet" in broker.client.urls["api"]["private"]  # type: ignore[attr-defined]
    sim = CcxtBrokerConfig(exchange="binance", rest_url="http://127.0.0.1:9")
    client = build_broker(BrokerConfig(kind="binance", ccxt=sim), ManualClock(0)).client  # type: ignore[attr-defined]
    urls = [u for u in client.urls["api"].values() if isinstance(u, str)]
    assert urls and all(u.startswith("http://127.0.0.1:9") for u in urls)
