"""Labels and purged splits: exact values, no lookahead, train and test never overlap."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.labels import add_forward_returns, add_triple_barrier, triple_barrier
from pipelines.models.splits import past_only_mask, purge_mask, purged_kfold


def test_forward_returns_match_a_plain_loop(candles_1d: pl.DataFrame) -> None:
    out = add_forward_returns(candles_1d, horizon=3)
    btc = out.filter(pl.col("symbol") == "BTC/USDT")
    close = btc.get_column("close").to_numpy()
    got = btc.get_column("fwd_ret_3").to_numpy()
    expected = np.full(close.size, np.nan)
    expected[:-3] = close[3:] / close[:-3] - 1
    np.testing.assert_allclose(got[:-3], expected[:-3])
    assert btc.get_column("fwd_ret_3").tail(3).null_count() == 3


def _brute_barrier(c: np.ndarray, h: np.ndarray, lo: np.ndarray, a: np.ndarray, i: int, n: int) -> float:
    up, down = c[i] + 2.0 * a[i], c[i] - 1.5 * a[i]
    for t in range(i + 1, i + 1 + n):
        if lo[t] <= down:
            return -1.0
        if h[t] >= up:
            return 1.0
    return 0.0


def test_triple_barrier_matches_brute_force_on_real_data(features_1d: pl.DataFrame) -> None:
    sol = features_1d.filter(pl.col("symbol") == "SOL/USDT").sort("ts")
    c, h, lo, a = (sol.get_column(x).fill_null(float("nan")).to_numpy() for x in ("close", "high", "low", "atr_14"))
    label, _, end = triple_barrier(c, h, lo, a, horizon=5, take_profit_atr=2.0, stop_atr=1.5)
    checked = 0
    for i in range(c.size - 5):
        if np.isfinite(a[i]):
            assert label[i] == _brute_barrier(c, h, lo, a, i, 5)
            assert i < end[i] <= i + 5
            checked += 1
    assert checked > 200
    assert np.isnan(label[-5:]).all()


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=40, max_value=240))
def test_labels_never_read_past_their_end(features_1d: pl.DataFrame, cut: int) -> None:
    """Dropping every bar after ``cut`` leaves each label whose end is at or before the cut unchanged."""
    full = add_triple_barrier(features_1d, horizon=5)
    ts_cut = int(full.filter(pl.col("symbol") == "BTC/USDT").sort("ts").get_column("ts")[cut])
    part = add_triple_barrier(features_1d.filter(pl.col("ts") <= ts_cut), horizon=5)
    joined = full.join(part, on=["symbol", "ts"], suffix="_p").filter(
        pl.col("label_end_ts").is_not_null() & (pl.col("label_end_ts") <= ts_cut))
    assert joined.height > 0
    assert (joined.get_column("tb_label") == joined.get_column("tb_label_p")).all()


@st.composite
def _intervals(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=12, max_value=80))
    start = np.sort(np.asarray(draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n)), dtype=np.int64))
    span = np.asarray(draw(st.lists(st.integers(0, 500), min_size=n, max_size=n)), dtype=np.int64)
    return start, start + span


@settings(max_examples=200, deadline=None)
@given(data=_intervals(), k=st.integers(2, 5), embargo=st.integers(0, 300))
def test_purged_kfold_train_never_overlaps_test_plus_embargo(data: tuple[np.ndarray, np.ndarray], k: int,
                                                              embargo: int) -> None:
    start, end = data
    if np.unique(start).size < k:
        return
    for fold in purged_kfold(start, end, n_splits=k, embargo_ms=embargo):
        assert np.intersect1d(fold.train, fold.test).size == 0
        if fold.test.size == 0 or fold.train.size == 0:
            continue
        t0 = start[fold.test].min()
        t1 = max(end[fold.test].max(), start[fold.test].max())
        for i in fold.train:
            # the training row's [start, end] interval lies wholly before the test period, or after it + embargo
            assert end[i] < t0 or start[i] > t1 + embargo


@settings(max_examples=200, deadline=None)
@given(data=_intervals(), decision=st.integers(0, 11_000))
def test_past_only_rows_end_before_the_decision(data: tuple[np.ndarray, np.ndarray], decision: int) -> None:
    start, end = data
    mask = past_only_mask(start, end.astype(float), decision_ts=decision)
    assert (end[mask] < decision).all()
    assert (start[mask] < decision).all()


def test_purge_mask_drops_rows_with_unknown_end() -> None:
    keep = purge_mask(np.array([0, 1]), np.array([np.nan, 2.0]), test_start=100, test_end=200, embargo_ms=0)
    assert keep.tolist() == [False, True]
