"""Every SQL query in deploy/grafana/dashboards runs against a populated chdb store and returns rows."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from actors.exchange_stream_core import ExchangeStreamCore, StreamConfig, candles_table, gaps_table
from actors.exchanges import Trade, coinbase
from cluster.schemas import CANDLES, conform
from cluster.sim.dataset import bundled_klines_dir
from cluster.store import StoreOps
from tests.unit.ingest.conftest import FakeClock, load_recorded

pytestmark = pytest.mark.integration
DASHBOARDS = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "dashboards"
VARIABLES = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}


def _queries(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["rawSql"]] if isinstance(node.get("rawSql"), str) else []
        if node.get("type") == "query" and isinstance(node.get("query"), str):
            found.append(node["query"])
        return found + [q for v in node.values() for q in _queries(v)]
    if isinstance(node, list):
        return [q for v in node for q in _queries(v)]
    return []


def _expand(sql: str) -> str:
    """Apply the ClickHouse plugin's macros and the dashboard variables (all of time as the range)."""
    sql = re.sub(r"\$__timeFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)",
                 lambda m: f"{m.group(1)} >= toDateTime(0) AND {m.group(1)} <= now()", sql)
    for name, value in VARIABLES.items():
        sql = sql.replace("${" + name + "}", value).replace("$" + name, value)
    return sql


def _populate(ops: StoreOps) -> None:
    now = int(time.time() * 1000)
    for pair in ("BTC_USDT", "ETH_USDT"):
        frame = pl.read_ipc(bundled_klines_dir() / f"{pair}-1h.feather").head(500)
        table = pa.table({
            "exchange": ["binance"] * frame.height, "symbol": [pair.replace("_", "/")] * frame.height,
            "timeframe": ["1h"] * frame.height, "ts": frame["date"].dt.epoch("ms").to_list(),
            **{c: frame[c].to_list() for c in ("open", "high", "low", "close", "volume")},
            "trades": pa.nulls(frame.height, pa.uint64()), "source": ["rest"] * frame.height,
            "ingested_at": pa.array([now] * frame.height, pa.timestamp("ms", tz="UTC"))})
        ops.insert_candles(conform(table, CANDLES))
    # coinbase 1m candles built from the recorded matches, with a real id gap repaired from the same trades
    trades = [e for row in load_recorded("coinbase") for e in [_trade(row["payload"])] if e is not None]
    clock = FakeClock(now)
    core = ExchangeStreamCore(StreamConfig(exchange="coinbase", symbols=("SKL/USD",)), coinbase, clock)
    skl = sorted({t.trade_id: t for t in trades if t.symbol == "SKL/USD"}.values(), key=lambda t: t.trade_id)
    closed = core.ingest("SKL/USD", skl[:10] + skl[15:], now).closed
    clock.advance(120)
    repair = core.apply_repair("SKL/USD", skl[10:], now)
    closed += repair.closed + core.flush()
    ops.insert_candles(candles_table(closed, now))
    ops.store.insert_arrow("data_gaps", gaps_table(repair.gaps))


def _trade(payload: str) -> Trade | None:
    kind, msg = coinbase.decode_frame(payload)
    return coinbase.parse_trade(msg, 0) if kind in ("match", "last_match") else None


def test_every_dashboard_query_returns_rows(store_ops: StoreOps) -> None:
    _populate(store_ops)
    files = sorted(DASHBOARDS.glob("*.json"))
    assert files
    queries = [q for f in files for q in _queries(json.loads(f.read_text()))]
    assert len(queries) >= 8
    for sql in queries:
        result = store_ops.store.query_arrow(_expand(sql))
        assert result.num_rows > 0, sql
