"""Probability calibration (Platt, isotonic) and how reliable probabilities are (table, Brier, ECE)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


@dataclass
class Calibrator:
    """A fitted map from scores to calibrated probabilities (``method`` is platt or isotonic).

    Platt scaling is a logistic regression on the score, or on its logit when the scores are
    probabilities (so a model that is over- or under-confident is corrected exactly).
    """

    method: str
    model: object
    on_logit: bool = False

    @classmethod
    def fit(cls, scores: np.ndarray, y: np.ndarray, *, method: str = "platt") -> Calibrator:
        """Fit on held-out ``scores`` (probabilities or margins) and binary outcomes ``y``.

        Raises
        ------
        ValueError
            For an unknown method or a single-class ``y``.
        """
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if np.unique(y).size < 2:
            raise ValueError("calibration needs both outcomes in y")
        if method == "platt":
            on_logit = bool(s.size and s.min() >= 0.0 and s.max() <= 1.0)
            feature = _logit(s) if on_logit else s
            return cls(method, LogisticRegression(C=1e6).fit(feature.reshape(-1, 1), y), on_logit)
        if method == "isotonic":
            return cls(method, IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y))
        raise ValueError(f"unknown calibration method {method!r}; use platt or isotonic")

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``scores``."""
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if self.method == "platt":
            feature = _logit(s) if self.on_logit else s
            return np.asarray(self.model.predict_proba(feature.reshape(-1, 1))[:, 1])  # type: ignore[attr-defined]
        return np.asarray(self.model.predict(s), dtype=np.float64)  # type: ignore[attr-defined]


def reliability_table(p: np.ndarray, y: np.ndarray, *, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width bins of predicted probability: count, mean predicted, observed frequency.

    >>> reliability_table(np.array([0.1, 0.1, 0.9]), np.array([0, 0, 1]), bins=2)[0]
    {'lo': 0.0, 'hi': 0.5, 'n': 2, 'mean_p': 0.1, 'observed': 0.0}
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    rows: list[dict[str, float]] = []
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append({"lo": b / bins, "hi": (b + 1) / bins, "n": int(m.sum()),
                         "mean_p": round(float(p[m].mean()), 6), "observed": round(float(y[m].mean()), 6)})
    return rows


def expected_calibration_error(p: np.ndarray, y: np.ndarray, *, bins: int = 10) -> float:
    """Count-weighted mean |mean predicted - observed| over :func:`reliability_table` bins."""
    table = reliability_table(p, y, bins=bins)
    n = sum(r["n"] for r in table)
    return float(sum(r["n"] * abs(r["mean_p"] - r["observed"]) for r in table) / n) if n else float("nan")


def brier_score(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of probabilities against outcomes.

    >>> brier_score(np.array([1.0, 0.0]), np.array([1, 1]))
    0.5
    """
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2))
