"""No look-ahead: dropping the future never changes past decisions, fills or higher-timeframe joins."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.backtest import BacktestConfig, align_timeframe, get_strategy, run_backtest
from pipelines.backtest.strategies import SmaCrossParams
from tests.unit.backtest.conftest import load_sample

BTC = load_sample("BTC_USDT", "1h").head(1500)
CFG = BacktestConfig(cash=100_000, commission=0.001)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=200, max_value=1499), fast=st.integers(2, 15), gap=st.integers(1, 40))
def test_truncating_the_future_leaves_past_trades_unchanged(cut: int, fast: int, gap: int) -> None:
    params = SmaCrossParams(fast=fast, slow=fast + gap)
    strategy = get_strategy("sma_cross")
    full = run_backtest(BTC, strategy, params, CFG, timeframe="1h")
    past = run_backtest(BTC.head(cut), strategy, params, CFG, timeframe="1h")
    last_ts = int(BTC.get_column("ts")[cut - 1])
    closed_before = [t.as_dict() for t in full.trades if t.exit_ts is not None and t.exit_ts <= last_ts]
    assert [t.as_dict() for t in past.trades] == closed_before
    assert full.equity[:cut - 1].tolist() == past.equity[:cut - 1].tolist()


@settings(max_examples=10, deadline=None)
@given(cut=st.integers(min_value=60, max_value=1499))
def test_signals_at_a_bar_use_only_that_bar_and_earlier(cut: int) -> None:
    strategy = get_strategy("sma_cross")
    params = SmaCrossParams(fast=5, slow=20)
    full = strategy.signals(strategy.features(BTC, params), params)
    past = strategy.signals(strategy.features(BTC.head(cut), params), params)
    assert full.head(cut).equals(past)


def test_first_fill_is_the_open_after_the_signal_bar() -> None:
    strategy = get_strategy("sma_cross")
    params = SmaCrossParams(fast=5, slow=20)
    sig = strategy.signals(strategy.features(BTC, params), params).filter(pl.col("target") > 0)
    res = run_backtest(BTC, strategy, params, CFG, timeframe="1h")
    first_signal = int(sig.get_column("ts")[0])
    assert res.trades[0].entry_ts == first_signal + 3_600_000
    opens = dict(zip(BTC.get_column("ts").to_list(), BTC.get_column("open").to_list(), strict=True))
    assert res.trades[0].entry_price == opens[res.trades[0].entry_ts]


def test_higher_timeframe_values_appear_only_after_that_bar_closes() -> None:
    hourly = load_sample("BTC_USDT", "1h").head(72)
    daily = load_sample("BTC_USDT", "1d").head(3)
    joined = align_timeframe(hourly, daily, base_timeframe="1h", higher_timeframe="1d", columns=["close"],
                             prefix="d1_")
    day_ms = 86_400_000
    first_day_close = daily.get_column("close")[0]
    # Hours 0..22 of day 1 see no daily bar; hour 23 closes with day 1 and sees day 1's close.
    assert joined.get_column("d1_close")[:23].is_null().all()
    assert joined.get_column("d1_close")[23] == first_day_close
    assert joined.filter(pl.col("ts") == hourly.get_column("ts")[0] + day_ms + 22 * 3_600_000).get_column(
        "d1_close")[0] == first_day_close
