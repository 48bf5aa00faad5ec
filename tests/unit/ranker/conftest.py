"""Fixtures of the ranker tests: bundled real candles and features (computed once per session)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.models.ensemble import EnsembleConfig
from pipelines.models.xgb import XGBConfig
from pipelines.recommend import RankerConfig

SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"


@pytest.fixture(scope="session")
def fast_ensemble() -> EnsembleConfig:
    """A small ensemble for daily bars (5-bar horizon, 40 trees, one thread)."""
    return EnsembleConfig(horizon_bars=5, xgb=XGBConfig(n_estimators=40, n_jobs=1))


@pytest.fixture(scope="session")
def fast_ranker(fast_ensemble: EnsembleConfig) -> RankerConfig:
    """Ranker settings over :func:`fast_ensemble`, Top-3."""
    return RankerConfig(top_n=3, ensemble=fast_ensemble)


def load_candles(timeframe: str) -> pl.DataFrame:
    """The bundled Binance candles of one timeframe, read with the importer's reader."""
    from serve.ranker_core import load_candle_files

    return load_candle_files(sorted(SAMPLE.glob(f"*-{timeframe}.feather")), exchange="binance")


@pytest.fixture(scope="session")
def candles_1d() -> pl.DataFrame:
    """9 symbols x ~250 daily bars (2024-01-01 .. 2024-09-06)."""
    return load_candles("1d")


@pytest.fixture(scope="session")
def features_1d(candles_1d: pl.DataFrame) -> pl.DataFrame:
    """``build_features`` of :func:`candles_1d`."""
    from pipelines.features import build_features

    return build_features(candles_1d)
