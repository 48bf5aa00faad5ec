"""The stacked ensemble: statistical score + XGBoost + sentiment, combined by a logistic meta-model.

Fitting (all on rows whose labels are complete before the decision time):

1. purged, embargoed K-fold: XGBoost is fitted K times; each fold's rows get an out-of-fold margin;
2. the meta-model (logistic regression: stacking and Platt scaling in one step) learns
   P(take-profit first) from the standardised components [stat_score, xgb_oof_margin,
   (sentiment_score)];
3. its reliability is measured by cross-fitting the meta-model over the same folds (every
   probability scored is out-of-fold); optional isotonic calibration is fitted on those;
4. XGBoost is refitted on every row for inference.

The ensemble log-odds decompose exactly: intercept + sum over components of
``coef_c * (c - mean_c) / std_c``, and the XGBoost term splits further into its TreeSHAP values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from pipelines.labels import add_triple_barrier
from pipelines.models.calibration import (
    Calibrator,
    brier_score,
    expected_calibration_error,
    reliability_table,
)
from pipelines.models.dataset import add_model_features, join_sentiment
from pipelines.models.splits import past_only_mask, purged_kfold
from pipelines.models.statistical import StatConfig, add_statistical_scores
from pipelines.models.xgb import XGBConfig, XGBModel

COMPONENTS: tuple[str, ...] = ("statistical", "xgboost", "sentiment")


class EnsembleConfig(BaseModel):
    """Labels, folds and component settings of the ensemble."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_bars: int = Field(24, ge=1, description="Triple-barrier time limit and forward-return horizon.")
    take_profit_atr: float = Field(2.0, gt=0, description="Take-profit barrier in ATRs above the entry.")
    stop_atr: float = Field(1.5, gt=0, description="Stop barrier in ATRs below the entry.")
    n_folds: int = Field(3, ge=2, le=10, description="Purged K-fold splits for out-of-fold stacking.")
    embargo_bars: int | None = Field(None, ge=0, description="Embargo after each test fold; None = horizon.")
    calibration: Literal["platt", "isotonic"] = Field(
        "platt", description="platt: the logistic meta-model's output; isotonic: refit on out-of-fold output.")
    max_train_rows: int = Field(60_000, ge=100, description="Most recent labelled rows used to train.")
    stat: StatConfig = StatConfig()
    xgb: XGBConfig = XGBConfig()


def prepare_frame(features: pl.DataFrame, cfg: EnsembleConfig,
                  sentiment: pl.DataFrame | None = None) -> tuple[pl.DataFrame, list[str], bool]:
    """Labels, statistical scores, model features and (optional) sentiment for one timeframe.

    Returns the frame (sorted by symbol, ts), the XGBoost feature names and whether sentiment was used.
    """
    frame = add_triple_barrier(features, horizon=cfg.horizon_bars, take_profit_atr=cfg.take_profit_atr,
                               stop_atr=cfg.stop_atr)
    frame = add_statistical_scores(frame, cfg.stat)
    frame, names = add_model_features(frame)
    frame, used = join_sentiment(frame, sentiment)
    names = [*names, "z_momentum", "z_trend", "z_mean_reversion"]
    if used:
        names += ["sentiment_score", "sentiment_n"]
    return frame.sort("symbol", "ts"), names, used


def _matrix(frame: pl.DataFrame, cols: list[str]) -> np.ndarray:
    return frame.select(pl.col(c).cast(pl.Float64).fill_null(float("nan")) for c in cols).to_numpy()


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(s)
    return float(roc_auc_score(y[ok], s[ok])) if ok.any() and np.unique(y[ok]).size == 2 else float("nan")


