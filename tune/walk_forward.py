"""Walk-forward optimisation: rolling train/test splits, optimise in-sample, evaluate out-of-sample."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from pipelines.backtest.feed import iso_utc

Optimiser = Callable[[pl.DataFrame], tuple[dict[str, Any], dict[str, Any]]]
"""In-sample candles in; (best parameters, their in-sample metrics) out."""
Evaluator = Callable[[pl.DataFrame, dict[str, Any], int], dict[str, Any]]
"""(candles incl. warm-up, parameters, first traded bar's ts) in; out-of-sample metrics out."""


@dataclass(frozen=True)
class Split:
    """One walk-forward step as bar indices on the clock; ends are exclusive. Test follows train."""

    train_start: int
    train_end: int
    test_start: int
    test_end: int


def walk_forward_splits(n_bars: int, *, train_bars: int, test_bars: int, step_bars: int | None = None,
                        anchored: bool = False) -> list[Split]:
    """Rolling (or anchored) splits whose test windows follow their train windows without overlap.

    Parameters
    ----------
    n_bars:
        Bars on the clock.
    train_bars, test_bars:
        Window lengths in bars.
    step_bars:
        How far each split moves; defaults to ``test_bars`` (consecutive test windows).
    anchored:
        Keep every train window starting at bar 0 (expanding window).

    Raises
    ------
    ValueError
        When a length is not positive or not even one split fits.

    >>> [(s.train_start, s.train_end, s.test_end) for s in walk_forward_splits(10, train_bars=4, test_bars=3)]
    [(0, 4, 7), (3, 7, 10)]
    """
    step = test_bars if step_bars is None else step_bars
    if min(train_bars, test_bars, step) <= 0:
        raise ValueError("train_bars, test_bars and step_bars must be positive")
    if train_bars + test_bars > n_bars:
        raise ValueError(f"train_bars + test_bars ({train_bars + test_bars}) exceeds the {n_bars} bars available")
    splits = []
    start = 0
    while start + train_bars + test_bars <= n_bars:
        train_start = 0 if anchored else start
        train_end = start + train_bars
        splits.append(Split(train_start, train_end, train_end, train_end + test_bars))
        start += step
    return splits


def run_walk_forward(candles: pl.DataFrame, splits: list[Split], *, optimise: Optimiser, evaluate: Evaluator,
                     metric: str) -> dict[str, Any]:
    """Optimise on each train window and evaluate the winner on the following test window.

    The test run starts flat at the first test bar; the train window before it only warms the
    features up, so no bar of the test window influences the parameters chosen for it.

    Returns
    -------
    dict
        ``splits``: one row per split with the chosen params and ``is_*``/``oos_*`` figures side
        by side; ``summary``: the mean in-sample and out-of-sample ``metric`` and return, and their
        ratio (``oos_is_ratio``; well below 1 points at overfitting).
    """
    clock = np.unique(candles.get_column("ts").to_numpy())
    rows: list[dict[str, Any]] = []
    for n, split in enumerate(splits):
        train = candles.filter(pl.col("ts").is_between(int(clock[split.train_start]),
                                                       int(clock[split.train_end - 1])))
        params, is_metrics = optimise(train)
        window = candles.filter(pl.col("ts").is_between(int(clock[split.train_start]),
                                                        int(clock[split.test_end - 1])))
        oos = evaluate(window, params, int(clock[split.test_start]))
        rows.append({
            "split": n, "train_start": iso_utc(int(clock[split.train_start])),
            "train_end": iso_utc(int(clock[split.train_end - 1])),
            "test_start": iso_utc(int(clock[split.test_start])), "test_end": iso_utc(int(clock[split.test_end - 1])),
            "params": params,
            **{f"is_{k}": is_metrics.get(k) for k in (metric, "return_pct", "max_drawdown_pct", "n_trades")},
            **{f"oos_{k}": oos.get(k) for k in (metric, "return_pct", "max_drawdown_pct", "n_trades")},
        })
    return {"metric": metric, "splits": rows, "summary": _summary(rows, metric)}


def _summary(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, float | None]:
    def mean(key: str) -> float | None:
        vals = [float(r[key]) for r in rows if r.get(key) is not None and not math.isnan(float(r[key]))]
        return sum(vals) / len(vals) if vals else None

    is_m, oos_m = mean(f"is_{metric}"), mean(f"oos_{metric}")
    return {f"mean_is_{metric}": is_m, f"mean_oos_{metric}": oos_m,
            "mean_is_return_pct": mean("is_return_pct"), "mean_oos_return_pct": mean("oos_return_pct"),
            "oos_is_ratio": oos_m / is_m if is_m and oos_m is not None else None}
