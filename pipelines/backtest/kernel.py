"""The one-symbol booking loop of the direct path: the sweep hot spot, with plain floats only.

It applies exactly the rules of :func:`~pipelines.backtest.broker.target_qty`,
:func:`~pipelines.backtest.broker.clip_qty`, :func:`~pipelines.backtest.costs.slipped_price` and
:meth:`~pipelines.backtest.portfolio.Portfolio.apply_fill` for a single symbol, and leaves the
portfolio and broker in the same state; tests compare it with the order-queue path.
"""

from __future__ import annotations

import math

from pipelines.backtest.broker import FULL_EQUITY, Broker, Fill, OrderType
from pipelines.backtest.config import Compat
from pipelines.backtest.costs import slipped_price
from pipelines.backtest.portfolio import EPS_QTY, Trade


def book_single(broker: Broker, fills: list[int], weights: list[float], refs: list[float], vols: list[float],
                stamps: list[int]) -> tuple[list[int], list[float], list[float]]:
    """Book market target orders of symbol 0 in order; return (bar, cash, position) after each fill bar."""
    cfg, pf = broker.cfg, broker.portfolio
    rate, slip, compat_bt = cfg.commission, cfg.slippage, cfg.compat is Compat.BACKTESTINGPY
    no_slip = slip.model == "none"
    allow_short, native = cfg.allow_short, cfg.compat is Compat.NATIVE
    symbol = pf.symbols[0]
    cash, pos = pf.cash, float(pf.positions[0])
    fees_paid, notional, rejected = pf.fees_paid, pf.traded_notional, broker.rejected
    trade: Trade | None = pf.open_trades.get(0)
    closed, fill_log = pf.closed, broker.fills
    out_bars: list[int] = []
    out_cash: list[float] = []
    out_pos: list[float] = []
    market = OrderType.MARKET
    n = len(fills)
    for idx in range(n):
        bar, target, ref, ts = fills[idx], weights[idx], refs[idx], stamps[idx]
        legs = (0.0, target) if pos != 0 and target != 0 and (target > 0) != (pos > 0) else (target,)
        for weight in legs:
            # -- size (target_qty)
            if compat_bt:
                if weight == 0.0 or (pos != 0 and (weight > 0) != (pos > 0)):
                    qty = -pos
                elif pos != 0:
                    qty = 0.0
                else:
                    size = FULL_EQUITY * min(abs(weight), 1.0)
                    units = int((cash * size) // (ref + (size * ref * rate) / size))
                    qty = math.copysign(float(units), weight)
            else:
                equity = cash + pos * ref
                qty = (weight * equity / (ref * (1.0 + rate)) if weight > 0 else weight * equity / ref) - pos
            if qty == 0.0:
                continue
            price = ref if no_slip else slipped_price(ref, qty, slip, bar_volume=vols[idx])
            # -- clip (clip_qty)
            if qty < 0 and not allow_short:
                qty = max(qty, -max(pos, 0.0))
            if qty > 0:
                affordable = max(cash, 0.0) / (price * (1.0 + rate))
                if qty > affordable:
                    qty = affordable if native else float(math.floor(affordable))
            if abs(qty) < 1e-12:
                rejected += 1
                continue
            cost = abs(qty) * price * rate
            # -- book (Portfolio.apply_fill)
            cash -= qty * price + cost
            fees_paid += cost
            notional += abs(qty) * price
            before = pos
            pos = before + qty
            if abs(pos) < EPS_QTY * max(1.0, abs(before)):
                pos = 0.0
            closing = 0.0 if before == 0 or (qty > 0) == (before > 0) else min(abs(qty), abs(before))
            opening = abs(qty) - closing
            if closing and trade is not None:
                part = cost * closing / abs(qty)
                trade._exit_qty += closing
                trade._exit_value += closing * price
                trade.fees += part
                trade.pnl += trade.direction * closing * (price - trade.entry_price) - part
                if pos == 0 or (pos > 0) != (before > 0):
                    trade.exit_ts, trade.exit_bar = ts, bar
                    trade.exit_price = trade._exit_value / trade._exit_qty
                    closed.append(trade)
                    trade = None
            if opening > 0 and pos != 0:
                part = cost * opening / abs(qty)
                if trade is None:
                    trade = Trade(symbol, 1 if qty > 0 else -1, ts, price, 0.0, bar)
                trade._entry_qty += opening
                trade._entry_value += opening * price
                trade.entry_price = trade._entry_value / trade._entry_qty
                trade.size = max(trade.size, abs(pos))
                trade.fees += part
                trade.pnl -= part
            fill_log.append(Fill(bar, 0, qty, price, cost, market))
        if idx + 1 == n or fills[idx + 1] != bar:
            out_bars.append(bar)
            out_cash.append(cash)
            out_pos.append(pos)
    pf.cash, pf.fees_paid, pf.traded_notional, broker.rejected = cash, fees_paid, notional, rejected
    pf.positions[0] = pos
    pf.open_trades.clear()
    if trade is not None:
        pf.open_trades[0] = trade
    return out_bars, out_cash, out_pos
