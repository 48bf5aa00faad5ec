"""The backtest engines: vectorised (target weights -> orders at event bars) and event-driven (per bar).

Both book every fill through the same :class:`~pipelines.backtest.broker.Broker` and
:class:`~pipelines.backtest.portfolio.Portfolio`, so fees, slippage and sizing are identical.
Decisions are taken at a bar's close and fill from the next bar's open (plus latency).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cluster.errors import ConfigError
from cluster.schemas import BARS_PER_YEAR, TIMEFRAME_MS
from pipelines.backtest.broker import Broker, Fill, Order, OrderType, clip_qty, target_qty
from pipelines.backtest.config import BacktestConfig, Compat, SlippageModel
from pipelines.backtest.context import Context, feature_arrays
from pipelines.backtest.costs import fee, slipped_price
from pipelines.backtest.feed import Panel, build_panel, select_range, to_frame
from pipelines.backtest.kernel import book_single
from pipelines.backtest.metrics import compute_metrics, drawdown_curve
from pipelines.backtest.portfolio import Portfolio
from pipelines.backtest.result import BacktestResult
from pipelines.backtest.strategy import EventStrategy, Signal, Strategy, StrategyParams, VectorStrategy


@dataclass
class Simulation:
    """Raw output of an engine: the account after the run, equity and exposure per bar."""

    portfolio: Portfolio
    broker: Broker
    equity: np.ndarray
    exposure: np.ndarray


def target_matrix(signals: pl.DataFrame, panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """Pivot ``signals`` (symbol, ts, target[, rebalance]) onto the panel: weights (n x k, NaN = keep) and
    a per-bar rebalance flag."""
    n, k = panel.n_bars, len(panel.symbols)
    rebalance = np.zeros(n, dtype=bool)
    if k == 1 and "rebalance" not in signals.columns and signals.height == n and \
            np.array_equal(signals.get_column("ts").to_numpy(), panel.ts):
        target = signals.get_column("target").cast(pl.Float64).fill_null(np.nan).to_numpy()
        return target.reshape(n, 1), rebalance  # one symbol on the panel's own clock
    weights = np.full((n, k), np.nan)
    pos = {s: j for j, s in enumerate(panel.symbols)}
    rows = np.searchsorted(panel.ts, signals.get_column("ts").to_numpy())
    cols = signals.get_column("symbol").cast(pl.String).replace_strict(pos, default=-1,
                                                                      return_dtype=pl.Int64).to_numpy()
    ok = (cols >= 0) & (rows < n)
    ok[ok] &= panel.ts[rows[ok]] == signals.get_column("ts").to_numpy()[ok]
    target = signals.get_column("target").cast(pl.Float64).fill_null(np.nan).to_numpy()
    weights[rows[ok], cols[ok]] = target[ok]
    if "rebalance" in signals.columns:
        flag = signals.get_column("rebalance").fill_null(False).to_numpy().astype(bool)
        rebalance[rows[ok & flag]] = True
    return weights, rebalance


def _forward_fill(weights: np.ndarray) -> np.ndarray:
    """Carry each column's last non-NaN value forward; leading NaNs become 0 (flat)."""
    n = weights.shape[0]
    idx = np.where(~np.isnan(weights), np.arange(n)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(weights, np.maximum(idx, 0), axis=0)
    return np.where(idx >= 0, filled, 0.0)


def _mark_equity(panel: Panel, close: np.ndarray, start_bar: int, cfg: BacktestConfig, bars: list[int],
                 cash: list[float], positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity and exposure per bar from the account state recorded after each event bar."""
    n = panel.n_bars
    at = np.searchsorted(np.array(bars, dtype=np.int64), np.arange(n), side="right") - 1
    cash_arr = np.concatenate([[cfg.cash], np.array(cash)])[at + 1]
    pos_arr = np.vstack([np.zeros((1, len(panel.symbols))), positions])[at + 1]
    equity = cash_arr + np.nansum(pos_arr * close, axis=1)
    exposure = np.any(pos_arr != 0, axis=1)
    return equity[start_bar:], exposure[start_bar:]


def _forward_fill_prices(prices: np.ndarray) -> np.ndarray:
    n = prices.shape[0]
    idx = np.where(~np.isnan(prices), np.arange(n)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(prices, np.maximum(idx, 0), axis=0)
    return np.where(idx >= 0, filled, np.nan)


def simulate_targets(panel: Panel, weights: np.ndarray, rebalance: np.ndarray, cfg: BacktestConfig, *,
                     start_bar: int = 0, use_broker: bool | None = None) -> Simulation:
    """Trade to target weights: an order is placed at each bar whose target changed (or that asks
    for a rebalance) and fills from the next bar's open. Only those bars are visited in Python;
    equity between them is computed with NumPy.

    Parameters
    ----------
    panel:
        Aligned prices.
    weights:
        ``(n, k)`` target weights; NaN keeps the previous target.
    rebalance:
        ``(n,)`` bars on which to trade back to the (unchanged) targets.
    cfg:
        Costs and conventions.
    start_bar:
        First bar that may trade (bars before only warm up); the strategy's standing target at
        ``start_bar - 1`` is entered at ``start_bar``.
    use_broker:
        Route orders through the :class:`Broker` queue. By default only when a fill can be
        partial (``volume_share`` slippage); otherwise a direct path books the same fills with
        the same sizing, slippage and fee functions, without the queue.
    """
    k = weights.shape[1]
    if cfg.compat is Compat.BACKTESTINGPY and k != 1:
        raise ConfigError("compat=backtestingpy runs one symbol at a time")
    target = _forward_fill(weights)
    prev = np.vstack([np.zeros((1, k)), target[:-1]])
    if start_bar > 0:
        prev[start_bar - 1] = 0.0  # the standing target counts as new at the start
    changed = (target != prev) | (rebalance[:, None] & ~np.isnan(weights))
    changed[: max(start_bar - 1, 0)] = False
    rows, cols = np.nonzero(changed)  # decisions, by bar then symbol
    close_ff = _forward_fill_prices(panel.close)
    if use_broker is None:
        use_broker = cfg.slippage.model is SlippageModel.VOLUME_SHARE
    run = _run_with_broker if use_broker else _run_direct
    portfolio, broker, bars, cash, positions = run(panel, target, rows, cols, cfg, close_ff)
    equity, exposure = _mark_equity(panel, close_ff, start_bar, cfg, bars, cash, positions)
    return Simulation(portfolio, broker, equity, exposure)


def _marks(panel: Panel, close_ff: np.ndarray, b: int) -> np.ndarray:
    """Prices known at bar ``b``'s open: the open, else the last close (0 when none yet)."""
    opens = panel.open[b]
    last = close_ff[b - 1] if b > 0 else np.full(opens.shape, np.nan)
    marks = np.where(np.isnan(opens), last, opens)
    marks[np.isnan(marks)] = 0.0
    return marks


_State = tuple[Portfolio, Broker, list[int], list[float], np.ndarray]  # ..., positions after each event bar


def _run_with_broker(panel: Panel, target: np.ndarray, rows: np.ndarray, cols: np.ndarray, cfg: BacktestConfig,
                     close_ff: np.ndarray) -> _State:
    n = panel.n_bars
    decisions: dict[int, list[int]] = {}
    for b, j in zip(rows.tolist(), cols.tolist(), strict=True):
        decisions.setdefault(b, []).append(j)
    portfolio = Portfolio(panel.symbols, cfg.cash)
    broker = Broker(cfg, portfolio)
    heap = sorted(decisions)
    seen: set[int] = set()
    bars: list[int] = []
    cash: list[float] = []
    positions: list[np.ndarray] = []
    while heap:
        b = heapq.heappop(heap)
        if b in seen or b >= n:
            continue
        seen.add(b)
        if broker.orders and broker.process_bar(b, int(panel.ts[b]), panel.open[b], panel.high[b], panel.low[b],
                                                panel.close[b], panel.volume[b], _marks(panel, close_ff, b)):
            bars.append(b)
            cash.append(portfolio.cash)
            positions.append(portfolio.positions.copy())
        for j in decisions.get(b, ()):
            _submit_target(broker, portfolio, int(j), float(target[b, j]), b, b + 1 + cfg.latency_bars)
        if broker.orders:
            heapq.heappush(heap, max(b + 1, min(o.active_from for o in broker.orders)))
    return portfolio, broker, bars, cash, np.array(positions).reshape(-1, len(panel.symbols))


def _run_direct(panel: Panel, target: np.ndarray, rows: np.ndarray, cols: np.ndarray, cfg: BacktestConfig,
                close_ff: np.ndarray) -> _State:
    """Market target orders without a queue: each fills at the first bar with an open at or after
    ``decision + 1 + latency``; a newer decision replaces an older one still waiting for a bar.
    Orders are laid out with NumPy; Python only books the fills."""
    n, k = target.shape
    portfolio = Portfolio(panel.symbols, cfg.cash)
    broker = Broker(cfg, portfolio)
    orders = _direct_orders(panel, target, rows.astype(np.int64), cols.astype(np.int64), cfg.latency_bars)
    marks = _mark_matrix(panel, close_ff) if cfg.compat is Compat.NATIVE and k > 1 else np.zeros((n, k))
    # (one symbol: target_qty marks the symbol itself at the fill price, so other marks are unused)
    bars: list[int] = []
    cash: list[float] = []
    positions: list[np.ndarray] = []
    fill_arr, sym_arr, weight_arr = orders
    fills, syms, weights = fill_arr.tolist(), sym_arr.tolist(), weight_arr.tolist()
    refs = panel.open[fill_arr, sym_arr].tolist()
    vols = panel.volume[fill_arr, sym_arr].tolist()
    stamps = panel.ts[fill_arr].tolist()
    if k == 1:
        one_bars, one_cash, one_pos = book_single(broker, fills, weights, refs, vols, stamps)
        return portfolio, broker, one_bars, one_cash, np.array(one_pos, dtype=float).reshape(-1, 1)
    for idx in range(len(fills)):
        f, j, weight = fills[idx], syms[idx], weights[idx]
        pos = float(portfolio.positions[j])
        if pos != 0 and weight != 0 and (weight > 0) != (pos > 0):
            _fill_target(broker, j, 0.0, f, stamps[idx], refs[idx], vols[idx], marks[f])  # close, then flip
        _fill_target(broker, j, weight, f, stamps[idx], refs[idx], vols[idx], marks[f])
        if idx + 1 == len(fills) or fills[idx + 1] != f:
            bars.append(f)
            cash.append(portfolio.cash)
            positions.append(portfolio.positions.copy())
    return portfolio, broker, bars, cash, np.array(positions).reshape(-1, k)


def _mark_matrix(panel: Panel, close_ff: np.ndarray) -> np.ndarray:
    """Per bar, the prices known at its open: the open, else the previous close (0 when none)."""
    prev_close = np.vstack([np.full((1, close_ff.shape[1]), np.nan), close_ff[:-1]])
    return np.nan_to_num(np.where(np.isnan(panel.open), prev_close, panel.open))


def _direct_orders(panel: Panel, target: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   latency: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fill bar, symbol, weight) of every order, in booking order: by fill bar, closing orders first."""
    n, k = target.shape
    # next bar (>= i) with an open, per symbol; n when there is none
    idx = np.where(~np.isnan(panel.open), np.arange(n)[:, None], n)
    next_valid = np.vstack([np.minimum.accumulate(idx[::-1], axis=0)[::-1], np.full((1, k), n)])
    active = np.minimum(rows + 1 + latency, n)
    fill = next_valid[active, cols]
    weight = target[rows, cols]
    order = np.lexsort((rows, cols))  # by symbol, then decision
    r, c, f = rows[order], cols[order], fill[order]
    replaced = np.zeros(order.shape[0], dtype=bool)
    same = c[1:] == c[:-1]
    replaced[:-1] = same & (r[:-1] + 1 + latency <= r[1:]) & (r[1:] < f[:-1])
    keep = np.ones(rows.shape[0], dtype=bool)
    keep[order[replaced]] = False
    keep &= fill < n
    prev = target[np.maximum(rows - 1, 0), cols] * (rows > 0)
    closing = (weight == 0) | (prev * weight < 0)
    sel = np.nonzero(keep)[0]
    ranked = sel[np.lexsort((rows[sel], ~closing[sel], fill[sel]))]
    return fill[ranked], cols[ranked], weight[ranked]


def _fill_target(broker: Broker, k: int, weight: float, bar: int, ts: int, ref: float, volume: float,
                 marks: np.ndarray) -> None:
    """Book one market order to ``weight`` at bar ``bar``'s open ``ref`` (same rules as :class:`Broker`)."""
    cfg, pf = broker.cfg, broker.portfolio
    rate = cfg.commission
    qty = target_qty(pf, k, weight, ref, rate, marks, cfg.compat)
    if qty == 0.0:
        return
    price = slipped_price(ref, qty, cfg.slippage, bar_volume=volume)
    done = clip_qty(pf, k, qty, price, rate, cfg)
    if done == 0.0:
        broker.rejected += 1
        return
    cost = fee(done, price, rate)
    pf.apply_fill(k, done, price, cost, ts=ts, bar=bar)
    broker.fills.append(Fill(bar, k, done, price, cost, OrderType.MARKET))


def _submit_target(broker: Broker, portfolio: Portfolio, k: int, weight: float, bar: int, active_from: int) -> None:
    """Replace the symbol's working orders (still-open remainders) with one to the new target;
    orders still in flight (latency) are left to arrive."""
    broker.orders = [o for o in broker.orders if o.symbol != k or o.active_from > bar]
    pos = float(portfolio.positions[k])
    if pos != 0 and weight != 0 and np.sign(pos) != np.sign(weight):
        broker.submit(Order(k, OrderType.MARKET, active_from, target_weight=0.0))  # close, then flip
    broker.submit(Order(k, OrderType.MARKET, active_from, target_weight=weight))


def run_events(panel: Panel, candles: pl.DataFrame, strategy: EventStrategy, params: StrategyParams,
               cfg: BacktestConfig, *, start_bar: int = 0, signals: pl.DataFrame | None = None,
               live_features: bool = False) -> Simulation:
    """Replay bar by bar, calling ``strategy.on_bar`` (and ``on_signal`` for ``signals``) at each close.

    With ``live_features`` the strategy's features are recomputed at every bar from the candles
    seen so far, exactly as the live system does; otherwise they are computed once (the same
    values, because every feature step is causal) and read up to the current bar.
    """
    if cfg.compat is Compat.BACKTESTINGPY and len(panel.symbols) != 1:
        raise ConfigError("compat=backtestingpy runs one symbol at a time")
    portfolio = Portfolio(panel.symbols, cfg.cash)
    broker = Broker(cfg, portfolio)
    candles = candles.sort("symbol", "ts")
    arrays = feature_arrays(strategy.features(candles, params), panel.ts, panel.symbols)
    ctx = Context(panel, arrays, broker, cfg.latency_bars)
    by_bar = _signals_by_bar(signals, panel) if signals is not None else {}
    close = _forward_fill_prices(panel.close)
    n = panel.n_bars
    equity = np.empty(n)
    exposure = np.zeros(n, dtype=bool)
    strategy.on_start(ctx)
    for i in range(n):
        if broker.orders:
            broker.process_bar(i, int(panel.ts[i]), panel.open[i], panel.high[i], panel.low[i],
                               panel.close[i], panel.volume[i], _marks(panel, close, i))
        equity[i] = portfolio.cash + float(np.nansum(portfolio.positions * close[i]))
        exposure[i] = bool(np.any(portfolio.positions != 0))
        if i < start_bar - 1:
            continue
        ctx.i = i
        if live_features:
            seen = candles.filter(pl.col("ts") <= int(panel.ts[i]))
            ctx.features = feature_arrays(strategy.features(seen, params), panel.ts[: i + 1], panel.symbols)
        for signal in by_bar.get(i, ()):
            strategy.on_signal(ctx, signal)
        strategy.on_bar(ctx)
    return Simulation(portfolio, broker, equity[start_bar:], exposure[start_bar:])


def _signals_by_bar(signals: pl.DataFrame, panel: Panel) -> dict[int, list[Signal]]:
    weights, _ = target_matrix(signals, panel)
    target = _forward_fill(weights)
    prev = np.vstack([np.zeros((1, weights.shape[1])), target[:-1]])
    out: dict[int, list[Signal]] = {}
    for b, j in zip(*np.nonzero(target != prev), strict=True):
        out.setdefault(int(b), []).append(Signal(panel.symbols[j], int(panel.ts[b]), float(target[b, j])))
    return out


def prepare_candles(candles: Any, *, timeframe: str, start_ms: int | None = None,
                    end_ms: int | None = None) -> pl.DataFrame:
    """Normalise candles and keep one timeframe and the requested range (see :func:`select_range`)."""
    frame = to_frame(candles)
    frame = frame.filter(pl.col("timeframe") == timeframe) if timeframe else frame
    if frame.height == 0:
        have = sorted(set(to_frame(candles).get_column("timeframe").to_list()))
        raise ConfigError(f"no {timeframe} candles in the input; it has {', '.join(have) or 'none'}")
    return select_range(frame, start_ms=start_ms, end_ms=end_ms)


def run_backtest(candles: pl.DataFrame, strategy: Strategy, params: StrategyParams, cfg: BacktestConfig, *,
                 timeframe: str, trade_from_ms: int | None = None, live_features: bool = False,
                 panel: Panel | None = None) -> BacktestResult:
    """Run ``strategy`` on ``candles`` (already one timeframe and range, see :func:`prepare_candles`).

    Parameters
    ----------
    candles:
        Candle frame (symbol, timeframe, ts, OHLCV).
    strategy, params:
        The strategy and its validated parameters.
    cfg:
        Costs and conventions.
    timeframe:
        Bar length (annualisation, durations).
    trade_from_ms:
        Trade only from this bar on; earlier bars only warm the features up (walk-forward).
    live_features:
        Event strategies: recompute features at every bar (the live code path).
    panel:
        A panel built from ``candles`` earlier (sweeps reuse it).
    """
    panel = panel or build_panel(candles, timeframe=timeframe)
    start_bar = int(np.searchsorted(panel.ts, trade_from_ms)) if trade_from_ms is not None else 0
    if start_bar >= panel.n_bars:
        raise ConfigError("trade_from_ms is after the last bar")
    if isinstance(strategy, VectorStrategy):
        signals = strategy.signals(strategy.features(candles, params), params)
        weights, rebalance = target_matrix(signals, panel)
        sim = simulate_targets(panel, weights, rebalance, cfg, start_bar=start_bar)
    elif isinstance(strategy, EventStrategy):
        sim = run_events(panel, candles, strategy, params, cfg, start_bar=start_bar, live_features=live_features)
    else:
        raise ConfigError(f"strategy {strategy.name!r} is neither vectorised nor event-driven")
    return assemble(strategy.name, params.model_dump(), cfg, panel, sim, start_bar)


def assemble(name: str, params: Mapping[str, Any], cfg: BacktestConfig, panel: Panel, sim: Simulation,
             start_bar: int) -> BacktestResult:
    """Metrics and curves of a finished simulation."""
    pf = sim.portfolio
    metrics = compute_metrics(sim.equity, bars_per_year=BARS_PER_YEAR[panel.timeframe],
                              bar_ms=TIMEFRAME_MS[panel.timeframe], trades=pf.closed, exposure=sim.exposure,
                              fees=pf.fees_paid, traded_notional=pf.traded_notional)
    return BacktestResult(
        strategy=name, params=dict(params), config=cfg.model_dump(mode="json"), timeframe=panel.timeframe,
        symbols=panel.symbols, ts=panel.ts[start_bar:], equity=sim.equity, drawdown=drawdown_curve(sim.equity),
        trades=list(pf.closed), open_trades=list(pf.open_trades.values()), metrics=metrics,
        n_fills=len(sim.broker.fills),
    )
