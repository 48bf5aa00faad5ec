"""The XGBoost component: a gradient-boosted classifier of P(take-profit first) with exact contributions.

``contributions`` uses XGBoost's ``pred_contribs`` (TreeSHAP): per row, one value per feature
plus a bias, summing to the raw margin (log-odds) the model predicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class XGBConfig(BaseModel):
    """Boosting parameters (small, regularised trees: crypto returns are mostly noise)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_estimators: int = Field(150, ge=1)
    max_depth: int = Field(3, ge=1, le=12)
    learning_rate: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(20.0, ge=0)
    reg_lambda: float = Field(5.0, ge=0)
    n_jobs: int = Field(2, ge=1, description="Threads per fit.")
    seed: int = 7


@dataclass
class XGBModel:
    """A fitted booster and the feature names it was trained on."""

    booster: object
    features: list[str]

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, features: list[str], cfg: XGBConfig) -> XGBModel:
        """Train on ``x`` (rows x features, NaN = missing) and binary ``y``.

        Raises
        ------
        ValueError
            When ``y`` holds a single class (nothing to learn).
        """
        import xgboost as xgb

        if np.unique(y).size < 2:
            raise ValueError("training labels hold a single class; cannot fit a classifier")
        dtrain = xgb.DMatrix(x, label=y, feature_names=features, missing=np.nan)
        params = {
            "objective": "binary:logistic", "eval_metric": "logloss", "max_depth": cfg.max_depth,
            "eta": cfg.learning_rate, "subsample": cfg.subsample, "colsample_bytree": cfg.colsample_bytree,
            "min_child_weight": cfg.min_child_weight, "lambda": cfg.reg_lambda, "nthread": cfg.n_jobs,
            "seed": cfg.seed, "tree_method": "hist",
        }
        booster = xgb.train(params, dtrain, num_boost_round=cfg.n_estimators)
        return cls(booster=booster, features=list(features))

    def _dmatrix(self, x: np.ndarray) -> object:
        import xgboost as xgb

        return xgb.DMatrix(x, feature_names=self.features, missing=np.nan)

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Raw log-odds per row."""
        return np.asarray(self.booster.predict(self._dmatrix(x), output_margin=True), dtype=np.float64)  # type: ignore[attr-defined]

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated P(y = 1) per row."""
        return 1.0 / (1.0 + np.exp(-self.margin(x)))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Rows x (features + 1) TreeSHAP values; the last column is the bias; rows sum to the margin."""
        return np.asarray(self.booster.predict(self._dmatrix(x), pred_contribs=True), dtype=np.float64)  # type: ignore[attr-defined]

    def importance(self) -> dict[str, float]:
        """Total gain per feature (features never split on are absent)."""
        return {k: float(v) for k, v in self.booster.get_score(importance_type="total_gain").items()}  # type: ignore[attr-defined]
