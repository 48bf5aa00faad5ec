"""``RiskGuardCore``: pre-trade risk checks on every order, the kill switch, and position sizing (pure).

No Ray and no I/O: the OMS calls :meth:`RiskGuardCore.check` before an order leaves and feeds it
fills, prices and order completions. See docs/execution.md for the rules.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from actors.brokers.clock import Clock
from actors.brokers.errors import RiskRejected
from actors.brokers.models import ZERO, MarketInfo, OrderRequest, OrderType, Side, round_step

logger = logging.getLogger(__name__)
DAY_MS = 86_400_000
BPS = Decimal("0.0001")


class RiskLimits(BaseModel):
    """Limits the guard enforces (quote-currency amounts, e.g. USDT).

    Parameters
    ----------
    max_position_notional:
        Largest worst-case ``abs(position) x price`` per symbol.
    max_gross_exposure:
        Largest sum over symbols of worst-case notional.
    max_daily_loss:
        Loss (realised + marked, per UTC day) at which the kill switch trips.
    max_orders:
        Orders allowed per ``rate_window_s``.
    price_band_bps:
        Largest distance of a limit price from the last trade, in basis points (500 = 5%).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position_notional: Decimal = Field(Decimal(5_000), gt=0, description="per-symbol cap, quote currency")
    max_gross_exposure: Decimal = Field(Decimal(20_000), gt=0, description="sum of notionals, quote currency")
    max_daily_loss: Decimal = Field(Decimal(1_000), gt=0, description="kill-switch loss, quote currency")
    max_orders: int = Field(20, ge=1, description="orders per rate window")
    rate_window_s: float = Field(60.0, gt=0, description="rate window, s")
    price_band_bps: Decimal = Field(Decimal(500), gt=0, description="allowed limit-price distance, bps")


@dataclass
class _Pending:
    symbol: str
    side: Side
    remaining: Decimal


