"""Fixtures of the ingestion unit tests: a fake clock and the recorded venue sessions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actors.exchanges import Trade, coinbase

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def fake_clock() -> FakeClock:
    """A fresh :class:`FakeClock`."""
    return FakeClock()


def load_recorded(venue: str, scenario: str = "cryptofeed_session") -> list[dict[str, Any]]:
    """Rows ``{recv_ts_ms, conn, payload}`` of ``tests/fixtures/recorded/<venue>/<scenario>.jsonl``."""
    path = RECORDED / venue / f"{scenario}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def recorded_coinbase_trades(product_id: str = "SKL-USD") -> list[Trade]:
    """The recorded Coinbase matches of ``product_id`` (SKL-USD: 53 trades over ~30 s), parsed, in id order."""
    seen: dict[int, Trade] = {}
    for row in load_recorded("coinbase"):
        msg = json.loads(row["payload"])
        if msg.get("type") in ("match", "last_match") and msg["product_id"] == product_id:
            trade = coinbase.parse_trade(msg, 0)
            seen[trade.trade_id] = trade
    return [seen[k] for k in sorted(seen)]
