"""XGBoost contributions, calibration on held-out data, the stacked ensemble and its recommendations."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from cluster.schemas import TIMEFRAME_MS
from pipelines.models.calibration import Calibrator, brier_score, expected_calibration_error, reliability_table
from pipelines.models.dataset import join_sentiment
from pipelines.models.ensemble import EnsembleConfig, fit_ensemble, prepare_frame, training_rows
from pipelines.models.xgb import XGBConfig, XGBModel
from pipelines.recommend import RankerConfig, rank_universe

DAY = TIMEFRAME_MS["1d"]


@pytest.fixture(scope="module")
def prepared(features_1d: pl.DataFrame, fast_ensemble: EnsembleConfig) -> tuple[pl.DataFrame, list[str], bool]:
    return prepare_frame(features_1d, fast_ensemble)


def test_xgb_contributions_sum_to_the_margin(prepared: tuple[pl.DataFrame, list[str], bool]) -> None:
    frame, names, _ = prepared
    rows = frame.filter(pl.col("tb_label").is_not_null())
    x = rows.select(pl.col(c).cast(pl.Float64).fill_null(float("nan")) for c in names).to_numpy()
    y = (rows.get_column("tb_label").to_numpy() == 1).astype(int)
    model = XGBModel.fit(x, y, names, XGBConfig(n_estimators=30, n_jobs=1))
    contribs = model.contributions(x[:200])
    assert contribs.shape == (200, len(names) + 1)
    np.testing.assert_allclose(contribs.sum(axis=1), model.margin(x[:200]), rtol=1e-5, atol=1e-5)


def test_calibration_on_held_out_windows(prepared: tuple[pl.DataFrame, list[str], bool]) -> None:
    """XGBoost fitted on an early window, calibrated on a later one, checked on the last (no overlaps)."""
    frame, names, _ = prepared
    rows = frame.filter(pl.col("tb_label").is_not_null()).sort("ts")
    x = rows.select(pl.col(c).cast(pl.Float64).fill_null(float("nan")) for c in names).to_numpy()
    y = (rows.get_column("tb_label").to_numpy() == 1).astype(int)
    ts = rows.get_column("ts").to_numpy()
    end = rows.get_column("label_end_ts").to_numpy()
    t1, t2 = np.quantile(ts, [0.4, 0.7])
    train = end < t1  # labels complete before the calibration window starts
    calib = (ts >= t1) & (end < t2)
    test = ts >= t2
    model = XGBModel.fit(x[train], y[train], names, XGBConfig(n_estimators=60, max_depth=4, min_child_weight=1,
                                                             n_jobs=1))
    raw = model.probability(x)
    for method in ("platt", "isotonic"):
        cal = Calibrator.fit(raw[calib], y[calib], method=method)
        p = cal.transform(raw[test])
        assert ((p >= 0) & (p <= 1)).all()
        # the early window's base rate differs from the later ones (regimes), so raw probabilities are off;
        # recalibrating on the middle window must lower the Brier score on the untouched last window.
        assert brier_score(p, y[test]) < brier_score(raw[test], y[test])
        assert expected_calibration_error(p, y[test]) < 0.1


def test_calibrators_recover_known_probabilities() -> None:
    rng = np.random.default_rng(3)
    true_p = rng.uniform(0.05, 0.95, 20_000)
    y = (rng.uniform(size=true_p.size) < true_p).astype(int)
    distorted = true_p**3  # monotone miscalibration
    for method in ("platt", "isotonic"):
        cal = Calibrator.fit(distorted[:10_000], y[:10_000], method=method)
        held = cal.transform(distorted[10_000:])
        assert expected_calibration_error(held, y[10_000:]) < 0.05
    assert sum(r["n"] for r in reliability_table(true_p, y)) == true_p.size


def test_ensemble_trains_only_on_labels_complete_before_the_decision(
        prepared: tuple[pl.DataFrame, list[str], bool], fast_ensemble: EnsembleConfig) -> None:
    frame, names, used = prepared
    decision = int(frame.get_column("ts").sort()[frame.height // 2])
    rows = training_rows(frame, fast_ensemble, decision_ts=decision)
    assert (rows.get_column("label_end_ts") < decision).all()
    model = fit_ensemble(frame, names, fast_ensemble, sentiment_used=used, bar_ms=DAY, decision_ts=decision)
    assert model.diagnostics["train_end_ts"] < decision
    assert model.components == ["statistical", "xgboost"]
    scored = model.predict(frame.filter(pl.col("ts") == decision))
    p = scored.get_column("p_up").to_numpy()
    assert ((p > 0) & (p < 1)).all()
    # the ensemble log-odds are exactly intercept + component terms
    terms = scored.select("meta_statistical", "meta_xgboost").to_numpy().sum(axis=1)
    np.testing.assert_allclose(scored.get_column("ens_logit").to_numpy(),
                               terms + model.meta.intercept_[0], rtol=1e-9)


def test_sentiment_join_is_backward_only() -> None:
    bars = pl.DataFrame({"symbol": ["A"] * 3, "ts": [10, 20, 30]})
    senti = pl.DataFrame({"symbol": ["A", "A"], "ts": [15, 30], "sentiment_score": [0.5, -0.2],
                          "sentiment_n": [3.0, 4.0]})
    joined, used = join_sentiment(bars, senti)
    assert used
    assert joined.get_column("sentiment_score").to_list() == [None, 0.5, -0.2]
    assert join_sentiment(bars, None) == (bars, False)


def test_rank_universe_recommendations_and_rationale(features_1d: pl.DataFrame, fast_ranker: RankerConfig) -> None:
    ranking = rank_universe(features_1d, timeframe="1d", cfg=fast_ranker)
    assert [r.rank for r in ranking.ranked] == list(range(1, len(ranking.ranked) + 1))
    assert len(ranking.ranked) + len(ranking.excluded) == 9
    assert any("no sentiment" in n for n in ranking.notes)
    scores = [r.score for r in ranking.ranked]
    assert scores == sorted(scores, reverse=True)
    for r in ranking.ranked:
        assert math.isclose(sum(r.contributions.values()), r.score, abs_tol=1e-9)
        assert {"trend", "momentum", "volatility", "liquidity", "p_up"} <= set(r.factors)
        assert "Model drivers:" in r.rationale
    assert len(ranking.recommendations) <= fast_ranker.top_n
    for rec in ranking.recommendations:
        assert rec.stop < rec.entry < rec.target
        assert math.isclose(rec.entry - rec.stop, 1.5 * rec.atr, rel_tol=1e-9)
        assert math.isclose(rec.target - rec.entry, 2.0 * rec.atr, rel_tol=1e-9)
        assert rec.p_up > ranking.base_rate
        assert 1 <= len(rec.reasons) <= fast_ranker.reasons and len(rec.invalidation) >= 4


def test_liquidity_filter_excludes_and_says_why(features_1d: pl.DataFrame, fast_ranker: RankerConfig) -> None:
    strict = fast_ranker.model_copy(update={"min_dollar_volume": 5e8})
    ranking = rank_universe(features_1d, timeframe="1d", cfg=strict)
    assert "BTC/USDT" not in ranking.excluded
    assert any("below the $500,000,000 minimum" in why for why in ranking.excluded.values())
