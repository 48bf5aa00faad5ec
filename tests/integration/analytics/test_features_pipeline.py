"""The feature pipeline on real Ray Data, and ``coinray features`` from the store and from files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from cluster.ohlcv_files import load_ohlcv_file
from cluster.store.schema_analytics import FEATURES, FLOAT_FEATURES, INT_FEATURES, features_rows
from pipelines.features import FeatureConfig, build_features, feature_columns

pytestmark = pytest.mark.integration
COINRAY = [sys.executable, "-m", "cluster.cli"]
SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COINRAY_RAY__NUM_CPUS": "2", "COINRAY_RAY__OBJECT_STORE_MEMORY_MB": "256"}
    return subprocess.run([*COINRAY, *args], capture_output=True, text=True, timeout=timeout, env=env)


def candles(pattern: str) -> pa.Table:
    return pa.concat_tables([load_ohlcv_file(p, exchange="binance", run_id="t", now_ms=0).candles
                             for p in sorted(SAMPLE.glob(pattern))])


@pytest.fixture(scope="module")
def ray_features(ray_local: None) -> Iterator[tuple[pa.Table, pa.Table]]:
    from pipelines.datasets import compute_features

    table = pa.concat_tables([candles("*-1d.feather"), candles("BTC_USDT-1h.feather"), candles("ETH_USDT-1h.feather")])
    yield table, compute_features(table, FeatureConfig())


def test_ray_data_pipeline_equals_the_pure_function(ray_features: tuple[pa.Table, pa.Table]) -> None:
    table, out = ray_features
    want = build_features(pl.DataFrame(table), FeatureConfig())
    got = pl.DataFrame(out)
    assert got.height == table.num_rows == want.height
    assert got.select(want.columns).equals(want)
    assert set(feature_columns(FeatureConfig())) <= set(got.columns)


def test_feature_table_schema_covers_the_default_columns(ray_features: tuple[pa.Table, pa.Table]) -> None:
    assert set(FLOAT_FEATURES) | set(INT_FEATURES) == set(feature_columns(FeatureConfig()))
    rows = features_rows(ray_features[1].slice(0, 500), computed_at_ms=0)
    assert rows.schema == FEATURES and rows.num_rows == 500
    assert rows.column("extra").to_pylist()[0] == []


def test_cli_files_to_parquet(tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    proc = run("features", "--candles", str(SAMPLE / "BTC_USDT-1d.feather"), "--candles",
               str(SAMPLE / "ETH_USDT-1d.feather"), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows"] == 249 + 249 and summary["series"] == 2
    frame = pl.read_parquet(out)
    assert {"ema_20", "cdl_engulfing", "vwap_1d", "corr_ref_30", "ret_rz_50"} <= set(frame.columns)
    matrix = pl.read_parquet(out.with_suffix(".confidence.parquet"))
    assert set(matrix.get_column("symbol")) == {"BTC/USDT", "ETH/USDT"}
    assert pl.read_parquet(out.with_suffix(".anomalies.parquet")).columns[:5] == [
        "exchange", "symbol", "timeframe", "ts", "kind"]


def test_cli_store_round_trip_and_bad_names() -> None:
    ingest = run("ingest", "file", *(str(p) for p in sorted(SAMPLE.glob("*-1d.feather"))), "--json")
    assert ingest.returncode == 0, ingest.stderr
    proc = run("features", "--timeframes", "1d", "--symbols", "BTC/USDT,ETH/USDT,SOL/USDT", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["series"] == 3
    counts = run("sql", "SELECT (SELECT count() FROM features FINAL) AS f, (SELECT count() FROM confidence) AS c, "
             "(SELECT countIf(rsi_14 IS NOT NULL) FROM features FINAL) AS r", "--format", "json")
    assert counts.returncode == 0, counts.stderr
    row = json.loads(counts.stdout)[0]
    assert int(row["f"]) == 249 + 249 + 250  # BTC, ETH, SOL daily bars
    assert int(row["c"]) == 3 * 9 and int(row["r"]) > 0
    bad = run("features", "--timeframes", "2h")
    assert bad.returncode == 2 and "unknown timeframe" in bad.stderr
