"""Fixtures of the analytics tests: real bundled Binance candles (cluster/sample_data, MIT)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from cluster.ohlcv_files import load_ohlcv_file

SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@cache
def load_candles(timeframe: str) -> pl.DataFrame:
    """Every bundled symbol at ``timeframe`` as one CANDLES-shaped frame (exchange ``binance``)."""
    tables = [load_ohlcv_file(p, exchange="binance", run_id="test", now_ms=0).candles
              for p in sorted(SAMPLE.glob(f"*-{timeframe}.feather"))]
    return pl.DataFrame(pa.concat_tables(tables)).drop("trades", "source", "ingested_at")


@pytest.fixture
def candles_1d() -> pl.DataFrame:
    """9 symbols x ~250 daily bars (2024)."""
    return load_candles("1d")


@pytest.fixture
def candles_1h() -> pl.DataFrame:
    """9 symbols x ~6,000 hourly bars (2024)."""
    return load_candles("1h")


@pytest.fixture
def btc_1h() -> pl.DataFrame:
    """BTC/USDT hourly bars."""
    return load_candles("1h").filter(pl.col("symbol") == "BTC/USDT")
