"""Hand-computed broker cases: fills, fees, slippage models, limit/stop orders, latency, sizing limits."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.backtest import BacktestConfig, Broker, Order, OrderType, Portfolio, SlippageConfig

# bar:            0      1      2      3      4
OPEN = np.array([100.0, 100.0, 97.0, 101.0, 110.0])
HIGH = np.array([101.0, 102.0, 99.0, 106.0, 112.0])
LOW = np.array([99.0, 96.0, 94.0, 100.0, 108.0])
CLOSE = np.array([100.0, 98.0, 98.0, 104.0, 111.0])
VOLUME = np.array([10.0, 10.0, 10.0, 10.0, 10.0])


def _run(cfg: BacktestConfig, orders: list[Order], *, position: float = 0.0) -> tuple[Broker, list[list]]:
    pf = Portfolio(("BTC/USDT",), cfg.cash + position * 100.0)
    if position:
        pf.apply_fill(0, position, 100.0, 0.0, ts=0, bar=0)
    broker = Broker(cfg, pf)
    for o in orders:
        broker.submit(o)
    fills = []
    for i in range(len(OPEN)):
        fills.append(broker.process_bar(i, i * 1000, OPEN[i:i + 1], HIGH[i:i + 1], LOW[i:i + 1], CLOSE[i:i + 1],
                                        VOLUME[i:i + 1]))
    return broker, fills


def test_market_buy_fills_at_next_open_and_pays_taker_fee() -> None:
    broker, fills = _run(BacktestConfig(cash=1000, commission=0.01), [Order(0, OrderType.MARKET, 1, qty=2.0)])
    assert fills[0] == []
    (fill,) = fills[1]
    assert (fill.price, fill.qty, fill.fee) == (100.0, 2.0, 2.0)
    assert broker.portfolio.cash == pytest.approx(1000 - 200 - 2)
    assert broker.portfolio.positions[0] == 2.0


@pytest.mark.parametrize(("qty", "expected"), [(1.0, 100.5), (-1.0, 99.5)])
def test_fixed_bps_slippage_moves_price_against_the_order(qty: float, expected: float) -> None:
    cfg = BacktestConfig(cash=1000, commission=0.0, allow_short=True,
                         slippage=SlippageConfig(model="fixed_bps", bps=50))
    _, fills = _run(cfg, [Order(0, OrderType.MARKET, 1, qty=qty)])
    assert fills[1][0].price == pytest.approx(expected)


def test_spread_model_pays_half_the_spread() -> None:
    cfg = BacktestConfig(cash=1000, commission=0.0, slippage=SlippageConfig(model="spread", spread_bps=40))
    _, fills = _run(cfg, [Order(0, OrderType.MARKET, 1, qty=1.0)])
    assert fills[1][0].price == pytest.approx(100.2)


def test_limit_buy_waits_for_the_price_and_pays_maker_fee() -> None:
    cfg = BacktestConfig(cash=1000, commission=0.01, maker_commission=0.0)
    # bar 1 low 96 > 95: no fill; bar 2 low 94 <= 95: fill at the limit (open 97 is above it)
    _, fills = _run(cfg, [Order(0, OrderType.LIMIT, 1, qty=1.0, limit=95.0)])
    assert fills[1] == []
    (fill,) = fills[2]
    assert (fill.price, fill.fee) == (95.0, 0.0)


def test_limit_buy_gapping_through_fills_at_the_better_open() -> None:
    _, fills = _run(BacktestConfig(cash=1000, commission=0.0), [Order(0, OrderType.LIMIT, 2, qty=1.0, limit=98.0)])
    assert fills[2][0].price == 97.0


def test_stop_buy_triggers_at_the_stop_and_gaps_at_the_open() -> None:
    cfg = BacktestConfig(cash=10_000, commission=0.0, slippage=SlippageConfig(model="fixed_bps", bps=10))
    _, fills = _run(cfg, [Order(0, OrderType.STOP, 1, qty=1.0, stop=105.0)])
    # bars 1 and 2 never reach 105; bar 3 high 106 triggers at 105 (+10 bps)
    assert fills[1] == fills[2] == []
    assert fills[3][0].price == pytest.approx(105.0 * 1.001)
    _, gapped = _run(cfg, [Order(0, OrderType.STOP, 4, qty=1.0, stop=105.0)])
    assert gapped[4][0].price == pytest.approx(110.0 * 1.001)


def test_stop_sell_protects_a_long_position() -> None:
    _, fills = _run(BacktestConfig(cash=0.01, commission=0.0), [Order(0, OrderType.STOP, 1, qty=-1.0, stop=95.0)],
                    position=1.0)
    assert fills[1] == []
    assert fills[2][0].price == 95.0


def test_volume_share_caps_each_fill_and_charges_impact() -> None:
    cfg = BacktestConfig(cash=10_000, commission=0.0,
                         slippage=SlippageConfig(model="volume_share", impact_bps=100, max_participation=0.1))
    broker, fills = _run(cfg, [Order(0, OrderType.MARKET, 1, qty=2.5)])
    assert [f[0].qty for f in fills[1:4]] == pytest.approx([1.0, 1.0, 0.5])
    # impact: 100 bps x (1 unit / 10 volume) = 10 bps over the open
    assert fills[1][0].price == pytest.approx(100.0 * 1.001)
    assert broker.orders == []


def test_latency_delays_the_fill() -> None:
    _, fills = _run(BacktestConfig(cash=1000, commission=0.0), [Order(0, OrderType.MARKET, 3, qty=1.0)])
    assert [len(f) for f in fills] == [0, 0, 0, 1, 0]
    assert fills[3][0].price == 101.0


def test_long_only_never_sells_more_than_held() -> None:
    broker, fills = _run(BacktestConfig(cash=0.01, commission=0.0), [Order(0, OrderType.MARKET, 1, qty=-5.0)],
                         position=2.0)
    assert fills[1][0].qty == -2.0
    assert broker.portfolio.positions[0] == 0.0
    flat, nothing = _run(BacktestConfig(cash=100, commission=0.0), [Order(0, OrderType.MARKET, 1, qty=-1.0)])
    assert nothing[1] == [] and flat.rejected == 1


def test_shorting_by_flag() -> None:
    broker, _ = _run(BacktestConfig(cash=1000, commission=0.0, allow_short=True),
                     [Order(0, OrderType.MARKET, 1, qty=-3.0)])
    assert broker.portfolio.positions[0] == -3.0
    assert broker.portfolio.cash == pytest.approx(1300.0)


def test_buys_are_cut_to_the_cash_available() -> None:
    broker, fills = _run(BacktestConfig(cash=1010, commission=0.01), [Order(0, OrderType.MARKET, 1, qty=50.0)])
    assert fills[1][0].qty == pytest.approx(10.0)  # 1010 / (100 x 1.01)
    assert broker.portfolio.cash == pytest.approx(0.0, abs=1e-9)


def test_round_trip_pnl_is_net_of_both_fees() -> None:
    pf = Portfolio(("BTC/USDT",), 1000.0)
    pf.apply_fill(0, 2.0, 100.0, 2.0, ts=1, bar=1)
    pf.apply_fill(0, -2.0, 110.0, 2.2, ts=2, bar=2)
    (trade,) = pf.closed
    assert trade.pnl == pytest.approx(20.0 - 2.0 - 2.2)
    assert trade.fees == pytest.approx(4.2)
    assert pf.cash == pytest.approx(1000.0 + 15.8)
    assert (trade.entry_price, trade.exit_price, trade.size) == (100.0, 110.0, 2.0)


def test_target_weight_order_invests_all_equity_net_of_fees() -> None:
    broker, fills = _run(BacktestConfig(cash=1010, commission=0.01), [Order(0, OrderType.MARKET, 1,
                                                                            target_weight=1.0)])
    assert fills[1][0].qty == pytest.approx(10.0)
    assert broker.portfolio.cash == pytest.approx(0.0, abs=1e-9)
