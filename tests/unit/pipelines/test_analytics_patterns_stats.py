"""Candlestick patterns against TA-Lib; volatility, trend and liquidity statistics against hand formulas."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import talib

from cluster.schemas import BARS_PER_YEAR
from pipelines.features import FeatureConfig, build_features
from pipelines.market_stats import StatsConfig, rolling_regression, series_stats
from pipelines.patterns import PATTERN_COLUMNS, PATTERN_FUNCTIONS, series_patterns


def test_all_61_patterns_have_a_column() -> None:
    assert len(PATTERN_FUNCTIONS) == 61 == len(set(PATTERN_COLUMNS))
    assert {"cdl_engulfing", "cdl_morningstar", "cdl_2crows", "cdl_xsidegap3methods"} <= set(PATTERN_COLUMNS)
    assert set(talib.get_function_groups()["Pattern Recognition"]) == set(PATTERN_FUNCTIONS)


def test_pattern_columns_equal_talib_and_score_sums_them(candles_1h: pl.DataFrame) -> None:
    out = build_features(candles_1h, FeatureConfig())
    g = out.filter(pl.col("symbol") == "ETH/USDT")
    o, h, lo, c = (g.get_column(k).to_numpy() for k in ("open", "high", "low", "close"))
    bull = np.zeros(g.height)
    bear = np.zeros(g.height)
    hits = np.zeros(g.height)
    for name, column in zip(PATTERN_FUNCTIONS, PATTERN_COLUMNS, strict=True):
        want = getattr(talib, name)(o, h, lo, c)
        np.testing.assert_array_equal(g.get_column(column).to_numpy(), want, err_msg=column)
        bull += np.clip(want, 0, None) / 100
        bear += np.clip(-want, 0, None) / 100
        hits += want != 0
    assert g.get_column("cdl_engulfing").abs().max() > 0  # real data does contain patterns
    np.testing.assert_allclose(g.get_column("pattern_bull").to_numpy(), bull)
    np.testing.assert_allclose(g.get_column("pattern_bear").to_numpy(), bear)
    np.testing.assert_allclose(g.get_column("pattern_score").to_numpy(), bull - bear)
    np.testing.assert_array_equal(g.get_column("pattern_hits").to_numpy(), hits)


def test_patterns_on_a_short_series_are_zero_not_errors() -> None:
    arrays = {k: np.array([10.0, 10.5]) for k in ("open", "close")}
    arrays.update(high=np.array([11.0, 11.0]), low=np.array([9.5, 9.0]))
    out = series_patterns(arrays)
    assert all(out[c].tolist() == [0, 0] for c in PATTERN_COLUMNS)


def _hand_stats(o: list[float], h: list[float], lo: list[float], c: list[float], v: list[float],
                tf: str) -> dict[str, float]:
    """The last window's statistics, written out with plain Python math (window = len - 1 returns)."""
    n = len(c) - 1  # window covers the last n bars; its returns need one bar before
    a = BARS_PER_YEAR[tf]
    r = [math.log(c[i] / c[i - 1]) for i in range(1, len(c))]
    mean = sum(r) / n
    cc = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1) * a)
    hl = [math.log(h[i] / lo[i]) ** 2 for i in range(1, len(c))]
    co = [math.log(c[i] / o[i]) ** 2 for i in range(1, len(c))]
    park = math.sqrt(sum(hl) / n / (4 * math.log(2)) * a)
    gk = math.sqrt(sum(0.5 * x - (2 * math.log(2) - 1) * y for x, y in zip(hl, co, strict=True)) / n * a)
    dv = [c[i] * v[i] for i in range(1, len(c))]
    amihud = sum(abs(r[i - 1]) / (dv[i - 1] / 1e6) for i in range(1, len(c))) / n
    return {"vol_cc": cc, "vol_parkinson": park, "vol_gk": gk, "dollar_vol": sum(dv) / n, "amihud": amihud}


def test_volatility_and_liquidity_match_hand_formulas() -> None:
    o = [100.0, 101.0, 103.0, 102.0, 104.0, 107.0]
    h = [102.0, 104.0, 105.0, 104.5, 108.0, 109.0]
    lo = [99.0, 100.0, 101.5, 100.0, 103.0, 105.0]
    c = [101.0, 103.0, 102.0, 104.0, 107.0, 106.0]
    v = [10.0, 12.0, 9.0, 15.0, 20.0, 11.0]
    arrays = {k: np.array(x) for k, x in zip(("open", "high", "low", "close", "volume"), (o, h, lo, c, v),
                                              strict=True)}
    out = series_stats(arrays, timeframe="1h", cfg=StatsConfig(window=5))
    want = _hand_stats(o, h, lo, c, v, "1h")
    for name, value in want.items():
        assert out[f"{name}_5"][-1] == pytest.approx(value, rel=1e-12), name
    assert np.isnan(out["vol_cc_5"][:5]).all() and np.isnan(out["amihud_5"][:5]).all()
    assert np.isnan(out["vol_parkinson_5"][:4]).all() and not np.isnan(out["vol_parkinson_5"][4])


def test_regression_on_an_exact_exponential_trend() -> None:
    closes = 100 * np.exp(0.01 * np.arange(10))
    slope, tstat, r2 = rolling_regression(np.log(closes), 5)
    assert slope[4:] == pytest.approx([0.01] * 6)
    assert r2[4:] == pytest.approx([1.0] * 6)
    assert (tstat[4:] == 100.0).all()  # a perfect fit is clipped, not infinite
    flat_slope, flat_t, flat_r2 = rolling_regression(np.zeros(6), 3)
    assert flat_slope[2:].tolist() == [0.0] * 4 and np.isnan(flat_t[2:]).all() and np.isnan(flat_r2[2:]).all()


def test_regression_t_statistic_by_hand() -> None:
    y = np.array([1.0, 2.5, 2.0, 4.0])
    _, tstat, r2 = rolling_regression(y, 4)
    x = np.arange(4.0)
    b = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    resid = y - (y.mean() + b * (x - x.mean()))
    se = math.sqrt((resid**2).sum() / 2 / ((x - x.mean()) ** 2).sum())
    assert tstat[-1] == pytest.approx(b / se)
    assert r2[-1] == pytest.approx(1 - (resid**2).sum() / ((y - y.mean()) ** 2).sum())
