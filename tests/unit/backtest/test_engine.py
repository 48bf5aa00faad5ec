"""Engine behaviour on real data: reconciliation of the two styles, live feature path, multi-asset, bad input."""

from __future__ import annotations

import polars as pl
import pytest

from cluster.errors import ConfigError, DataError
from pipelines.backtest import BacktestConfig, get_strategy, parse_params, run_backtest, select_range
from pipelines.backtest.strategies import SmaCrossParams, TopNParams

COSTS = BacktestConfig(cash=100_000, commission=0.001, slippage={"model": "fixed_bps", "bps": 5})


def _trades(result: object) -> list[tuple]:
    return [(t.symbol, t.entry_ts, t.exit_ts, round(t.size, 9), round(t.pnl, 6))
            for t in result.trades]  # type: ignore[attr-defined]


def test_event_driven_sma_reconciles_with_vectorised(majors_1d: pl.DataFrame) -> None:
    params = SmaCrossParams(fast=5, slow=20)
    vec = run_backtest(majors_1d, get_strategy("sma_cross"), params, COSTS, timeframe="1d")
    evt = run_backtest(majors_1d, get_strategy("sma_cross_events"), params, COSTS, timeframe="1d")
    assert len(vec.trades) > 10
    assert _trades(vec) == _trades(evt)
    assert vec.metrics.final_equity == pytest.approx(evt.metrics.final_equity, rel=1e-12)


def test_live_feature_path_equals_precomputed_features(majors_1d: pl.DataFrame) -> None:
    # The live system recomputes features on the data seen so far at every bar; replay must agree.
    candles = majors_1d.filter(pl.col("symbol").is_in(["BTC/USDT", "ETH/USDT"])).filter(
        pl.col("ts") < 1_712_000_000_000)
    params = SmaCrossParams(fast=3, slow=10)
    batch = run_backtest(candles, get_strategy("sma_cross_events"), params, COSTS, timeframe="1d")
    live = run_backtest(candles, get_strategy("sma_cross_events"), params, COSTS, timeframe="1d",
                        live_features=True)
    assert len(batch.trades) > 3
    assert _trades(batch) == _trades(live)


def test_topn_holds_ranked_symbols_and_rebalances(majors_1d: pl.DataFrame) -> None:
    res = run_backtest(majors_1d, get_strategy("topn"), TopNParams(n=2, period=7, lookback=20, min_bars=30),
                       COSTS, timeframe="1d")
    assert res.metrics.n_trades > 5
    assert {t.symbol for t in res.trades} <= set(majors_1d.get_column("symbol").unique())
    assert 0 < res.metrics.exposure_pct <= 100
    assert res.metrics.turnover > 0


def test_rsi_reversion_uses_live_indicator_columns(btc_1h: pl.DataFrame) -> None:
    strategy = get_strategy("rsi_reversion")
    res = run_backtest(btc_1h, strategy, parse_params(strategy, {"period": 14, "lower": 25, "upper": 60}),
                       COSTS, timeframe="1h")
    assert res.metrics.n_trades > 10
    assert res.metrics.fees > 0


def test_fees_and_slippage_lower_the_result(btc_1h: pl.DataFrame) -> None:
    params = SmaCrossParams(fast=10, slow=30)
    free = run_backtest(btc_1h, get_strategy("sma_cross"), params, BacktestConfig(commission=0.0), timeframe="1h")
    costly = run_backtest(btc_1h, get_strategy("sma_cross"), params, COSTS, timeframe="1h")
    assert _trades(free) != _trades(costly)
    assert [t.entry_ts for t in free.trades] == [t.entry_ts for t in costly.trades]
    assert costly.metrics.final_equity < free.metrics.final_equity
    assert free.metrics.fees == 0.0


