"""Sliding-window state: incremental equals batch (<= 1e-9 relative) for random split points of real data,
survives a JSON snapshot/restore, and real-time signals replay identically after a restore."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.anomalies import AnomalyConfig, series_anomaly_scores
from pipelines.indicators import IndicatorConfig, series_arrays, series_indicators
from pipelines.patterns import PATTERN_COLUMNS, PATTERN_FUNCTIONS
from pipelines.realtime_signals import PATTERN_BARS, SignalEngine
from pipelines.sliding_state import StreamingFeatures

from .conftest import load_candles

UNITLESS = ("bb_pctb_20_2", "ret_rz_50", "volume_rz_50", "gap_pct", "log_ret_1")


def _batch(frame: pl.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for (symbol,), g in frame.sort("symbol", "ts").group_by(["symbol"], maintain_order=True):
        arrays = series_arrays(g)
        values = series_indicators(arrays, IndicatorConfig())
        values.update(series_anomaly_scores(arrays, AnomalyConfig()))
        out[str(symbol)] = values
    return out


def _stream(state: StreamingFeatures, frame: pl.DataFrame, sink: dict[str, dict[str, list[float]]]) -> None:
    """Feed ``frame`` bar by bar, all symbols of one ts in one vectorised call."""
    for _, g in frame.sort("ts", "symbol").group_by(["ts"], maintain_order=True):
        out = state.update(g.get_column("symbol").to_list(), ts=g.get_column("ts").to_numpy(),
                           open_=g.get_column("open").to_numpy(), high=g.get_column("high").to_numpy(),
                           low=g.get_column("low").to_numpy(), close=g.get_column("close").to_numpy(),
                           volume=g.get_column("volume").to_numpy())
        for j, symbol in enumerate(g.get_column("symbol").to_list()):
            row = sink.setdefault(symbol, {})
            for name, values in out.items():
                row.setdefault(name, []).append(float(values[j]))


def _assert_close(batch: dict[str, np.ndarray], got: dict[str, list[float]]) -> None:
    for name, values in got.items():
        want, have = batch[name], np.asarray(values)
        assert np.array_equal(np.isnan(want), np.isnan(have)), f"{name}: warm-up rows differ"
        atol = 1e-9 if name in UNITLESS else 0.0
        np.testing.assert_allclose(have, want, rtol=1e-9, atol=atol, equal_nan=True, err_msg=name)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split=st.integers(min_value=1, max_value=249))
def test_incremental_equals_batch_across_a_snapshot_at_a_random_split(split: int) -> None:
    candles = load_candles("1d")
    stamps = candles.get_column("ts").unique().sort()
    cut = int(stamps[split])
    state = StreamingFeatures()
    got: dict[str, dict[str, list[float]]] = {}
    _stream(state, candles.filter(pl.col("ts") < cut), got)
    restored = StreamingFeatures.restore(json.loads(json.dumps(state.snapshot())))
    _stream(restored, candles.filter(pl.col("ts") >= cut), got)
    batch = _batch(candles)
    for symbol, values in got.items():
        _assert_close(batch[symbol], values)


def test_incremental_equals_batch_on_long_hourly_history() -> None:
    frame = load_candles("1h").filter(pl.col("symbol").is_in(["BTC/USDT", "DOGE/USDT"]))
    frame = frame.filter(pl.col("ts") < int(frame.get_column("ts").sort()[3000]))
    got: dict[str, dict[str, list[float]]] = {}
    _stream(StreamingFeatures(), frame, got)
    batch = _batch(frame)
    for symbol, values in got.items():
        _assert_close(batch[symbol], values)


def test_one_candle_per_series_per_call() -> None:
    with pytest.raises(ValueError, match="one candle per series"):
        StreamingFeatures().update(["a", "a"], ts=np.array([0, 1]), open_=np.ones(2), high=np.ones(2),
                                   low=np.ones(2), close=np.ones(2), volume=np.ones(2))


@settings(max_examples=5, deadline=None)
@given(t=st.integers(min_value=PATTERN_BARS, max_value=5900))
def test_patterns_on_the_signal_window_equal_the_batch_value(t: int) -> None:
    g = load_candles("1h").filter(pl.col("symbol") == "ETH/USDT")
    o, h, lo, c = (g.get_column(k).to_numpy() for k in ("open", "high", "low", "close"))
    w = slice(t - PATTERN_BARS + 1, t + 1)
    for name in PATTERN_FUNCTIONS:
        fn = getattr(talib, name)
        assert fn(o[w], h[w], lo[w], c[w])[-1] == fn(o, h, lo, c)[t], name


def test_signal_engine_restores_mid_stream_and_detects(candles_1h: pl.DataFrame) -> None:
    rows = candles_1h.sort("ts", "symbol").head(12_000).to_dicts()
    engine = SignalEngine(patterns=tuple(PATTERN_COLUMNS[:20]))
    engine.on_candles(rows[:8_000], emit=False)
    clone = SignalEngine.restore(json.loads(json.dumps(engine.snapshot())))
    first, second = engine.on_candles(rows[8_000:]), clone.on_candles(rows[8_000:])
    assert first == second and first
    kinds = {s.kind for s in first}
    assert {"macd_cross_up", "macd_cross_down", "bb_break_upper"} <= kinds
    assert engine.on_candles(rows[11_990:]) == []  # re-delivered candles are ignored
    fields = first[0].fields()
    assert set(fields) == {"kind", "exchange", "symbol", "timeframe", "ts", "value", "detail"}


def test_signal_engine_rejects_unknown_patterns() -> None:
    with pytest.raises(ValueError, match="cdl_moon"):
        SignalEngine(patterns=("cdl_moon",))
