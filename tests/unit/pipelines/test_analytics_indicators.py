"""Indicators: TA-Lib goldens on real data, VWAP/TWAP by hand and against StockCharts, bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import talib

from cluster.errors import ConfigError, SchemaError
from pipelines.features import load_feature_config
from pipelines.indicators import (
    CandleValueError,
    IndicatorConfig,
    add_indicators,
    indicator_columns,
    indicator_config_from,
    rolling_vwap_twap,
    session_vwap_twap,
)

from .conftest import FIXTURES

CONTRACT = ["log_ret_1", "ema_20", "ema_50", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9",
            "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "bb_pctb_20_2", "bb_width_20_2", "atr_14",
            "atr_pct_14", "adx_14", "plus_di_14", "minus_di_14", "obv", "vwap_1d", "vwap_roll_20", "twap_1d",
            "twap_roll_20"]


def _np(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame.get_column(column).cast(pl.Float64).fill_null(np.nan).to_numpy()


def test_default_column_names_are_the_contract() -> None:
    assert indicator_columns(IndicatorConfig()) == CONTRACT


def test_talib_backed_columns_equal_talib_per_symbol(candles_1h: pl.DataFrame) -> None:
    # Arrange: the whole universe, shuffled, so grouping and sorting are exercised
    shuffled = candles_1h.sample(fraction=1.0, shuffle=True, seed=7)
    # Act
    out = add_indicators(shuffled)
    # Assert: for every symbol, each TA-Lib-backed column equals TA-Lib called directly
    for symbol in ("BTC/USDT", "DOGE/USDT", "XRP/USDT"):
        g = out.filter(pl.col("symbol") == symbol)
        src = candles_1h.filter(pl.col("symbol") == symbol).sort("ts")
        h, lo, c, v = (src.get_column(k).to_numpy() for k in ("high", "low", "close", "volume"))
        macd, sig, hist = talib.MACD(c, 12, 26, 9)
        upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        expected = {
            "ema_20": talib.EMA(c, 20), "ema_50": talib.EMA(c, 50), "rsi_14": talib.RSI(c, 14),
            "macd_12_26_9": macd, "macd_signal_12_26_9": sig, "macd_hist_12_26_9": hist,
            "bb_upper_20_2": upper, "bb_middle_20_2": middle, "bb_lower_20_2": lower,
            "atr_14": talib.ATR(h, lo, c, 14), "adx_14": talib.ADX(h, lo, c, 14),
            "plus_di_14": talib.PLUS_DI(h, lo, c, 14), "minus_di_14": talib.MINUS_DI(h, lo, c, 14),
            "obv": talib.OBV(c, v),
        }
        for column, want in expected.items():
            np.testing.assert_array_equal(_np(g, column), want, err_msg=f"{symbol} {column}")


def test_bollinger_pctb_and_bandwidth_formulas(btc_1h: pl.DataFrame) -> None:
    out = add_indicators(btc_1h)
    c, up, mid, lo = (_np(out, k) for k in ("close", "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"))
    np.testing.assert_allclose(_np(out, "bb_pctb_20_2")[19:], ((c - lo) / (up - lo))[19:], rtol=1e-12)
    np.testing.assert_allclose(_np(out, "bb_width_20_2")[19:], ((up - lo) / mid)[19:], rtol=1e-12)
    np.testing.assert_allclose(_np(out, "atr_pct_14")[14:], (_np(out, "atr_14") / c)[14:], rtol=1e-12)


def test_session_vwap_twap_by_hand_resets_at_utc_midnight() -> None:
    # two bars on day 0 (23:00, 23:30), then one on day 1 (00:00)
    day = 86_400_000
    ts = np.array([day - 3_600_000, day - 1_800_000, day])
    high, low, close = np.array([12.0, 13.0, 20.0]), np.array([9.0, 10.0, 18.0]), np.array([10.5, 12.5, 19.0])
    open_ = np.array([10.0, 11.0, 19.0])
    volume = np.array([100.0, 300.0, 50.0])
    vwap, twap = session_vwap_twap(ts, high, low, close, open_, volume)
    tp = [(12 + 9 + 10.5) / 3, (13 + 10 + 12.5) / 3, (20 + 18 + 19) / 3]
    assert vwap[0] == pytest.approx(tp[0])
    assert vwap[1] == pytest.approx((tp[0] * 100 + tp[1] * 300) / 400)
    assert vwap[2] == pytest.approx(tp[2])
    p4 = [(10 + 12 + 9 + 10.5) / 4, (11 + 13 + 10 + 12.5) / 4, (19 + 20 + 18 + 19) / 4]
    assert twap.tolist() == pytest.approx([p4[0], (p4[0] + p4[1]) / 2, p4[2]])


def test_session_vwap_is_nan_until_volume_trades() -> None:
    vwap, twap = session_vwap_twap(np.array([0, 60_000]), np.array([2.0, 2.0]), np.array([1.0, 1.0]),
                                   np.array([1.5, 1.5]), np.array([1.5, 1.5]), np.array([0.0, 4.0]))
    assert np.isnan(vwap[0]) and vwap[1] == pytest.approx(1.5)
    assert twap.tolist() == pytest.approx([1.5, 1.5])


def test_rolling_vwap_matches_stockcharts_reference() -> None:
    ref = pl.read_csv(FIXTURES / "indicators_reference" / "cs-vwap.csv")
    high, low, close, volume = (ref.get_column(k).to_numpy() for k in ("High", "Low", "Close", "Volume"))
    vwap, _ = rolling_vwap_twap(high, low, close, close, volume, 14)
    assert np.isnan(vwap[:13]).all()
    np.testing.assert_allclose(vwap[13:], ref.get_column("vwap").to_numpy()[13:], rtol=1e-9)


def test_rolling_twap_by_hand() -> None:
    o, h, lo, c = (np.array(x) for x in ([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [0.5, 1.5, 2.5], [1.5, 2.5, 3.5]))
    _, twap = rolling_vwap_twap(h, lo, c, o, np.ones(3), 2)
    p4 = (o + h + lo + c) / 4
    assert np.isnan(twap[0]) and twap[1:].tolist() == pytest.approx([(p4[0] + p4[1]) / 2, (p4[1] + p4[2]) / 2])


def test_short_history_gives_nan_warm_up_not_errors(btc_1h: pl.DataFrame) -> None:
    out = add_indicators(btc_1h.head(5))
    assert out.height == 5
    for column in ("ema_20", "rsi_14", "macd_12_26_9", "bb_upper_20_2", "atr_14", "adx_14", "vwap_roll_20"):
        assert out.get_column(column).null_count() == 5, column
    assert out.get_column("vwap_1d").null_count() == 0
    assert add_indicators(btc_1h.head(0)).height == 0


@pytest.mark.parametrize(("column", "value"), [("close", float("nan")), ("high", float("inf")),
                                               ("low", -1.0), ("open", 0.0), ("volume", -5.0)])
def test_bad_prices_are_rejected_naming_the_row(btc_1h: pl.DataFrame, column: str, value: float) -> None:
    frame = btc_1h.head(50).with_row_index("i").with_columns(
        pl.when(pl.col("i") == 17).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    ).drop("i")
    with pytest.raises(CandleValueError) as info:
        add_indicators(frame)
    err = info.value
    assert (err.row, err.column, err.symbol) == (17, column, "BTC/USDT")
    assert err.ts == btc_1h.get_column("ts")[17]
    assert "row 17" in str(err)


def test_missing_columns_are_a_schema_error(btc_1h: pl.DataFrame) -> None:
    with pytest.raises(SchemaError, match="volume"):
        add_indicators(btc_1h.drop("volume"))


def test_unknown_indicator_name_is_a_config_error_listing_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown indicator\(s\) \['ichimoku'\]; valid names: log_ret, ema"):
        indicator_config_from({"indicators": ["ema", "ichimoku"]})
    with pytest.raises(ConfigError, match="ichimoku"):
        load_feature_config({"indicators": {"indicators": ["ichimoku"]}})
    with pytest.raises(ConfigError, match="rsi_periodd"):
        load_feature_config({"indicators": {"rsi_periodd": 3}})


def test_configurable_periods_rename_columns(btc_1h: pl.DataFrame) -> None:
    cfg = IndicatorConfig(indicators=("ema", "bbands", "vwap"), ema_periods=(9, 200), bollinger=(10, 1.5),
                          vwap_rolling_bars=(5,))
    out = add_indicators(btc_1h, cfg)
    added = [c for c in out.columns if c not in btc_1h.columns]
    assert added == ["ema_9", "ema_200", "bb_upper_10_1.5", "bb_middle_10_1.5", "bb_lower_10_1.5",
                     "bb_pctb_10_1.5", "bb_width_10_1.5", "vwap_1d", "vwap_roll_5"]
    np.testing.assert_array_equal(_np(out, "ema_200"), talib.EMA(btc_1h.get_column("close").to_numpy(), 200))