class RiskGuardCore:
    """Checks orders against :class:`RiskLimits` and tracks what it needs to (positions, pending, PnL).

    Parameters
    ----------
    limits:
        The limits.
    clock:
        Time source for the order-rate window and the UTC day of the loss limit.
    """

    def __init__(self, limits: RiskLimits, clock: Clock) -> None:
        self.limits = limits
        self._clock = clock
        self.positions: dict[str, Decimal] = {}
        self.last_price: dict[str, Decimal] = {}
        self._pending: dict[str, _Pending] = {}
        self._pending_buy: dict[str, Decimal] = {}
        self._pending_sell: dict[str, Decimal] = {}
        self._recent: deque[int] = deque()
        self._window_ms = int(limits.rate_window_s * 1000)
        self._day = -1
        self._day_start_value = ZERO
        self._cash_today = ZERO
        self.killed = False
        self.kill_reason = ""
        self.checks = 0
        self.rejects: dict[str, int] = {}

    # -- state feeds ------------------------------------------------------------------------------
    def mark(self, symbol: str, price: Decimal) -> None:
        """Record the last trade price of ``symbol`` (reference for bands and marks); may trip the switch."""
        self._roll_day()
        self.last_price[symbol] = price
        if not self.killed and self.daily_loss() >= self.limits.max_daily_loss:
            self.trip(f"daily loss {self.daily_loss()} >= {self.limits.max_daily_loss}")

    def on_fill(self, client_order_id: str, symbol: str, signed_qty: Decimal, price: Decimal, fee: Decimal) -> None:
        """Book a fill: position and cash move, and the order's pending quantity shrinks."""
        self._roll_day()
        self.positions[symbol] = self.positions.get(symbol, ZERO) + signed_qty
        self._cash_today -= signed_qty * price + fee
        pending = self._pending.get(client_order_id)
        if pending is not None:
            take = min(abs(signed_qty), pending.remaining)
            pending.remaining -= take
            book = self._pending_buy if pending.side is Side.BUY else self._pending_sell
            book[symbol] = book.get(symbol, ZERO) - take
            if pending.remaining <= 0:
                del self._pending[client_order_id]
        if not self.killed and self.daily_loss() >= self.limits.max_daily_loss:
            self.trip(f"daily loss {self.daily_loss()} >= {self.limits.max_daily_loss}")

    def on_order_done(self, client_order_id: str) -> None:
        """Release what an order that reached a terminal state had still reserved."""
        pending = self._pending.pop(client_order_id, None)
        if pending is not None:
            book = self._pending_buy if pending.side is Side.BUY else self._pending_sell
            book[pending.symbol] = book.get(pending.symbol, ZERO) - pending.remaining

    def restore_pending(self, request: OrderRequest, remaining: Decimal) -> None:
        """Reserve an open order's remaining quantity again (recovery), without the rate or limit checks."""
        if remaining <= 0 or request.client_order_id in self._pending:
            return
        self._pending[request.client_order_id] = _Pending(request.symbol, request.side, remaining)
        book = self._pending_buy if request.side is Side.BUY else self._pending_sell
        book[request.symbol] = book.get(request.symbol, ZERO) + remaining

    def load_positions(self, positions: dict[str, Decimal]) -> None:
        """Replace positions (recovery from the journal or the venue)."""
        self.positions = dict(positions)

    def trip(self, reason: str) -> None:
        """Turn the kill switch on: every new order is refused until :meth:`reset_kill_switch`."""
        if not self.killed:
            logger.error("risk guard: kill switch tripped: %s", reason)
        self.killed = True
        self.kill_reason = reason

    def reset_kill_switch(self) -> None:
        """Turn the kill switch off (by hand, after review); today's loss baseline restarts here."""
        self.killed = False
        self.kill_reason = ""
        self._day_start_value = self._marked_value()
        self._cash_today = ZERO

    # -- numbers ------------------------------------------------------------------------------------
    def daily_loss(self) -> Decimal:
        """Today's loss (positive = lost money): realised cash flow plus marked positions since the day began."""
        return -(self._cash_today + self._marked_value() - self._day_start_value)

    def worst_case(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Worst-case positions of ``symbol`` if every pending buy / every pending sell fills."""
        pos = self.positions.get(symbol, ZERO)
        return pos + self._pending_buy.get(symbol, ZERO), pos - self._pending_sell.get(symbol, ZERO)

    def gross_exposure(self) -> Decimal:
        """Sum over symbols of the worst-case absolute notional at the last prices."""
        total = ZERO
        for symbol in self.positions.keys() | self._pending_buy.keys() | self._pending_sell.keys():
            hi, lo = self.worst_case(symbol)
            total += max(abs(hi), abs(lo)) * self.last_price.get(symbol, ZERO)
        return total

    # -- the check --------------------------------------------------------------------------------
    def check(self, request: OrderRequest, *, market: MarketInfo | None = None) -> None:
        """Pass the order (reserving its worst case) or raise :class:`RiskRejected` with the rule and numbers."""
        self.checks += 1
        try:
            self._check(request, market)
        except RiskRejected as exc:
            self.rejects[exc.rule] = self.rejects.get(exc.rule, 0) + 1
            raise

    def _check(self, req: OrderRequest, market: MarketInfo | None) -> None:
        lim = self.limits
        now = self._clock.now_ms()
        self._roll_day(now)
        if self.killed:
            raise RiskRejected("kill_switch", {"reason": self.kill_reason})
        recent = self._recent
        while recent and recent[0] <= now - self._window_ms:
            recent.popleft()
        if len(recent) >= lim.max_orders:
            raise RiskRejected("max_order_rate", {"limit": lim.max_orders, "window_s": str(lim.rate_window_s),
                                                  "recent": len(recent)})
        last = self.last_price.get(req.symbol)
        if last is None:
            raise RiskRejected("no_reference_price", {"symbol": req.symbol})
        price = req.limit_price if req.limit_price is not None else last
        if req.limit_price is not None:
            band = last * lim.price_band_bps * BPS
            if abs(req.limit_price - last) > band:
                raise RiskRejected("price_band", {"limit_price": req.limit_price, "last": last,
                                                  "band_bps": lim.price_band_bps})
        if market is not None:
            self._check_market(req, market, price)
        loss = self.daily_loss()
        if loss >= lim.max_daily_loss:
            self.trip(f"daily loss {loss} >= {lim.max_daily_loss}")
            raise RiskRejected("max_daily_loss", {"loss": loss, "limit": lim.max_daily_loss})
        pos = self.positions.get(req.symbol, ZERO)
        if req.reduce_only and (pos == 0 or (pos > 0) == (req.side is Side.BUY) or req.qty > abs(pos)):
            raise RiskRejected("reduce_only", {"position": pos, "qty": req.signed_qty})
        hi, lo = self.worst_case(req.symbol)
        before = max(abs(hi), abs(lo))
        if req.side is Side.BUY:
            hi += req.qty
        else:
            lo -= req.qty
        after = max(abs(hi), abs(lo))
        if after > before:
            notional = after * price
            if notional > lim.max_position_notional:
                raise RiskRejected("max_position", {"projected_notional": notional,
                                                    "limit": lim.max_position_notional, "position": pos})
            gross = self.gross_exposure() - before * last + notional
            if gross > lim.max_gross_exposure:
                raise RiskRejected("max_gross_exposure", {"projected": gross, "limit": lim.max_gross_exposure})
        recent.append(now)
        self._pending[req.client_order_id] = _Pending(req.symbol, req.side, req.qty)
        book = self._pending_buy if req.side is Side.BUY else self._pending_sell
        book[req.symbol] = book.get(req.symbol, ZERO) + req.qty

    @staticmethod
    def _check_market(req: OrderRequest, market: MarketInfo, price: Decimal) -> None:
        if market.lot_size > 0 and req.qty % market.lot_size != 0:
            raise RiskRejected("lot_size", {"qty": req.qty, "lot_size": market.lot_size})
        for name in ("limit_price", "stop_price"):
            p = getattr(req, name)
            if p is not None and market.tick_size > 0 and p % market.tick_size != 0:
                raise RiskRejected("tick_size", {name: p, "tick_size": market.tick_size})
        if req.qty < market.min_qty:
            raise RiskRejected("min_qty", {"qty": req.qty, "min_qty": market.min_qty})
        if req.type is not OrderType.MARKET or market.min_notional > 0:
            notional = req.qty * price
            if notional < market.min_notional:
                raise RiskRejected("min_notional", {"notional": notional, "min_notional": market.min_notional})

    def _marked_value(self) -> Decimal:
        total = ZERO
        for symbol, qty in self.positions.items():
            if qty:
                total += qty * self.last_price.get(symbol, ZERO)
        return total

    def _roll_day(self, now: int | None = None) -> None:
        day = (self._clock.now_ms() if now is None else now) // DAY_MS
        if day != self._day:
            self._day = day
            self._day_start_value = self._marked_value()
            self._cash_today = ZERO


# -- position sizing ---------------------------------------------------------------------------------
def fixed_fraction(equity: Decimal, fraction: float, price: Decimal, *, lot_size: Decimal = ZERO) -> Decimal:
    """Quantity worth ``fraction`` of ``equity`` at ``price``, rounded down to the lot.

    >>> fixed_fraction(Decimal(10000), 0.1, Decimal(250), lot_size=Decimal("0.1"))
    Decimal('4.0')
    """
    if price <= 0 or fraction <= 0:
        return ZERO
    return round_step(equity * Decimal(str(fraction)) / price, lot_size)


def volatility_target(equity: Decimal, target_vol: float, asset_vol: float, price: Decimal, *,
                      max_leverage: float = 1.0, lot_size: Decimal = ZERO) -> Decimal:
    """Quantity whose annualised volatility is ``target_vol`` of equity, leverage capped.

    >>> volatility_target(Decimal(10000), 0.2, 0.8, Decimal(100))
    Decimal('25.00')
    """
    if asset_vol <= 0 or not math.isfinite(asset_vol) or price <= 0:
        return ZERO
    weight = min(target_vol / asset_vol, max_leverage)
    return fixed_fraction(equity, weight, price, lot_size=lot_size)


def capped_kelly(equity: Decimal, win_prob: float, win_loss_ratio: float, price: Decimal, *, cap: float = 0.25,
                 lot_size: Decimal = ZERO) -> Decimal:
    """Kelly fraction ``p - (1 - p) / b``, floored at 0 and capped at ``cap``, as a quantity.

    >>> capped_kelly(Decimal(1000), 0.6, 1.0, Decimal(10), cap=0.5)
    Decimal('20.0')
    """
    if win_loss_ratio <= 0:
        return ZERO
    kelly = win_prob - (1.0 - win_prob) / win_loss_ratio
    return fixed_fraction(equity, round(max(0.0, min(kelly, cap)), 10), price, lot_size=lot_size)
