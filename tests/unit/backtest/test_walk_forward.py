"""Walk-forward splits never overlap, stay in range, and the loop keeps test bars out of optimisation."""

from __future__ import annotations

import itertools
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.backtest import BacktestConfig
from tune.trainables import best_row, evaluate, evaluate_grid, expand_grid
from tune.walk_forward import run_walk_forward, walk_forward_splits


@given(n=st.integers(2, 5000), train=st.integers(1, 2000), test=st.integers(1, 1000),
       step=st.none() | st.integers(1, 1000), anchored=st.booleans())
def test_splits_never_overlap_and_stay_in_range(n: int, train: int, test: int, step: int | None,
                                                anchored: bool) -> None:
    if train + test > n:
        with pytest.raises(ValueError, match="exceeds"):
            walk_forward_splits(n, train_bars=train, test_bars=test, step_bars=step, anchored=anchored)
        return
    splits = walk_forward_splits(n, train_bars=train, test_bars=test, step_bars=step, anchored=anchored)
    assert splits
    for s in splits:
        assert 0 <= s.train_start < s.train_end == s.test_start < s.test_end <= n
        assert s.test_end - s.test_start == test
    if step is None or step >= test:
        tests = [(s.test_start, s.test_end) for s in splits]
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(tests))


def test_walk_forward_reports_in_and_out_of_sample_side_by_side(btc_1h: pl.DataFrame) -> None:
    candles = btc_1h.head(3000)
    cfg = BacktestConfig(cash=100_000, commission=0.001)
    grid = list(expand_grid({"fast": [5, 10, 20], "slow": [30, 60]}))
    seen_last_ts: list[int] = []

    def optimise(train: pl.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
        seen_last_ts.append(int(train.get_column("ts").max()))  # type: ignore[arg-type]
        rows = evaluate_grid(grid, candles=train, strategy_name="sma_cross", fixed={}, cfg=cfg, timeframe="1h")
        best = best_row(rows, metric="sharpe", mode="max")
        return {k: best[k] for k in ("fast", "slow")}, dict(best)

    def oos(window: pl.DataFrame, params: dict[str, Any], trade_from_ms: int) -> dict[str, Any]:
        return evaluate(params, candles=window, strategy_name="sma_cross", fixed={}, cfg=cfg, timeframe="1h",
                        trade_from_ms=trade_from_ms)

    splits = walk_forward_splits(3000, train_bars=1000, test_bars=500)
    report = run_walk_forward(candles, splits, optimise=optimise, evaluate=oos, metric="sharpe")
    assert len(report["splits"]) == 4
    for row, last in zip(report["splits"], seen_last_ts, strict=True):
        assert row["train_end"] < row["test_start"]
        assert last < pl.Series([row["test_start"]]).str.to_datetime().dt.epoch("ms")[0]
        assert {"is_sharpe", "oos_sharpe", "is_return_pct", "oos_return_pct"} <= set(row)
    assert report["summary"]["mean_is_sharpe"] is not None
