"""Models of the ensemble ranker: statistical scores, XGBoost, calibration, stacking, purged splits, evaluation."""

from pipelines.models.calibration import Calibrator, brier_score, expected_calibration_error, reliability_table
from pipelines.models.ensemble import EnsembleConfig, EnsembleModel, fit_ensemble, prepare_frame
from pipelines.models.splits import Fold, past_only_mask, purge_mask, purged_kfold
from pipelines.models.statistical import StatConfig, add_statistical_scores
from pipelines.models.xgb import XGBConfig, XGBModel

__all__ = [
    "Calibrator", "EnsembleConfig", "EnsembleModel", "Fold", "StatConfig", "XGBConfig", "XGBModel",
    "add_statistical_scores", "brier_score", "expected_calibration_error", "fit_ensemble", "past_only_mask",
    "prepare_frame", "purge_mask", "purged_kfold", "reliability_table",
]
