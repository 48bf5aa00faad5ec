"""Anomaly scores and the anomalies table; cross-asset correlation, beta and the correlation matrix."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipelines.anomalies import AnomalyConfig, detect_anomalies, robust_z_trailing, series_anomaly_scores
from pipelines.cross_asset import CrossAssetConfig, add_cross_asset, correlation_matrix
from pipelines.features import FeatureConfig, build_features


def test_robust_z_uses_the_bars_before_by_hand() -> None:
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 40.0])
    z = robust_z_trailing(x, 5)
    # baseline 1,3,2,5,4: median 3, |dev| 2,0,1,2,1 -> MAD 1
    assert np.isnan(z[:5]).all()
    assert z[5] == pytest.approx((40 - 3) / 1.4826)
    assert np.isnan(robust_z_trailing(np.ones(8), 4)[4:]).all()  # zero MAD: no spread to score against


def test_volume_spike_and_gap_by_hand() -> None:
    arrays = {"open": np.array([10.0] * 5 + [11.0]), "close": np.array([10.0] * 6),
              "volume": np.array([2.0, 4.0, 6.0, 3.0, 5.0, 50.0])}
    out = series_anomaly_scores(arrays, AnomalyConfig(window=6))
    assert np.isnan(out["volume_spike_6"]).all()  # not enough history: warm-up, not an error
    out = series_anomaly_scores(arrays, AnomalyConfig(window=5))
    assert np.isnan(out["volume_spike_5"][:5]).all()
    assert out["volume_spike_5"][5] == pytest.approx(50 / 4)  # median of 2, 4, 6, 3, 5
    assert out["gap_pct"][5] == pytest.approx(0.1) and np.isnan(out["gap_pct"][0])


def test_detected_anomalies_on_real_data_with_an_injected_spike(candles_1h: pl.DataFrame) -> None:
    cfg = FeatureConfig()
    spiked = candles_1h.with_columns(
        volume=pl.when((pl.col("symbol") == "SOL/USDT") & (pl.col("ts") == 1_717_200_000_000))
        .then(pl.col("volume") * 40).otherwise(pl.col("volume"))
    )
    feats = build_features(spiked, cfg)
    table = detect_anomalies(feats, cfg.anomaly)
    assert table.columns == ["exchange", "symbol", "timeframe", "ts", "kind", "score", "explanation"]
    hit = table.filter((pl.col("symbol") == "SOL/USDT") & (pl.col("ts") == 1_717_200_000_000))
    assert "volume_spike" in set(hit.get_column("kind"))
    row = feats.filter((pl.col("symbol") == "SOL/USDT") & (pl.col("ts") == 1_717_200_000_000)).row(0, named=True)
    assert row["volume_rz_50"] > 3
    spike = hit.filter(pl.col("kind") == "volume_spike").row(0, named=True)
    assert spike["score"] > 20 and "x its 50-bar median" in spike["explanation"]
    assert (table.filter(pl.col("kind") == "return_outlier").get_column("score").abs() >= 6).all()


def test_cross_exchange_divergence(candles_1d: pl.DataFrame) -> None:
    btc = candles_1d.filter(pl.col("symbol") == "BTC/USDT")
    ts = btc.get_column("ts")[100]
    other = btc.with_columns(exchange=pl.lit("coinbase"),
                             close=pl.when(pl.col("ts") == ts).then(pl.col("close") * 1.03).otherwise("close"))
    cfg = FeatureConfig()
    table = detect_anomalies(build_features(pl.concat([btc, other]), cfg), cfg.anomaly)
    div = table.filter(pl.col("kind") == "exchange_divergence")
    assert div.height == 2 and set(div.get_column("ts")) == {ts}
    assert sorted(div.get_column("score").round(4).to_list()) == pytest.approx(
        sorted([(1 / 1.015 - 1) * 100, (1.03 / 1.015 - 1) * 100]), abs=1e-3)


def test_corr_and_beta_to_reference_match_numpy(candles_1d: pl.DataFrame) -> None:
    cfg = CrossAssetConfig(window=30)
    out = build_features(candles_1d, FeatureConfig(cross_asset=cfg))
    btc = out.filter(pl.col("symbol") == "BTC/USDT").select("ts", r_ref="log_ret_1")
    eth = out.filter(pl.col("symbol") == "ETH/USDT").join(btc, on="ts")
    end = eth.height - 1
    x = eth.get_column("log_ret_1").to_numpy()[end - 29:end + 1]
    y = eth.get_column("r_ref").to_numpy()[end - 29:end + 1]
    assert eth.get_column("corr_ref_30")[end] == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-9)
    assert eth.get_column("beta_ref_30")[end] == pytest.approx(np.cov(x, y)[0, 1] / np.var(y, ddof=1), rel=1e-9)
    ref = out.filter(pl.col("symbol") == "BTC/USDT").drop_nulls("corr_ref_30")
    assert ref.get_column("corr_ref_30").to_numpy() == pytest.approx(1.0)
    assert ref.get_column("beta_ref_30").to_numpy() == pytest.approx(1.0)


def test_missing_reference_leaves_nulls(candles_1d: pl.DataFrame) -> None:
    frame = build_features(candles_1d.filter(pl.col("symbol") != "BTC/USDT"))
    out = add_cross_asset(frame, CrossAssetConfig())
    assert out.get_column("corr_ref_30").null_count() == out.height


def test_correlation_matrix_matches_numpy(candles_1d: pl.DataFrame) -> None:
    feats = build_features(candles_1d)
    matrix = correlation_matrix(feats, window=60)
    symbols = sorted(set(candles_1d.get_column("symbol")))
    assert matrix.height == len(symbols) ** 2
    wide = (feats.select("ts", "symbol", "log_ret_1").pivot(on="symbol", index="ts", values="log_ret_1")
            .sort("ts").tail(60))
    pair = wide.select("SOL/USDT", "DOGE/USDT").drop_nulls().to_numpy()
    got = matrix.filter((pl.col("symbol_a") == "SOL/USDT") & (pl.col("symbol_b") == "DOGE/USDT")).row(0, named=True)
    assert got["corr"] == pytest.approx(np.corrcoef(pair[:, 0], pair[:, 1])[0, 1], rel=1e-9)
    assert got["n"] == pair.shape[0]
    diag = matrix.filter(pl.col("symbol_a") == pl.col("symbol_b"))
    assert diag.get_column("corr").to_numpy() == pytest.approx(1.0)
    sym = matrix.join(matrix, left_on=["symbol_a", "symbol_b"], right_on=["symbol_b", "symbol_a"])
    np.testing.assert_allclose(sym.get_column("corr"), sym.get_column("corr_right"))
