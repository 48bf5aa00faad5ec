"""Fixtures of the backtest tests: bundled real candles as Polars frames."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cluster.ohlcv_files import load_ohlcv_file
from pipelines.backtest import prepare_candles

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"


def load_sample(name: str, timeframe: str) -> pl.DataFrame:
    """One bundled file, e.g. ``load_sample("BTC_USDT", "1h")``."""
    res = load_ohlcv_file(SAMPLE_DIR / f"{name}-{timeframe}.feather", exchange="binance", run_id="test", now_ms=0)
    return prepare_candles(res.candles, timeframe=timeframe)


@pytest.fixture(scope="session")
def btc_1h() -> pl.DataFrame:
    """BTC/USDT 1h, 2024-01-01 .. 2024-09-06 (5,980 bars)."""
    return load_sample("BTC_USDT", "1h")


@pytest.fixture(scope="session")
def majors_1d() -> pl.DataFrame:
    """Daily bars of BTC, ETH, SOL and XRP (multi-asset)."""
    return pl.concat([load_sample(s, "1d") for s in ("BTC_USDT", "ETH_USDT", "SOL_USDT", "XRP_USDT")])
