"""The broker simulator: market, limit and stop orders, latency, partial fills, fees and slippage."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from pipelines.backtest.config import BacktestConfig, Compat
from pipelines.backtest.costs import fee, fill_cap, slipped_price
from pipelines.backtest.portfolio import Portfolio

FULL_EQUITY = 1.0 - sys.float_info.epsilon  # backtesting.py's default ``size`` of ``buy()``


class OrderType(StrEnum):
    """Order kinds the simulator fills."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


@dataclass
class Order:
    """An order for one symbol: a signed quantity, or a target weight resolved at fill time.

    Exactly one of ``qty`` (base units, > 0 buys) and ``target_weight`` (fraction of equity to
    hold after the fill; 0 closes) is set.
    """

    symbol: int
    kind: OrderType
    active_from: int  # first bar on which the order may fill
    qty: float | None = None
    target_weight: float | None = None
    limit: float | None = None
    stop: float | None = None
    tag: str = ""


class Fill(NamedTuple):
    """One executed fill."""

    bar: int
    symbol: int
    qty: float
    price: float
    fee: float
    kind: OrderType


class Broker:
    """Fills orders against bars and books them in a :class:`Portfolio`.

    Fill rules (a bar has open, high, low, close, volume):

    - market: at the open, plus slippage; taker fee.
    - limit buy (sell): when low <= limit (high >= limit), at min(open, limit) (max for sells);
      maker fee and no slippage.
    - stop buy (sell): when high >= stop (low <= stop), at max(open, stop) (min for sells) plus
      slippage; taker fee.
    - ``volume_share`` slippage caps one fill at ``max_participation`` x bar volume; the rest
      stays open. Long-only accounts never sell more than they hold, and no buy spends more
      cash than the account has: such orders are cut down, or dropped when nothing is left.
    """

    def __init__(self, cfg: BacktestConfig, portfolio: Portfolio) -> None:
        self.cfg = cfg
        self.portfolio = portfolio
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.rejected = 0

    def submit(self, order: Order) -> None:
        """Queue an order (its ``active_from`` already includes the configured latency)."""
        if (order.qty is None) == (order.target_weight is None):
            raise ValueError("an order needs exactly one of qty and target_weight")
        self.orders.append(order)

    def cancel_all(self, symbol: int | None = None) -> None:
        """Drop open orders (of one symbol, or all)."""
        self.orders = [o for o in self.orders if symbol is not None and o.symbol != symbol]

    def process_bar(self, i: int, ts: int, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                    close: np.ndarray, volume: np.ndarray, marks: np.ndarray | None = None) -> list[Fill]:
        """Try every active order on bar ``i``; closing orders go before opening ones.

        ``marks`` values the other positions when a target weight is sized at this bar's open
        (default: the open, NaN counted as 0); never the bar's close, which is not known yet.
        """
        fills: list[Fill] = []
        keep: list[Order] = []
        active = [o for o in self.orders if o.active_from <= i]
        waiting = [o for o in self.orders if o.active_from > i]
        positions = self.portfolio.positions
        active.sort(key=lambda o: 0 if reduces(float(positions[o.symbol]), o.qty, o.target_weight) else 1)
        mark = np.nan_to_num(open_) if marks is None else marks
        for order in active:
            k = order.symbol
            price = self._trigger_price(order, float(open_[k]), float(high[k]), float(low[k]))
            if price is None:
                keep.append(order)
                continue
            if not self._execute(order, i, ts, price, float(volume[k]), mark, fills):
                keep.append(order)
        self.orders = keep + waiting
        self.fills.extend(fills)
        return fills

    def _side(self, order: Order, price: float) -> float:
        if order.qty is not None:
            return math.copysign(1.0, order.qty)
        pos = float(self.portfolio.positions[order.symbol])
        equity = self.portfolio.cash + pos * price
        wanted = order.target_weight * equity / price - pos if price > 0 else 0.0  # type: ignore[operator]
        return 0.0 if wanted == 0 else math.copysign(1.0, wanted)

    def _trigger_price(self, order: Order, open_: float, high: float, low: float) -> float | None:
        if math.isnan(open_):
            return None  # the symbol has no bar here
        if order.kind is OrderType.MARKET:
            return open_
        side = self._side(order, order.limit or order.stop or open_)
        if order.kind is OrderType.LIMIT and order.limit is not None:
            if side > 0 and low <= order.limit:
                return min(open_, order.limit)
            if side < 0 and high >= order.limit:
                return max(open_, order.limit)
            return None
        if order.stop is not None:
            if side > 0 and high >= order.stop:
                return max(open_, order.stop)
            if side < 0 and low <= order.stop:
                return min(open_, order.stop)
        return None

    def _execute(self, order: Order, i: int, ts: int, ref: float, bar_volume: float, marks: np.ndarray,
                 fills: list[Fill]) -> bool:
        """Fill what can be filled; return True when the order is finished (filled or dropped)."""
        pf, cfg, k = self.portfolio, self.cfg, order.symbol
        is_limit = order.kind is OrderType.LIMIT
        rate = cfg.maker_fee if is_limit else cfg.commission
        if order.qty is not None:
            qty = order.qty
        else:
            qty = target_qty(pf, k, float(order.target_weight), ref, rate, marks, cfg.compat)  # type: ignore[arg-type]
        if qty == 0.0:
            return True
        cap = fill_cap(cfg.slippage, bar_volume)
        capped = abs(qty) > cap
        take = math.copysign(min(abs(qty), cap), qty)
        if take == 0.0:
            return False  # no volume on this bar: wait for the next one
        price = ref if is_limit else slipped_price(ref, take, cfg.slippage, bar_volume=bar_volume)
        done = clip_qty(pf, k, take, price, rate, cfg)
        if done == 0.0:
            self.rejected += 1
            return True
        cost = fee(done, price, rate)
        pf.apply_fill(k, done, price, cost, ts=ts, bar=i)
        fills.append(Fill(i, k, done, price, cost, order.kind))
        if done != take or not capped:
            return True  # filled, or cut down by cash/holdings (the remainder is dropped)
        if order.qty is not None:
            order.qty -= done
        return False


