"""``OmsCore``: owns each order's life: idempotent submission, fills, positions, reconciliation.

No Ray here; :mod:`actors.oms` is the thin actor. Crash-only: ``__init__`` loads the journal and
reconciles with the venue, which is also the whole recovery path (docs/execution.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.brokers.base import Broker, last_price_cross
from actors.brokers.clock import Clock
from actors.brokers.errors import DuplicateOrder, OrderNotFound, OrderRejected, RiskRejected
from actors.brokers.journal import Journal
from actors.brokers.models import (
    ZERO,
    Fill,
    MarketInfo,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    PositionBook,
    new_client_order_id,
)
from actors.risk_guard import RiskGuardCore
from cluster.errors import RetriesExhausted, TransientError

logger = logging.getLogger(__name__)
EMULATED = "emulated"
_RANK = {OrderStatus.NEW: 0, OrderStatus.ACCEPTED: 1, OrderStatus.PARTIALLY_FILLED: 2}
_STOPS = (OrderType.STOP_LOSS, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT)


class OmsConfig(BaseModel):
    """Order manager settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field("paper", description="account name in the journal")
    submit_attempts: int = Field(3, ge=1, description="venue attempts per submission (lookups in between)")


@dataclass
class OrderTiming:
    """Monitoring inputs of one order (ms and the arrival price)."""

    decision_ms: int
    arrival_price: Decimal | None
    submit_ms: int | None = None
    ack_ms: int | None = None
    first_fill_ms: int | None = None
    last_fill_ms: int | None = None
    reject_rule: str = ""


@dataclass
class ReconcileReport:
    """What recovery found different between the journal and the venue."""

    adopted_orders: list[str] = field(default_factory=list)
    updated_orders: list[str] = field(default_factory=list)
    missing_orders: list[str] = field(default_factory=list)
    booked_fills: list[str] = field(default_factory=list)
    position_diffs: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when journal and venue agreed."""
        return not (self.adopted_orders or self.updated_orders or self.missing_orders or self.booked_fills
                    or self.position_diffs)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for logs and the CLI."""
        return {"clean": self.clean, "adopted_orders": self.adopted_orders, "updated_orders": self.updated_orders,
                "missing_orders": self.missing_orders, "booked_fills": self.booked_fills,
                "position_diffs": {k: list(v) for k, v in self.position_diffs.items()}}


