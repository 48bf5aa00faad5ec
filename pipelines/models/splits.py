"""Purged, embargoed splits: which labelled rows may train a model that is tested on other rows.

A row is the interval ``[ts, label_end_ts]`` (decision bar to the last bar its label reads). A
training row is *purged* when its interval overlaps the test period ``[test_start, test_end]``,
and *embargoed* when it starts within ``embargo_ms`` after the test period ends (its features
still carry information from inside the test period). Both follow Lopez de Prado (2018), ch. 7.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    """Row indices of one split; the train rows never overlap the test period (+ embargo)."""

    train: np.ndarray
    test: np.ndarray


def purge_mask(start_ts: np.ndarray, end_ts: np.ndarray, *, test_start: int, test_end: int,
               embargo_ms: int) -> np.ndarray:
    """True for rows that may train against a test period ``[test_start, test_end]``.

    A row is kept when it ends before the test period starts, or starts after the test period
    ends plus the embargo. Rows with an unknown end (``end_ts`` NaN or < 0) are never kept.

    >>> purge_mask(np.array([0, 5, 20]), np.array([4, 9, 21]), test_start=8, test_end=12, embargo_ms=5).tolist()
    [True, False, True]
    """
    start = np.asarray(start_ts, dtype=np.float64)
    end = np.asarray(end_ts, dtype=np.float64)
    known = np.isfinite(end) & (end >= start)
    before = end < test_start
    after = start > test_end + embargo_ms
    return known & (before | after)


def purged_kfold(start_ts: np.ndarray, end_ts: np.ndarray, *, n_splits: int, embargo_ms: int) -> list[Fold]:
    """K contiguous folds in time; each fold's train rows are purged and embargoed around it.

    Parameters
    ----------
    start_ts, end_ts:
        Each row's decision time and label end (epoch ms).
    n_splits:
        Number of folds (>= 2); folds split the sorted unique decision times into equal blocks.
    embargo_ms:
        Extra gap after each test block during which rows may not train.
    """
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, not {n_splits}")
    start = np.asarray(start_ts, dtype=np.int64)
    times = np.unique(start)
    if times.size < n_splits:
        raise ValueError(f"{times.size} distinct times cannot make {n_splits} folds")
    blocks = np.array_split(times, n_splits)
    folds: list[Fold] = []
    end = np.asarray(end_ts, dtype=np.float64)
    for block in blocks:
        lo, hi = int(block[0]), int(block[-1])
        in_test = (start >= lo) & (start <= hi)
        test_end = int(np.nanmax(np.where(in_test & np.isfinite(end), end, hi)))
        keep = purge_mask(start, end, test_start=lo, test_end=max(hi, test_end), embargo_ms=embargo_ms)
        folds.append(Fold(train=np.flatnonzero(keep & ~in_test), test=np.flatnonzero(in_test)))
    return folds


def past_only_mask(start_ts: np.ndarray, end_ts: np.ndarray, *, decision_ts: int) -> np.ndarray:
    """Rows usable to train a model that decides at ``decision_ts``: labels fully known before it.

    >>> past_only_mask(np.array([0, 1, 2]), np.array([2, 3, np.nan]), decision_ts=3).tolist()
    [True, False, False]
    """
    end = np.asarray(end_ts, dtype=np.float64)
    return np.isfinite(end) & (end < decision_ts) & (np.asarray(start_ts) < decision_ts)