def test_latency_shifts_every_fill_by_that_many_bars(btc_1h: pl.DataFrame) -> None:
    params = SmaCrossParams(fast=10, slow=30)
    base = run_backtest(btc_1h, get_strategy("sma_cross"), params, COSTS, timeframe="1h")
    late = run_backtest(btc_1h, get_strategy("sma_cross"), params, COSTS.model_copy(update={"latency_bars": 2}),
                        timeframe="1h")
    hour = 3_600_000
    assert [t.entry_ts + 2 * hour for t in base.trades[:20]] == [t.entry_ts for t in late.trades[:20]]


def test_range_outside_the_data_names_the_available_range(btc_1h: pl.DataFrame) -> None:
    with pytest.raises(DataError, match=r"available 2024-01-01T00:00:00Z \.\. 2024-09-06T03:00:00Z"):
        select_range(btc_1h, start_ms=1_800_000_000_000, end_ms=None)


def test_unknown_strategy_and_parameter_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid: rsi_reversion, sma_cross, sma_cross_events, topn"):
        get_strategy("nope")
    with pytest.raises(ConfigError, match=r"no parameter\(s\) window; valid: fast \(default 10\)"):
        parse_params(get_strategy("sma_cross"), {"window": 3})
    with pytest.raises(ConfigError, match="must be below slow"):
        parse_params(get_strategy("sma_cross"), {"fast": 50, "slow": 20})


def test_compat_mode_refuses_several_symbols(majors_1d: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="one symbol"):
        run_backtest(majors_1d, get_strategy("sma_cross"), SmaCrossParams(),
                     BacktestConfig(compat="backtestingpy"), timeframe="1d")


@pytest.mark.parametrize("cfg", [
    COSTS,
    BacktestConfig(cash=50_000, commission=0.002, maker_commission=0.0, latency_bars=1,
                   slippage={"model": "spread", "spread_bps": 8}),
    BacktestConfig(cash=50_000, commission=0.001, allow_short=True),
])
def test_direct_path_books_the_same_fills_as_the_order_queue(majors_1d: pl.DataFrame, cfg: BacktestConfig) -> None:
    from pipelines.backtest import build_panel, simulate_targets, target_matrix

    strategy = get_strategy("topn")
    params = TopNParams(n=2, period=5, lookback=20, min_bars=30)
    panel = build_panel(majors_1d, timeframe="1d")
    weights, rebalance = target_matrix(strategy.signals(strategy.features(majors_1d, params), params), panel)
    if cfg.allow_short:
        weights = -weights  # short the ranked symbols: exercises flips and buy-backs
    direct = simulate_targets(panel, weights, rebalance, cfg, use_broker=False)
    queued = simulate_targets(panel, weights, rebalance, cfg, use_broker=True)
    assert len(direct.broker.fills) > 20
    assert [(f.bar, f.symbol) for f in direct.broker.fills] == [(f.bar, f.symbol) for f in queued.broker.fills]
    assert [f.qty for f in direct.broker.fills] == pytest.approx([f.qty for f in queued.broker.fills], rel=1e-12)
    assert direct.equity == pytest.approx(queued.equity, rel=1e-12)


def test_volume_share_fills_spread_over_bars(btc_1h: pl.DataFrame) -> None:
    capped = BacktestConfig(cash=10_000_000, commission=0.001,
                            slippage={"model": "volume_share", "impact_bps": 20, "max_participation": 0.01})
    res = run_backtest(btc_1h.head(2000), get_strategy("sma_cross"), SmaCrossParams(fast=10, slow=30), capped,
                       timeframe="1h")
    free = run_backtest(btc_1h.head(2000), get_strategy("sma_cross"), SmaCrossParams(fast=10, slow=30),
                        BacktestConfig(cash=10_000_000, commission=0.001), timeframe="1h")
    assert res.n_fills > 2 * free.n_fills  # 10M of BTC cannot trade in one hour at 1% participation
    volume = dict(zip(btc_1h.get_column("ts").to_list(), btc_1h.get_column("volume").to_list(), strict=True))
    for trade in res.trades[:5]:
        assert trade.size > 0.01 * volume[trade.entry_ts]
