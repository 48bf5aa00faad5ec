"""The confidence matrix: ranges, formulas, weights from config, sentiment when present."""

from __future__ import annotations

import math

import polars as pl
import pytest

from cluster.errors import ConfigError
from pipelines.confidence import FACTORS, ConfidenceConfig, composite_scores, confidence_matrix, report_section
from pipelines.features import FeatureConfig, build_features, load_feature_config


@pytest.fixture(scope="module")
def features_1h() -> pl.DataFrame:
    from .conftest import load_candles

    return build_features(load_candles("1h"))


def _matrix(features: pl.DataFrame, cfg: FeatureConfig, sentiment: pl.DataFrame | None = None) -> pl.DataFrame:
    return confidence_matrix(features, indicators=cfg.indicators, stats=cfg.stats, anomaly=cfg.anomaly,
                             cfg=cfg.confidence, sentiment=sentiment)


def test_every_symbol_gets_every_factor_in_range(features_1h: pl.DataFrame) -> None:
    m = _matrix(features_1h, FeatureConfig())
    assert m.height == 9 * (len(FACTORS) + 1)
    assert m.get_column("signal").is_between(-1, 1).all() and m.get_column("confidence").is_between(0, 1).all()
    no_senti = m.filter(pl.col("factor") == "sentiment")
    assert (no_senti.get_column("confidence") == 0).all() and (no_senti.get_column("detail") == "no sentiment").all()


def test_formulas_on_the_newest_bar(features_1h: pl.DataFrame) -> None:
    cfg = FeatureConfig()
    m = _matrix(features_1h, cfg)
    last = features_1h.filter(pl.col("symbol") == "BTC/USDT").tail(1).row(0, named=True)
    row = {r["factor"]: r for r in m.filter(pl.col("symbol") == "BTC/USDT").iter_rows(named=True)}
    assert row["trend"]["signal"] == pytest.approx(math.tanh(last["trend_tstat_30"] / 5))
    assert row["trend"]["confidence"] == pytest.approx((last["trend_r2_30"] + min(last["adx_14"] / 50, 1)) / 2)
    m1 = (last["rsi_14"] - 50) / 50
    m2 = math.tanh(5 * last["macd_hist_12_26_9"] / last["atr_14"])
    assert row["momentum"]["signal"] == pytest.approx((m1 + m2) / 2)
    assert row["momentum"]["confidence"] == pytest.approx(1 - abs(m1 - m2) / 2)
    assert row["mean_reversion"]["signal"] == pytest.approx(max(-1, min(1, 1 - 2 * last["bb_pctb_20_2"])))
    assert row["composite"]["ts"] == last["ts"]


def test_composite_is_the_weighted_mean(features_1h: pl.DataFrame) -> None:
    cfg = load_feature_config({"confidence": {"weight_trend": 3.0, "weight_patterns": 0.0}})
    m = _matrix(features_1h, cfg).filter(pl.col("symbol") == "LINK/USDT")
    parts = m.filter(pl.col("factor") != "composite")
    w, c, s = (parts.get_column(k).to_numpy() for k in ("weight", "confidence", "signal"))
    comp = m.filter(pl.col("factor") == "composite").row(0, named=True)
    assert comp["signal"] == pytest.approx((w * c * s).sum() / (w * c).sum())
    assert comp["confidence"] == pytest.approx((w * c).sum() / w.sum())
    assert parts.filter(pl.col("factor") == "trend").get_column("weight")[0] == 3.0


def test_sentiment_is_used_when_present(features_1h: pl.DataFrame) -> None:
    senti = pl.DataFrame({"symbol": ["BTC/USDT"], "sentiment_score": [0.6], "sentiment_n": [30.0]})
    m = _matrix(features_1h, FeatureConfig(), senti)
    row = m.filter((pl.col("symbol") == "BTC/USDT") & (pl.col("factor") == "sentiment")).row(0, named=True)
    assert row["signal"] == pytest.approx(0.6) and row["confidence"] == pytest.approx(30 / 40)


def test_short_history_gives_zero_confidence_not_errors(features_1h: pl.DataFrame) -> None:
    short = build_features(features_1h.select("exchange", "symbol", "timeframe", "ts", "open", "high", "low",
                                              "close", "volume").filter(pl.col("symbol") == "BTC/USDT").head(10))
    m = _matrix(short, FeatureConfig())
    assert m.filter(pl.col("factor").is_in(["trend", "momentum", "volatility_regime"])).get_column(
        "confidence").to_list() == [0.0, 0.0, 0.0]


def test_composite_view_is_sorted(features_1h: pl.DataFrame) -> None:
    view = composite_scores(_matrix(features_1h, FeatureConfig()))
    assert view.height == 9 and view.get_column("score").is_sorted(descending=True)


def test_unknown_weight_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="weight_moon"):
        load_feature_config({"confidence": {"weight_moon": 1.0}})
    with pytest.raises(ConfigError, match="greater than or equal to 0"):
        load_feature_config({"confidence": {"weight_trend": -1}})
    assert ConfidenceConfig().weights()["trend"] == 1.0


def test_report_section_orders_by_composite(features_1h: pl.DataFrame) -> None:
    m = _matrix(features_1h, FeatureConfig())
    section = report_section(m, timeframe="1h", symbols=["BTC/USDT", "ETH/USDT"])
    assert list(section["symbols"]) == composite_scores(
        m.filter(pl.col("symbol").is_in(["BTC/USDT", "ETH/USDT"]))).get_column("symbol").to_list()
    assert set(section["symbols"]["BTC/USDT"]["factors"]) == set(FACTORS)
    assert section["weights"]["trend"] == 1.0