@dataclass
class EnsembleModel:
    """A fitted ensemble; :meth:`predict` scores any prepared frame."""

    cfg: EnsembleConfig
    xgb: XGBModel
    components: list[str]
    meta: Any
    means: np.ndarray
    stds: np.ndarray
    sentiment_used: bool
    calibrator: Calibrator | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def component_matrix(self, frame: pl.DataFrame, xgb_margin: np.ndarray) -> np.ndarray:
        """Rows x components, in :attr:`components` order (missing sentiment = 0)."""
        cols = [frame.get_column("stat_score").fill_null(0.0).to_numpy(), xgb_margin]
        if "sentiment" in self.components:
            cols.append(frame.get_column("sentiment_score").fill_null(0.0).to_numpy())
        return np.column_stack(cols).astype(np.float64)

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Append ``xgb_margin``, ``xgb_p``, ``ens_logit``, ``p_up`` and ``meta_<component>`` terms."""
        margin = self.xgb.margin(_matrix(frame, self.xgb.features))
        comps = (self.component_matrix(frame, margin) - self.means) / self.stds
        coefs = self.meta.coef_[0]
        terms = comps * coefs
        logit = terms.sum(axis=1) + float(self.meta.intercept_[0])
        p = 1.0 / (1.0 + np.exp(-logit))
        if self.calibrator is not None:
            p = self.calibrator.transform(p)
        return frame.with_columns(
            pl.Series("xgb_margin", margin), pl.Series("xgb_p", 1.0 / (1.0 + np.exp(-margin))),
            pl.Series("ens_logit", logit), pl.Series("p_up", p),
            *(pl.Series(f"meta_{c}", terms[:, i]) for i, c in enumerate(self.components)),
        )

    def xgb_share(self) -> float:
        """Ensemble log-odds per unit of XGBoost margin (coef / std), to scale TreeSHAP values."""
        i = self.components.index("xgboost")
        return float(self.meta.coef_[0][i] / self.stds[i])


def training_rows(frame: pl.DataFrame, cfg: EnsembleConfig, *, decision_ts: int | None) -> pl.DataFrame:
    """Labelled rows usable for a model deciding at ``decision_ts`` (None: every labelled row)."""
    rows = frame.filter(pl.col("tb_label").is_not_null() & pl.col("label_end_ts").is_not_null())
    if decision_ts is not None:
        mask = past_only_mask(rows.get_column("ts").to_numpy(),
                              rows.get_column("label_end_ts").cast(pl.Float64).to_numpy(), decision_ts=decision_ts)
        rows = rows.filter(pl.Series(mask))
    rows = rows.sort("ts")
    return rows.tail(cfg.max_train_rows)


def fit_ensemble(frame: pl.DataFrame, features: list[str], cfg: EnsembleConfig, *, sentiment_used: bool,
                 bar_ms: int, decision_ts: int | None = None) -> EnsembleModel:
    """Fit the ensemble on the rows of ``frame`` whose labels are complete before ``decision_ts``.

    Raises
    ------
    ValueError
        When there are too few labelled rows or a single outcome class.
    """
    from sklearn.linear_model import LogisticRegression

    rows = training_rows(frame, cfg, decision_ts=decision_ts)
    if rows.height < 50 * cfg.n_folds:
        raise ValueError(f"only {rows.height} labelled rows before the decision time; need {50 * cfg.n_folds}")
    y = (rows.get_column("tb_label").to_numpy() == 1).astype(np.int64)
    x = _matrix(rows, features)
    start = rows.get_column("ts").to_numpy()
    end = rows.get_column("label_end_ts").cast(pl.Float64).to_numpy()
    embargo = (cfg.embargo_bars if cfg.embargo_bars is not None else cfg.horizon_bars) * bar_ms
    folds = purged_kfold(start, end, n_splits=cfg.n_folds, embargo_ms=embargo)
    oof = np.full(rows.height, np.nan)
    for fold in folds:
        if fold.train.size < 50 or np.unique(y[fold.train]).size < 2:
            continue
        oof[fold.test] = XGBModel.fit(x[fold.train], y[fold.train], features, cfg.xgb).margin(x[fold.test])
    have = np.isfinite(oof)
    components = ["statistical", "xgboost"] + (["sentiment"] if sentiment_used else [])
    final = XGBModel.fit(x, y, features, cfg.xgb)
    model = EnsembleModel(cfg, final, components, None, np.zeros(len(components)), np.ones(len(components)),
                          sentiment_used)
    comps = model.component_matrix(rows, np.where(have, oof, 0.0))
    means = comps[have].mean(axis=0)
    stds = comps[have].std(axis=0)
    stds[stds == 0] = 1.0
    z = (comps - means) / stds
    model.means, model.stds = means, stds
    model.meta = LogisticRegression(C=1.0).fit(z[have], y[have])
    p_cf = np.full(rows.height, np.nan)  # cross-fitted meta probabilities (every one out-of-fold)
    for fold in folds:
        tr = np.intersect1d(fold.train, np.flatnonzero(have))
        te = np.intersect1d(fold.test, np.flatnonzero(have))
        if te.size and tr.size and np.unique(y[tr]).size == 2:
            p_cf[te] = LogisticRegression(C=1.0).fit(z[tr], y[tr]).predict_proba(z[te])[:, 1]
    ok = np.isfinite(p_cf)
    if cfg.calibration == "isotonic" and ok.sum() > 0 and np.unique(y[ok]).size == 2:
        model.calibrator = Calibrator.fit(p_cf[ok], y[ok], method="isotonic")
    model.diagnostics = {
        "n_train": int(rows.height), "base_rate": round(float(y.mean()), 6),
        "train_start_ts": int(start.min()), "train_end_ts": int(start.max()),
        "oof_auc": {c: round(_auc(y[have], comps[have, i]), 4) for i, c in enumerate(components)},
        "oof_auc_ensemble": round(_auc(y[ok], p_cf[ok]), 4) if ok.any() else None,
        "reliability": reliability_table(p_cf[ok], y[ok]) if ok.any() else [],
        "brier": round(brier_score(p_cf[ok], y[ok]), 6) if ok.any() else None,
        "brier_base_rate": round(brier_score(np.full(int(ok.sum()), y[ok].mean()), y[ok]), 6) if ok.any() else None,
        "ece": round(expected_calibration_error(p_cf[ok], y[ok]), 6) if ok.any() else None,
        "meta_coef": {c: round(float(v), 6) for c, v in zip(components, model.meta.coef_[0], strict=True)},
        "meta_intercept": round(float(model.meta.intercept_[0]), 6),
    }
    return model