def reduces(position: float, qty: float | None, weight: float | None) -> bool:
    """True when an order closes or flips the position (such orders fill first on a bar)."""
    if weight is not None:
        return weight == 0.0 or (position != 0 and (weight > 0) != (position > 0))
    return position != 0 and qty is not None and (qty > 0) != (position > 0)


def target_qty(pf: Portfolio, k: int, weight: float, price: float, rate: float, marks: np.ndarray,
               compat: Compat) -> float:
    """Units to trade so symbol ``k`` holds ``weight`` x equity after a fill at ``price``.

    Equity values the other positions at ``marks``. A buy is sized so that notional plus fee
    equals the target; ``compat=backtestingpy`` uses backtesting.py's whole-unit rule instead.
    """
    pos = float(pf.positions[k])
    if compat is Compat.BACKTESTINGPY:
        return _backtestingpy_qty(pf.cash, pos, weight, price, rate)
    equity = pf.cash + float(np.dot(pf.positions, marks)) + pos * (price - float(marks[k]))
    target = weight * equity / (price * (1.0 + rate)) if weight > 0 else weight * equity / price
    return target - pos


def clip_qty(pf: Portfolio, k: int, qty: float, price: float, rate: float, cfg: BacktestConfig) -> float:
    """``qty`` cut to what the account allows: holdings when long-only, cash (with fee) for buys."""
    pos = float(pf.positions[k])
    if qty < 0 and not cfg.allow_short:
        qty = max(qty, -max(pos, 0.0))
    if qty > 0:
        affordable = max(pf.cash, 0.0) / (price * (1.0 + rate))
        if qty > affordable:
            qty = affordable if cfg.compat is Compat.NATIVE else float(math.floor(affordable))
    return 0.0 if abs(qty) < 1e-12 else qty


def _backtestingpy_qty(cash: float, pos: float, weight: float, price: float, rate: float) -> float:
    """backtesting.py's sizing: close everything, or open ``int(cash * size // (price + fee/unit))`` units."""
    if weight == 0.0 or (pos != 0 and (weight > 0) != (pos > 0)):
        return -pos
    if pos != 0:
        return 0.0  # already positioned in that direction: backtesting.py's strategy adds nothing
    size = FULL_EQUITY * min(abs(weight), 1.0)
    per_unit = price + (size * price * rate) / size
    units = int((cash * size) // per_unit)
    return math.copysign(float(units), weight)
