"""The chdb store: idempotent migrations, no duplicates on re-ingest, exact rollups, one owner per dir."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from cluster.errors import StoreError, StoreLockedError
from cluster.schemas import CANDLES
from cluster.settings import load_settings
from cluster.store import ChdbStore, StoreOps, open_store
from cluster.store.migrations import MIGRATIONS, latest_version

pytestmark = pytest.mark.integration
M = 60_000


def candles(rows: list[tuple[int, float, float, float, float, float]], *, tf: str = "1m", ingested_ms: int = 1,
            symbol: str = "BTC/USDT", source: str = "file") -> pa.Table:
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 6
    return pa.table(
        {
            "exchange": ["binance"] * n, "symbol": [symbol] * n, "timeframe": [tf] * n,
            "ts": pa.array(cols[0], pa.int64()), "open": cols[1], "high": cols[2], "low": cols[3],
            "close": cols[4], "volume": cols[5], "trades": pa.nulls(n, pa.uint64()), "source": [source] * n,
            "ingested_at": pa.array([ingested_ms] * n, pa.timestamp("ms", tz="UTC")),
        },
        schema=CANDLES,
    )


@pytest.fixture
def ops() -> Iterator[StoreOps]:
    store = open_store(load_settings())
    yield store
    store.store.close()


def test_migrations_are_versioned_and_idempotent(ops: StoreOps) -> None:
    assert ops.schema_version() == latest_version()
    assert ops.migrate() == []  # second run applies nothing
    rows = ops.store.query_arrow(
        "SELECT version, count() AS n FROM schema_migrations GROUP BY version ORDER BY version"
    )
    assert rows.column("version").to_pylist() == [m.version for m in MIGRATIONS]
    assert set(rows.column("n").to_pylist()) == {1}
    tables = set(ops.store.query_arrow("SELECT name FROM system.tables WHERE database = 'coinray'")
                 .column("name").to_pylist())
    assert {"candles", "trades", "data_gaps", "data_quality", "rankings", "candles_rollup",
            "candles_rollup_v", "mv_candles_1m_to_1h", "mv_candles_1m_to_1d"} <= tables


def test_reopen_keeps_data_and_schema(tmp_path: Path) -> None:
    settings = load_settings()
    first = open_store(settings)
    first.insert_candles(candles([(0, 1, 2, 0.5, 1.5, 3)]))
    first.store.close()
    second = open_store(settings)
    try:
        assert second.count_candles() == 1
        assert second.migrate() == []
    finally:
        second.store.close()


def test_reingest_never_duplicates_and_latest_wins(ops: StoreOps) -> None:
    rows = [(i * M, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.0) for i in range(10)]
    ops.insert_candles(candles(rows, ingested_ms=1000))
    ops.insert_candles(candles(rows, ingested_ms=2000))
    assert ops.count_candles() == 10
    ops.insert_candles(candles([(3 * M, 1.0, 9.0, 0.5, 2.0, 42.0)], ingested_ms=3000, source="rest"))
    got = pl.from_arrow(ops.read_candles(timeframe="1m"))
    assert got.height == 10
    fixed = got.filter(pl.col("ts") == 3 * M).row(0, named=True)
    assert (fixed["open"], fixed["volume"], fixed["source"]) == (1.0, 42.0, "rest")


def test_rollups_are_exact_and_idempotent(ops: StoreOps) -> None:
    # Hand-computed: 7 one-minute bars -> 5m bars [0, 5) and [5, 10) (the second incomplete).
    rows = [(i * M, 10.0 + i, 12.0 + i, 9.0 + i, 11.0 + i, 1.0 + i) for i in range(7)]
    ops.insert_candles(candles(rows, ingested_ms=1000))
    ops.insert_candles(candles(rows, ingested_ms=2000))  # re-ingest: must not double volume
    ops.insert_candles(candles([(2 * M, 12.0, 30.0, 1.0, 13.0, 100.0)], ingested_ms=3000))  # a correction
    five = pl.from_arrow(ops.read_candles(timeframe="5m", complete_only=False))
    assert five.get_column("ts").to_list() == [0, 5 * M]
    first = five.row(0, named=True)
    assert first["open"] == 10.0
    assert first["high"] == 30.0  # corrected minute 2
    assert first["low"] == 1.0
    assert first["close"] == 15.0  # close of minute 4
    assert first["volume"] == pytest.approx(1 + 2 + 100 + 4 + 5)
    assert first["source"] == "rollup"
    complete = pl.from_arrow(ops.read_candles(timeframe="5m"))
    assert complete.get_column("ts").to_list() == [0]  # [5, 10) has 2 of 5 minutes


def test_stored_timeframe_wins_over_rollup(ops: StoreOps) -> None:
    ops.insert_candles(candles([(i * M, 1.0, 2.0, 0.5, 1.5, 1.0) for i in range(60)]))
    ops.insert_candles(candles([(0, 7.0, 8.0, 6.0, 7.5, 99.0)], tf="1h", source="rest"))
    hour = ops.read_candles(timeframe="1h").to_pylist()
    assert len(hour) == 1 and hour[0]["open"] == 7.0 and hour[0]["source"] == "rest"


def test_rollup_matches_polars_on_real_1m_data(ops: StoreOps, shared_data: Path) -> None:
    from cluster.ohlcv_files import load_ohlcv_file

    path = shared_data / "ohlcv" / "binance_spot_1m_2026" / "BTC_USDT-1m.feather"
    result = load_ohlcv_file(path, exchange="binance", run_id="t", now_ms=1)
    ops.insert_candles(result.candles.slice(0, 5000))
    raw = pl.from_arrow(result.candles.slice(0, 5000))
    expected = (
        raw.with_columns(bucket=(pl.col("ts") // 3_600_000) * 3_600_000)
        .group_by("bucket").agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
                                pl.col("close").last(), pl.col("volume").sum(), pl.len().alias("n"))
        .filter(pl.col("n") == 60).sort("bucket")
    )
    got = pl.from_arrow(ops.read_candles(timeframe="1h")).sort("ts")
    assert got.get_column("ts").to_list() == expected.get_column("bucket").to_list()
    for col in ("open", "high", "low", "close"):
        assert got.get_column(col).to_list() == expected.get_column(col).to_list()
    assert got.get_column("volume").to_list() == pytest.approx(expected.get_column("volume").to_list(), rel=1e-9)


def test_second_open_in_same_process_is_refused(ops: StoreOps, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="one embedded server per process"):
        ChdbStore(tmp_path / "elsewhere")


def test_bad_sql_is_a_store_error(ops: StoreOps) -> None:
    with pytest.raises(StoreError, match="chdb query failed"):
        ops.store.query_arrow("SELECT * FROM no_such_table")


HOLDER = textwrap.dedent(
    """
    import sys, time
    from cluster.settings import load_settings
    from cluster.store import open_store
    ops = open_store(load_settings())
    print("READY", flush=True)
    sys.stdin.readline()
    ops.store.close()
    """
)


def test_second_process_gets_the_documented_error(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "READY"
        with pytest.raises(StoreLockedError) as info:
            open_store(load_settings())
        assert f"pid {holder.pid}" in str(info.value)
        assert "already open by" in str(info.value) and "COINRAY_CLICKHOUSE_URL" in str(info.value)
        cli = subprocess.run([sys.executable, "-m", "cluster.cli", "sql", "SELECT 1"], capture_output=True,
                             text=True, timeout=120)
        assert cli.returncode == 1
        assert "already open by pid" in cli.stderr.replace("\n", " ")
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    # once the owner is gone the directory opens again, data intact
    start = time.monotonic()
    store = open_store(load_settings())
    store.store.close()
    assert time.monotonic() - start < 60
