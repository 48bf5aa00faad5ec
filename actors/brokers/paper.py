"""``PaperBroker``: the default broker, filling orders against replayed or live trades and candles.

Fees and slippage come from the backtester's models (:mod:`pipelines.backtest.costs`), so paper
and backtest results reconcile. Latency: an order becomes active ``latency_ms`` after submission.
Spot only: buys need quote cash, sells need the base asset (both reserved while the order is open).
"""

from __future__ import annotations

import bisect
import itertools
import logging
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from actors.brokers.base import last_price_cross
from actors.brokers.clock import Clock
from actors.brokers.errors import DuplicateOrder, OrderNotFound, OrderRejected
from actors.brokers.models import (
    ZERO,
    Balance,
    Fill,
    MarketInfo,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    round_step,
    to_decimal,
)
from pipelines.backtest.config import SlippageConfig
from pipelines.backtest.costs import fill_cap, slipped_price

logger = logging.getLogger(__name__)
_RESERVE_BUFFER = Decimal("1.05")  # market buys reserve 5% above the last price for slippage


class PaperConfig(BaseModel):
    """Paper account and cost model (the backtester's fee and slippage settings).

    Parameters
    ----------
    cash:
        Starting balance of ``quote`` currency.
    commission:
        Taker fee as a fraction of notional (0.001 = 0.1%).
    maker_commission:
        Fee of resting limit fills; None = the taker fee.
    latency_ms:
        Time from submission until an order may fill; 0 fills marketable orders on submission.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: Decimal = Field(Decimal(100_000), gt=0, description="starting quote balance")
    quote: str = Field("USDT", description="quote currency of the account")
    commission: float = Field(0.001, ge=0, lt=0.1, description="taker fee, fraction of notional")
    maker_commission: float | None = Field(None, ge=0, lt=0.1, description="maker fee; None = taker fee")
    slippage: SlippageConfig = SlippageConfig()
    latency_ms: int = Field(0, ge=0, description="submission -> active, ms")
    lot_size: Decimal = Field(Decimal("0.00000001"), gt=0, description="default quantity step")
    tick_size: Decimal = Field(Decimal("0.00000001"), gt=0, description="default price step")
    min_notional: Decimal = Field(Decimal(1), ge=0, description="default minimum order notional")


@dataclass
class _Open:
    order: Order
    active_ms: int
    triggered: bool
    reserved: Decimal  # quote (buys) or base (sells) still held for the order
    tried: bool = False


class PaperBroker:
    """A simulated spot account that implements :class:`actors.brokers.base.Broker`.

    Parameters
    ----------
    cfg:
        Account and cost settings.
    clock:
        Time source (a manual clock in replays and tests).
    markets:
        Trading rules per symbol; symbols not listed get the config's defaults.
    """

    name = "paper"

    def __init__(self, cfg: PaperConfig, clock: Clock, markets: dict[str, MarketInfo] | None = None) -> None:
        self.cfg = cfg
        self._clock = clock
        self._markets = dict(markets or {})
        self._orders: dict[str, Order] = {}
        self._by_venue_id: dict[str, str] = {}
        self._open: dict[str, _Open] = {}
        self._fills: list[Fill] = []
        self._fill_ts: list[int] = []  # fill times, for bisecting ``fills(since_ms)``
        self._fill_sorted = True  # False once a fill arrived with an earlier time than the previous one
        self._free: dict[str, Decimal] = {cfg.quote: cfg.cash}
        self._total: dict[str, Decimal] = {cfg.quote: cfg.cash}
        self._last: dict[str, Decimal] = {}
        self._ids = itertools.count(1)
        self._taker = Decimal(str(cfg.commission))
        self._maker = Decimal(str(cfg.commission if cfg.maker_commission is None else cfg.maker_commission))

    # -- market data ------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketInfo:
        """Rules of ``symbol`` (configured defaults unless given at construction)."""
        info = self._markets.get(symbol)
        if info is None:
            base, _, quote = symbol.partition("/")
            info = MarketInfo(symbol, base, quote, self.cfg.lot_size, self.cfg.tick_size, self.cfg.lot_size,
                              self.cfg.min_notional, True)
            self._markets[symbol] = info
        return info

    def last_price(self, symbol: str) -> Decimal | None:
        """The last trade (or close) price seen for ``symbol``."""
        return self._last.get(symbol)

    def on_trade(self, symbol: str, price: Decimal, qty: Decimal, ts_ms: int) -> list[Fill]:
        """A market trade: fills resting orders it crosses, each fill capped at the trade's size."""
        self._last[symbol] = price
        return self._match(symbol, ts_ms, open_=price, high=price, low=price, cap=qty, bar_volume=qty, tick=True)

    def on_bar(self, symbol: str, open_: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal,
               ts_ms: int) -> list[Fill]:
        """A candle: market orders fill at the open, limits and stops by the backtester's bar rules."""
        cap = fill_cap(self.cfg.slippage, float(volume))
        cap_d = None if cap == float("inf") else round_step(to_decimal(cap), self.cfg.lot_size)
        fills = self._match(symbol, ts_ms, open_=open_, high=high, low=low, cap=cap_d, bar_volume=volume)
        self._last[symbol] = close
        return fills

    # -- Broker interface -----------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> Order:
        """Accept (or reject) an order; marketable orders fill now when latency is 0."""
        now = self._clock.now_ms()
        if request.client_order_id in self._orders:
            raise DuplicateOrder(f"paper: duplicate client order id {request.client_order_id}",
                                 reason="duplicate client order id")
        venue_id = f"P{next(self._ids)}"
        order = Order(request, OrderStatus.NEW, venue_id, created_ms=now, updated_ms=now, venue=self.name)
        market = self.market(request.symbol)
        reason, reserve = self._admission(request, market)
        if reason:
            self._orders[request.client_order_id] = order.advance(OrderStatus.REJECTED, ts_ms=now, reason=reason)
            self._by_venue_id[venue_id] = request.client_order_id
            raise OrderRejected(f"paper: {request.client_order_id} rejected: {reason}", reason=reason)
        asset = market.quote if request.side is Side.BUY else market.base
        self._free[asset] = self._free.get(asset, ZERO) - reserve
        order = order.advance(OrderStatus.ACCEPTED, ts_ms=now)
        self._orders[request.client_order_id] = order
        self._by_venue_id[venue_id] = request.client_order_id
        stop = request.type in (OrderType.STOP_LOSS, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT)
        self._open[request.client_order_id] = _Open(order, now + self.cfg.latency_ms, not stop, reserve)
        last = self._last.get(request.symbol)
        if self.cfg.latency_ms == 0 and last is not None and not stop:
            self._match(request.symbol, now, open_=last, high=last, low=last, cap=None, bar_volume=ZERO,
                        only=request.client_order_id)
        return self._orders[request.client_order_id]

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        """Cancel an open order (a no-op returning the order when it is already terminal)."""
        order = self._orders.get(client_order_id)
        if order is None or order.symbol != symbol:
            raise OrderNotFound(f"paper: no order {client_order_id} on {symbol}")
        if order.status.terminal:
            return order
        return self._finish(client_order_id, OrderStatus.CANCELLED, "cancelled by client")

    def amend(self, symbol: str, client_order_id: str, new_client_order_id: str, *, qty: Decimal | None = None,
              limit_price: Decimal | None = None) -> Order:
        """Cancel/replace with the remaining quantity (or ``qty``) and the new limit price."""
        old = self.cancel(symbol, client_order_id)
        if old.status is not OrderStatus.CANCELLED:
            raise OrderRejected(f"paper: {client_order_id} is {old.status}; nothing to amend", reason="not open")
        req = old.request
        new = OrderRequest(new_client_order_id, req.symbol, req.side, req.type, qty or old.remaining_qty,
                           limit_price or req.limit_price, req.stop_price, req.time_in_force, req.reduce_only)
        return self.submit(new)

    def fetch_order(self, symbol: str, *, client_order_id: str | None = None,
                    venue_order_id: str | None = None) -> Order | None:
        """Look an order up by either id."""
        cid = client_order_id or self._by_venue_id.get(venue_order_id or "")
        order = self._orders.get(cid or "")
        return order if order is not None and order.symbol == symbol else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders not yet terminal."""
        return [o.order for o in self._open.values() if symbol is None or o.order.symbol == symbol]

    def balances(self) -> dict[str, Balance]:
        """Free and total per asset."""
        return {a: Balance(a, self._free.get(a, ZERO), t) for a, t in self._total.items()}

    def positions(self) -> dict[str, Position]:
        """Base-asset holdings as positions (``BASE/quote``)."""
        return {f"{a}/{self.cfg.quote}": Position(f"{a}/{self.cfg.quote}", t)
                for a, t in self._total.items() if a != self.cfg.quote and t != 0}

    def fills(self, since_ms: int | None = None) -> list[Fill]:
        """Fills at or after ``since_ms``, oldest first."""
        if since_ms is None:
            return list(self._fills)
        start = bisect.bisect_left(self._fill_ts, since_ms)
        return self._fills[start:] if self._fill_sorted else [f for f in self._fills if f.ts_ms >= since_ms]

    # -- matching -------------------------------------------------------------------------------
    def _admission(self, req: OrderRequest, market: MarketInfo) -> tuple[str, Decimal]:
        """(reason to reject or "", amount to reserve)."""
        if req.qty % market.lot_size != 0:
            return f"qty {req.qty} is not a multiple of lot size {market.lot_size}", ZERO
        if req.side is Side.SELL:
            free = self._free.get(market.base, ZERO)
            return ("", req.qty) if free >= req.qty else (f"insufficient {market.base}: {free} < {req.qty}", ZERO)
        ref = req.limit_price if req.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else \
            (req.stop_price if req.type is not OrderType.MARKET else self._last.get(req.symbol))
        if ref is None:
            return "no price to value a market buy", ZERO
        buffer = _RESERVE_BUFFER if req.type is not OrderType.LIMIT else Decimal(1)
        need = req.qty * ref * buffer * (1 + self._taker)
        free = self._free.get(market.quote, ZERO)
        return ("", need) if free >= need else (f"insufficient {market.quote}: {free} < {need:.8f}", ZERO)

    def _match(self, symbol: str, ts_ms: int, *, open_: Decimal, high: Decimal, low: Decimal,
               cap: Decimal | None, bar_volume: Decimal, only: str | None = None, tick: bool = False) -> list[Fill]:
        out: list[Fill] = []
        for cid in [c for c, o in self._open.items() if o.order.symbol == symbol and (only is None or c == only)]:
            slot = self._open.get(cid)
            if slot is None or slot.active_ms > ts_ms:
                continue
            req = slot.order.request
            buy = req.side is Side.BUY
            ref_open = open_
            if not slot.triggered:
                stop = req.stop_price
                is_stop = req.type is not OrderType.TAKE_PROFIT
                if stop is None or not last_price_cross(buy, high if buy == is_stop else low, stop, stop=is_stop):
                    continue
                slot.triggered = True
                ref_open = max(open_, stop) if buy == is_stop else min(open_, stop)
            price, maker = self._fill_price(req, ref_open, high, low, arriving=only is not None, tick=tick)
            first = not slot.tried
            slot.tried = True
            if price is None:
                if first and req.time_in_force is not TimeInForce.GTC:
                    self._finish(cid, OrderStatus.EXPIRED, f"{req.time_in_force}: not marketable")
                continue
            qty = slot.order.remaining_qty if cap is None else min(slot.order.remaining_qty, cap)
            if req.time_in_force is TimeInForce.FOK and qty < slot.order.remaining_qty:
                self._finish(cid, OrderStatus.EXPIRED, "FOK: not enough liquidity")
                continue
            if qty > 0:
                if not maker:
                    slipped = slipped_price(float(price), float(req.signed_qty), self.cfg.slippage,
                                            bar_volume=float(bar_volume))
                    price = round_step(to_decimal(slipped) + self.market(symbol).tick_size / 2,
                                       self.market(symbol).tick_size)
                    if req.limit_price is not None:  # a marketable limit never fills beyond its limit
                        price = min(price, req.limit_price) if buy else max(price, req.limit_price)
                out.append(self._book(cid, qty, price, maker, ts_ms))
                if cap is not None:
                    cap -= qty
            if cid in self._open and req.time_in_force is TimeInForce.IOC:
                self._finish(cid, OrderStatus.EXPIRED, "IOC: remainder expired")
        return out

    @staticmethod
    def _fill_price(req: OrderRequest, open_: Decimal, high: Decimal, low: Decimal, *, arriving: bool,
                    tick: bool) -> tuple[Decimal | None, bool]:
        """(fill reference price or None, maker?).

        Market and triggered stops: the open (taker). A limit marketable on arrival: taker at the last
        price. A resting limit: maker, at the limit on a trade tick, at the better of open and limit on
        a bar (the backtester's rule).
        """
        if req.type in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT):
            return open_, False
        lim = req.limit_price if req.limit_price is not None else open_
        buy = req.side is Side.BUY
        crossed = low <= lim if buy else high >= lim
        if not crossed:
            return None, True
        if arriving:
            return open_, False
        if tick:
            return lim, True
        return (min(open_, lim) if buy else max(open_, lim)), True

    def _book(self, cid: str, qty: Decimal, price: Decimal, maker: bool, ts_ms: int) -> Fill:
        slot = self._open[cid]
        order = slot.order
        req = order.request
        market = self.market(req.symbol)
        fee = qty * price * (self._maker if maker else self._taker)
        notional = qty * price
        if req.side is Side.BUY:
            release = min(slot.reserved, slot.reserved * qty / order.remaining_qty)
            slot.reserved -= release
            self._free[market.quote] += release - notional - fee
            self._total[market.quote] -= notional + fee
            self._free[market.base] = self._free.get(market.base, ZERO) + qty
            self._total[market.base] = self._total.get(market.base, ZERO) + qty
        else:
            slot.reserved -= qty
            self._total[market.base] = self._total.get(market.base, ZERO) - qty
            self._free[market.quote] = self._free.get(market.quote, ZERO) + notional - fee
            self._total[market.quote] = self._total.get(market.quote, ZERO) + notional - fee
        filled = order.filled_qty + qty
        avg = price if order.avg_price is None else (order.avg_price * order.filled_qty + price * qty) / filled
        status = OrderStatus.FILLED if filled == req.qty else OrderStatus.PARTIALLY_FILLED
        fill = Fill(f"pf{len(self._fills) + 1}", cid, order.venue_order_id, req.symbol, req.side, qty, price, fee,
                    market.quote, ts_ms, "maker" if maker else "taker", self.name)
        if self._fill_ts and ts_ms < self._fill_ts[-1]:
            self._fill_sorted = False
        self._fills.append(fill)
        self._fill_ts.append(ts_ms)
        slot.order = order.advance(status, ts_ms=ts_ms, filled_qty=filled, avg_price=avg, fee=order.fee + fee)
        self._orders[cid] = slot.order
        if status is OrderStatus.FILLED:
            self._release(cid)
        return fill

    def _finish(self, cid: str, status: OrderStatus, reason: str) -> Order:
        slot = self._open[cid]
        order = slot.order.advance(status, ts_ms=self._clock.now_ms(), reason=reason)
        self._orders[cid] = order
        slot.order = order
        self._release(cid)
        return order

    def _release(self, cid: str) -> None:
        slot = self._open.pop(cid)
        market = self.market(slot.order.symbol)
        asset = market.quote if slot.order.request.side is Side.BUY else market.base
        self._free[asset] = self._free.get(asset, ZERO) + slot.reserved
        slot.reserved = ZERO
