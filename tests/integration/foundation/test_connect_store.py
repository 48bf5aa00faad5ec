"""The ClickHouse-server backend, against a real server when ``COINRAY_TEST_CLICKHOUSE_URL`` names one.

No ClickHouse server can be installed on the CI machine (Debian ships an 2018 build too old for
coinray's schema), so these tests skip there; run them against any ClickHouse >= 23 with e.g.
``COINRAY_TEST_CLICKHOUSE_URL=http://default:@127.0.0.1:8123 make test``.
"""

from __future__ import annotations

import os
import uuid

import pyarrow as pa
import pytest

from cluster.errors import StoreError, TransientError
from cluster.schemas import CANDLES
from cluster.settings import load_settings
from cluster.store import ConnectStore, open_store

pytestmark = pytest.mark.integration
URL = os.environ.get("COINRAY_TEST_CLICKHOUSE_URL")


def test_unreachable_server_is_transient() -> None:
    with pytest.raises(TransientError, match="ClickHouse"):
        ConnectStore("http://default:@127.0.0.1:1", database="x").command("SELECT 1")


@pytest.mark.skipif(not URL, reason="set COINRAY_TEST_CLICKHOUSE_URL to a ClickHouse server to run")
def test_migrate_ingest_and_rollup_on_a_server() -> None:
    db = f"coinray_test_{uuid.uuid4().hex[:8]}"
    ops = open_store(load_settings(clickhouse_url=URL, store={"database": db}))
    try:
        assert ops.migrate() == []
        n = 60
        table = pa.table({
            "exchange": ["binance"] * n, "symbol": ["BTC/USDT"] * n, "timeframe": ["1m"] * n,
            "ts": pa.array([i * 60_000 for i in range(n)], pa.int64()), "open": [1.0] * n, "high": [2.0] * n,
            "low": [0.5] * n, "close": [1.5] * n, "volume": [1.0] * n, "trades": pa.nulls(n, pa.uint64()),
            "source": ["file"] * n, "ingested_at": pa.array([1] * n, pa.timestamp("ms", tz="UTC")),
        }, schema=CANDLES)
        ops.insert_candles(table)
        ops.insert_candles(table)
        assert ops.count_candles() == n
        hour = ops.read_candles(timeframe="1h").to_pylist()
        assert len(hour) == 1 and hour[0]["volume"] == 60.0
        with pytest.raises(StoreError):
            ops.store.query_arrow("SELECT * FROM no_such_table")
    finally:
        ops.store.command(f"DROP DATABASE IF EXISTS {db}")
        ops.store.close()
