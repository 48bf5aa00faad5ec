"""Symbol mapping rules and the labelled headline evaluation set (precision >= 0.95, recall >= 0.90)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.sentiment.symbols import SymbolMapper

EVAL_SET = Path(__file__).resolve().parents[3] / "pipelines" / "sentiment" / "data" / "symbol_eval.jsonl"


def _map(text: str, markets: tuple[str, ...] = ()) -> dict[str, str]:
    return {m.symbol: m.rule for m in SymbolMapper(markets).map_text(text)}


@pytest.mark.parametrize(("text", "expected"), [
    ("$SOL and $LINK lead the rally", {"SOL/USDT": "cashtag", "LINK/USDT": "cashtag"}),
    ("Bitcoin (XBT) hits a new high", {"BTC/USDT": "name"}),
    ("btc dips while doge pumps", {"BTC/USDT": "ticker", "DOGE/USDT": "ticker"}),
    ("Ether and Ethereum gas fees drop", {"ETH/USDT": "name"}),
    ("Bitcoin Cash forks again", {"BCH/USDT": "name"}),
    ("ETH/BTC ratio climbs; DOGEUSDT volume spikes", {"ETH/USDT": "pair", "BTC/USDT": "pair", "DOGE/USDT": "pair"}),
    ("Check the link in bio, this one is near the top", {}),
    ("One of the best days: NEAR and ONE tokens rally", {"NEAR/USDT": "ticker_context", "ONE/USDT": "ticker_context"}),
    ("NEAR THE TOP: ONE CEO SAYS IT IS TIME TO SELL STOCKS", {}),
    ("an avalanche of sell orders hit the polygon-shaped chart", {}),
    ("Avalanche and Polygon partner on a bridge", {"AVAX/USDT": "name", "MATIC/USDT": "name"}),
    ("XRP rallies as SEC case nears an end", {"XRP/USDT": "ticker"}),
])
def test_rules(text: str, expected: dict[str, str]) -> None:
    assert _map(text) == expected


def test_universe_comes_from_markets() -> None:
    assert _map("Bitcoin and Solana rise", ("BTC/USDT", "ETH/USDT")) == {"BTC/USDT": "name"}
    mapper = SymbolMapper(["BTC/EUR", "ETH/EUR"], quote="EUR")
    assert [m.symbol for m in mapper.map_text("$ETH up")] == ["ETH/EUR"]


def test_map_table_emits_text_symbols_rows() -> None:
    texts = pa.table({"id": ["rss:1", "rss:2"], "title": ["Bitcoin up", "Nothing here"], "body": ["$ETH too", ""]})
    rows = SymbolMapper().map_table(texts).to_pylist()
    assert rows == [
        {"text_id": "rss:1", "symbol": "BTC/USDT", "confidence": pytest.approx(0.95), "rule": "name"},
        {"text_id": "rss:1", "symbol": "ETH/USDT", "confidence": pytest.approx(0.99), "rule": "cashtag"},
    ]


def test_labelled_headlines_precision_and_recall() -> None:
    rows = [json.loads(line) for line in EVAL_SET.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 200
    mapper = SymbolMapper()
    tp = fp = fn = 0
    for row in rows:
        got = {m.symbol for m in mapper.map_text(row["title"])}
        expected = set(row["expected"])
        tp, fp, fn = tp + len(got & expected), fp + len(got - expected), fn + len(expected - got)
    assert sum(bool(r["expected"]) for r in rows) >= 80
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.95, precision
    assert recall >= 0.90, recall