class OmsCore:
    """The order manager.

    Parameters
    ----------
    broker:
        The venue (paper by default).
    guard:
        Pre-trade risk checks; fed with fills and prices by the OMS.
    journal:
        Durable orders, fills, positions and metrics.
    clock:
        Time source.
    cfg:
        Settings.
    """

    def __init__(self, broker: Broker, guard: RiskGuardCore, journal: Journal, clock: Clock,
                 cfg: OmsConfig | None = None) -> None:
        self.broker = broker
        self.guard = guard
        self.journal = journal
        self.cfg = cfg or OmsConfig()
        self._clock = clock
        self.orders: dict[str, Order] = {}
        self.book = PositionBook()
        self.timing: dict[str, OrderTiming] = {}
        self.submit_calls = 0
        self._fill_ids: set[str] = set()
        self._filled: dict[str, Decimal] = {}
        self._fill_cursor: int | None = None
        self._markets: dict[str, MarketInfo] = {}
        self._kill_handled = False
        self.report = self.reconcile()

    # -- public API ---------------------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> Order:
        """Check, journal and send an order; idempotent per client order id.

        Raises
        ------
        RiskRejected
            The guard refused it (the order is journalled as ``rejected``).
        OrderRejected
            The venue refused it.
        RetriesExhausted
            The venue could not be reached; the order stays ``new`` and recovery resolves it.
        """
        known = self.orders.get(request.client_order_id)
        if known is not None:
            return known
        now = self._clock.now_ms()
        timing = OrderTiming(now, self.guard.last_price.get(request.symbol))
        self.timing[request.client_order_id] = timing
        order = Order(request, OrderStatus.NEW, created_ms=now, updated_ms=now, venue=self.broker.name)
        market = self._market(request.symbol)
        try:
            self.guard.check(request, market=market)
        except RiskRejected as exc:
            timing.reject_rule = exc.rule
            self._save(order.advance(OrderStatus.REJECTED, ts_ms=now, reason=f"risk:{exc.rule}"))
            self._after_kill()
            raise
        self._save(order)
        if request.type in _STOPS and not market.supports_stops:
            return self._save(order.advance(OrderStatus.ACCEPTED, ts_ms=now, venue_order_id=EMULATED))
        return self._send(order, request)

    def target(self, symbol: str, qty_delta: Decimal, **kwargs: Any) -> Order | None:
        """A market order moving the position by ``qty_delta`` (None when it is zero)."""
        from actors.brokers.models import Side

        if qty_delta == 0:
            return None
        side = Side.BUY if qty_delta > 0 else Side.SELL
        return self.submit(OrderRequest(new_client_order_id(), symbol, side, OrderType.MARKET, abs(qty_delta),
                                        **kwargs))

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        """Cancel an order (local emulated stops never reach the venue)."""
        order = self.orders.get(client_order_id)
        if order is None:
            raise OrderNotFound(f"oms: unknown order {client_order_id}")
        if order.status.terminal:
            return order
        if order.venue_order_id == EMULATED:
            return self._finish(order, OrderStatus.CANCELLED, "cancelled by client")
        return self._merge(order, self.broker.cancel(symbol, client_order_id))

    def amend(self, symbol: str, client_order_id: str, *, qty: Decimal | None = None,
              limit_price: Decimal | None = None) -> Order:
        """Cancel/replace through the guard: returns the replacement order."""
        old = self.cancel(symbol, client_order_id)
        if old.status is not OrderStatus.CANCELLED:
            raise OrderRejected(f"oms: {client_order_id} is {old.status}; nothing to amend", reason="not open")
        r = old.request
        return self.submit(OrderRequest(new_client_order_id(), r.symbol, r.side, r.type, qty or old.remaining_qty,
                                        limit_price or r.limit_price, r.stop_price, r.time_in_force, r.reduce_only))

    def cancel_all(self) -> list[Order]:
        """Cancel every open order (the kill switch's first step)."""
        out = []
        for order in [o for o in self.orders.values() if not o.status.terminal]:
            try:
                out.append(self.cancel(order.symbol, order.client_order_id))
            except (OrderNotFound, TransientError) as exc:
                logger.warning("oms %s: cancel %s failed: %s", self.cfg.account, order.client_order_id, exc)
        return out

    def kill(self, reason: str) -> list[Order]:
        """Trip the kill switch by hand: cancel all and block new orders until :meth:`reset_kill_switch`."""
        self.guard.trip(reason)
        return self._after_kill()

    def reset_kill_switch(self) -> None:
        """Allow new orders again."""
        self.guard.reset_kill_switch()
        self._kill_handled = False

    def on_price(self, symbol: str, price: Decimal) -> list[Order]:
        """A last-trade price: marks the guard and triggers emulated stops; returns orders sent."""
        self.guard.mark(symbol, price)
        sent = []
        for order in [o for o in self.orders.values() if o.venue_order_id == EMULATED and o.symbol == symbol
                      and not o.status.terminal]:
            r = order.request
            is_stop = r.type is not OrderType.TAKE_PROFIT
            if last_price_cross(r.side.sign > 0, price, r.stop_price or price, stop=is_stop):
                child = OrderRequest(r.client_order_id, r.symbol, r.side,
                                     OrderType.LIMIT if r.type is OrderType.STOP_LIMIT else OrderType.MARKET, r.qty,
                                     r.limit_price if r.type is OrderType.STOP_LIMIT else None, None,
                                     r.time_in_force, r.reduce_only)
                sent.append(self._send(order, child))
        self._after_kill()
        return sent

    def poll(self) -> list[Fill]:
        """Book new fills and pick up venue-side cancels/expiries; returns the fills booked now."""
        new = self._book_venue_fills()
        self._refresh_open()
        if new:
            touched = {f.symbol for f in new}
            self.journal.save_positions([p for s, p in self._positions_all().items() if s in touched],
                                        self._clock.now_ms())
        self._after_kill()
        return new

    def positions(self) -> dict[str, Decimal]:
        """Net position per symbol, from fills only."""
        return {s: q for s, q in self.book.qty.items() if q != 0}

    def open_orders(self) -> list[Order]:
        """Orders not terminal."""
        return [o for o in self.orders.values() if not o.status.terminal]

    def metrics_rows(self) -> list[dict[str, Any]]:
        """Execution metrics of every order (see :mod:`pipelines.execution_metrics`)."""
        from pipelines.execution_metrics import order_metrics

        return [order_metrics(o, self.timing.get(o.client_order_id)) for o in self.orders.values()]

    # -- recovery -----------------------------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        """Rebuild from the journal, then make it agree with the venue; report every difference."""
        report = ReconcileReport()
        for order in self.journal.load_orders():
            self.orders[order.client_order_id] = order
        for fill in self.journal.load_fills():
            self._apply_fill(fill, persist=False)
        self.guard.load_positions(self.book.qty)
        for order in self.open_orders():
            if order.venue_order_id != EMULATED:
                self.guard.restore_pending(order.request, order.remaining_qty)
        venue_open = {o.client_order_id: o for o in self.broker.open_orders()}
        for order in self.open_orders():
            if order.venue_order_id == EMULATED:
                self.guard.restore_pending(order.request, order.remaining_qty)
                continue
            venue = venue_open.get(order.client_order_id) or self._lookup(order.symbol, order.client_order_id)
            if venue is None:
                self._finish(order, OrderStatus.REJECTED, "not_at_venue")
                report.missing_orders.append(order.client_order_id)
            else:
                merged = self._merge(order, venue)
                if merged.status != order.status or merged.filled_qty != order.filled_qty:
                    report.updated_orders.append(order.client_order_id)
        for cid, venue in venue_open.items():
            if cid not in self.orders:
                self.orders[cid] = venue
                self.guard.restore_pending(venue.request, venue.remaining_qty)
                self._save(venue)
                report.adopted_orders.append(cid)
        report.booked_fills = [f.fill_id for f in self._book_venue_fills()]
        venue_pos = {s: p.qty for s, p in self.broker.positions().items()}
        for symbol in venue_pos.keys() | self.positions().keys():
            mine, theirs = self.book.qty.get(symbol, ZERO), venue_pos.get(symbol, ZERO)
            if mine != theirs:
                report.position_diffs[symbol] = (str(mine), str(theirs))
        if not report.clean:
            logger.warning("oms %s: reconciliation found differences: %s", self.cfg.account, report.as_dict())
        return report

    # -- internals ----------------------------------------------------------------------------------
    def _market(self, symbol: str) -> MarketInfo:
        info = self._markets.get(symbol)
        if info is None:
            info = self._markets[symbol] = self.broker.market(symbol)
        return info

    def _send(self, order: Order, request: OrderRequest) -> Order:
        """Send with lookups in between attempts, so a lost acknowledgement never creates a second order."""
        timing = self.timing.get(order.client_order_id)
        if timing is not None:
            timing.submit_ms = self._clock.now_ms()
        unknown = False
        for attempt in range(1, self.cfg.submit_attempts + 1):
            try:
                if unknown:
                    found = self.broker.fetch_order(request.symbol, client_order_id=request.client_order_id)
                    if found is not None:
                        return self._acked(order, found)
                self.submit_calls += 1
                return self._acked(order, self.broker.submit(request))
            except DuplicateOrder:
                found = self.broker.fetch_order(request.symbol, client_order_id=request.client_order_id)
                if found is None:
                    raise
                return self._acked(order, found)
            except OrderRejected as exc:
                if timing is not None:
                    timing.reject_rule = "venue"
                self._finish(order, OrderStatus.REJECTED, exc.reason)
                raise
            except TransientError as exc:
                unknown = True
                logger.warning("oms %s: %s attempt %d: %s; looking it up before any resend", self.cfg.account,
                               order.client_order_id, attempt, exc)
        raise RetriesExhausted(f"oms: {order.client_order_id} outcome unknown after {self.cfg.submit_attempts} "
                               "attempts; recovery will resolve it")

    def _acked(self, order: Order, venue: Order) -> Order:
        timing = self.timing.get(order.client_order_id)
        if timing is not None and timing.ack_ms is None:
            timing.ack_ms = self._clock.now_ms()
        merged = self._merge(order, venue)
        self._book_venue_fills()
        return self.orders[merged.client_order_id]

    def _merge(self, local: Order, venue: Order) -> Order:
        """Move ``local`` towards the venue's state along allowed transitions only."""
        now = self._clock.now_ms()
        order = self.orders.get(local.client_order_id, local)
        if order.status.terminal:
            return order
        target = venue.status
        vid = venue.venue_order_id or order.venue_order_id
        if order.status is OrderStatus.NEW and target is not OrderStatus.NEW:
            if target is OrderStatus.REJECTED:
                return self._finish(order, OrderStatus.REJECTED, venue.reason or "rejected by venue")
            order = order.advance(OrderStatus.ACCEPTED, ts_ms=now, venue_order_id=vid)
        filled = max(order.filled_qty, self._filled.get(order.client_order_id, ZERO))
        if target.terminal:
            status = target
        else:
            status = max(target, order.status, key=lambda s: _RANK.get(s, 0))
            if status is OrderStatus.ACCEPTED and filled > 0:
                status = OrderStatus.PARTIALLY_FILLED
        if status is OrderStatus.FILLED and filled < order.request.qty:
            filled = max(filled, venue.filled_qty)
        if status != order.status or vid != order.venue_order_id or filled != order.filled_qty:
            order = order.advance(status, ts_ms=now, venue_order_id=vid, filled_qty=filled,
                                  avg_price=venue.avg_price or order.avg_price, fee=max(order.fee, venue.fee),
                                  reason=venue.reason or order.reason)
        self._save(order)
        if order.status.terminal:
            self.guard.on_order_done(order.client_order_id)
            self._save_metrics(order)
        return order

    def _finish(self, order: Order, status: OrderStatus, reason: str) -> Order:
        done = order.advance(status, ts_ms=self._clock.now_ms(), reason=reason)
        self._save(done)
        self.guard.on_order_done(done.client_order_id)
        self._save_metrics(done)
        return done

    def _lookup(self, symbol: str, client_order_id: str) -> Order | None:
        return self.broker.fetch_order(symbol, client_order_id=client_order_id)

    def _book_venue_fills(self) -> list[Fill]:
        fills = self.broker.fills(self._fill_cursor)
        new = [f for f in fills if f.fill_id not in self._fill_ids]
        for fill in new:
            self._apply_fill(fill, persist=True)
        return new

    def _apply_fill(self, fill: Fill, *, persist: bool) -> None:
        if fill.fill_id in self._fill_ids:
            return
        self._fill_ids.add(fill.fill_id)
        self._fill_cursor = fill.ts_ms if self._fill_cursor is None else max(self._fill_cursor, fill.ts_ms)
        self.book.apply(fill)
        if persist:
            self.guard.on_fill(fill.client_order_id, fill.symbol, fill.signed_qty, fill.price, fill.fee)
        cid = fill.client_order_id
        self._filled[cid] = self._filled.get(cid, ZERO) + fill.qty
        timing = self.timing.get(cid)
        if timing is not None:
            timing.first_fill_ms = timing.first_fill_ms or fill.ts_ms
            timing.last_fill_ms = fill.ts_ms
        if persist:
            self.journal.save_fill(fill)
        order = self.orders.get(cid)
        if order is None or order.status.terminal or not persist:
            return
        if order.status is OrderStatus.NEW:
            order = order.advance(OrderStatus.ACCEPTED, ts_ms=fill.ts_ms, venue_order_id=fill.venue_order_id)
        filled = min(max(order.filled_qty, self._filled[cid]), order.request.qty)
        prev = order.avg_price if order.avg_price is not None and order.filled_qty > 0 else None
        avg = fill.price if prev is None else (prev * order.filled_qty + fill.price * (filled - order.filled_qty)) \
            / filled if filled > order.filled_qty else prev
        status = OrderStatus.FILLED if filled >= order.request.qty else OrderStatus.PARTIALLY_FILLED
        order = order.advance(status, ts_ms=fill.ts_ms, filled_qty=filled, avg_price=avg, fee=order.fee + fill.fee)
        self._save(order)
        if status is OrderStatus.FILLED:
            self.guard.on_order_done(cid)
            self._save_metrics(order)

    def _refresh_open(self) -> None:
        local_open = [o for o in self.open_orders() if o.venue_order_id != EMULATED]
        if not local_open:
            return
        venue_open = {o.client_order_id for o in self.broker.open_orders()}
        for order in local_open:
            if order.client_order_id not in venue_open and order.status is not OrderStatus.NEW:
                venue = self._lookup(order.symbol, order.client_order_id)
                if venue is not None:
                    self._merge(order, venue)

    def _after_kill(self) -> list[Order]:
        if self.guard.killed and not self._kill_handled:
            self._kill_handled = True
            return self.cancel_all()
        return []

    def _save(self, order: Order) -> Order:
        self.orders[order.client_order_id] = order
        self.journal.save_order(order)
        return order

    def _save_metrics(self, order: Order) -> None:
        from pipelines.execution_metrics import order_metrics

        self.journal.save_metrics(order_metrics(order, self.timing.get(order.client_order_id)))

    def _positions_all(self) -> dict[str, Any]:
        from actors.brokers.models import Position

        return {s: Position(s, q, self.book.avg_price.get(s, ZERO)) for s, q in self.book.qty.items()}
