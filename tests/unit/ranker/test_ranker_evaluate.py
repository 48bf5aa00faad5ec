"""Walk-forward evaluation: baselines recomputed independently with Polars on the bundled data."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from cluster.schemas import BARS_PER_YEAR
from pipelines.models.ensemble import EnsembleConfig
from pipelines.models.evaluate import EvalConfig, evaluate_walk_forward

REQUIRED = {"oos_sharpe", "equal_weight_sharpe", "momentum_sharpe", "oos_return_pct", "equal_weight_return_pct",
            "momentum_return_pct", "n_rebalances", "turnover", "hit_rate", "ic"}


@pytest.fixture(scope="module")
def result(features_1d: pl.DataFrame, fast_ensemble: EnsembleConfig) -> dict[str, object]:
    cfg = EvalConfig(top_n=3, fee_bps=10, min_train_bars=120, retrain_bars=40, ensemble=fast_ensemble)
    return evaluate_walk_forward(features_1d, timeframe="1d", cfg=cfg)


def _equal_weight_polars(candles: pl.DataFrame, start_ts: int, end_ts: int, fee: float) -> tuple[float, float]:
    """Equal-weight buy-and-hold from the close of ``start_ts`` to ``end_ts`` on the common bars, fee on the buy."""
    n_sym = candles.get_column("symbol").n_unique()
    common = (candles.group_by("ts").agg(pl.len().alias("n")).filter(pl.col("n") == n_sym).select("ts"))
    held = (candles.join(common, on="ts").filter((pl.col("ts") >= start_ts) & (pl.col("ts") <= end_ts))
            .sort("symbol", "ts")
            .with_columns(growth=pl.col("close") / pl.col("close").first().over("symbol")))
    value = held.group_by("ts").agg(pl.col("growth").mean().alias("v")).sort("ts").with_columns(
        v=pl.col("v") * (1 - fee))
    total = float(value.get_column("v")[-1]) - 1.0
    v = np.concatenate([[1.0], value.get_column("v").to_numpy()[1:]])  # 1.0 = cash before the fee-paying buy
    r = v[1:] / v[:-1] - 1
    return total * 100, float(r.mean() / r.std(ddof=1) * math.sqrt(BARS_PER_YEAR["1d"]))


def test_required_keys_and_ranges(result: dict[str, object]) -> None:
    assert set(result) >= REQUIRED
    assert result["n_rebalances"] > 20
    assert 0 <= float(result["hit_rate"]) <= 1  # type: ignore[arg-type]
    assert 0 < float(result["turnover"]) <= 2  # type: ignore[arg-type]
    assert result["ic"] is None or -1 <= float(result["ic"]) <= 1  # type: ignore[arg-type]
    assert result["sentiment_used"] is False
    assert result["refits"] >= 2  # type: ignore[operator]


def test_equal_weight_matches_an_independent_polars_computation(result: dict[str, object],
                                                                candles_1d: pl.DataFrame) -> None:
    total_pct, sharpe = _equal_weight_polars(candles_1d, int(result["start_ts"]), int(result["end_ts"]),  # type: ignore[arg-type]
                                             fee=10 / 10_000)
    assert math.isclose(float(result["equal_weight_return_pct"]), total_pct, abs_tol=1e-3)  # type: ignore[arg-type]
    assert math.isclose(float(result["equal_weight_sharpe"]), sharpe, abs_tol=1e-3)  # type: ignore[arg-type]


def test_zero_fees_raise_every_return(features_1d: pl.DataFrame, fast_ensemble: EnsembleConfig,
                                      result: dict[str, object]) -> None:
    free = evaluate_walk_forward(features_1d, timeframe="1d", cfg=EvalConfig(
        top_n=3, fee_bps=0, min_train_bars=120, retrain_bars=40, ensemble=fast_ensemble))
    for key in ("oos_return_pct", "equal_weight_return_pct", "momentum_return_pct"):
        assert float(free[key]) >= float(result[key])  # type: ignore[arg-type]
