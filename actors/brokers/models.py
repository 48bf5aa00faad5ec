"""The order model: enums, requests, orders with their state machine, fills, markets and balances.

Prices and quantities are ``Decimal`` (parsed from strings); times are UTC epoch milliseconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from actors.brokers.errors import InvalidTransition

ZERO = Decimal(0)


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for buys, -1 for sells."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    """Order types of the broker interface (stops are emulated where a venue lacks them)."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_LOSS = "stop_loss"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT = "take_profit"


class TimeInForce(StrEnum):
    """How long an order stays open."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    """States of the order state machine (see docs/execution.md)."""

    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        """True for filled, cancelled, rejected and expired."""
        return self in TERMINAL


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ACCEPTED, OrderStatus.REJECTED}),
    OrderStatus.ACCEPTED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED,
                                     OrderStatus.EXPIRED, OrderStatus.REJECTED}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                             OrderStatus.CANCELLED, OrderStatus.EXPIRED}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


def can_transition(src: OrderStatus, dst: OrderStatus) -> bool:
    """Whether the state machine allows ``src -> dst``.

    >>> can_transition(OrderStatus.NEW, OrderStatus.ACCEPTED)
    True
    >>> can_transition(OrderStatus.FILLED, OrderStatus.CANCELLED)
    False
    """
    return dst in TRANSITIONS[src]


def new_client_order_id() -> str:
    """A fresh client order id: ``cr`` + 24 hex characters (valid on Binance, Coinbase, Robinhood)."""
    return "cr" + uuid.uuid4().hex[:24]


def to_decimal(value: object) -> Decimal:
    """A ``Decimal`` from a string, int, float (via ``str``) or ``Decimal``.

    >>> to_decimal(0.1)
    Decimal('0.1')
    """
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def round_step(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step`` (no rounding when ``step`` is 0).

    >>> round_step(Decimal("1.2345"), Decimal("0.01"))
    Decimal('1.23')
    """
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


@dataclass(frozen=True)
class OrderRequest:
    """What the caller wants: the client order id is the idempotency key.

    Parameters
    ----------
    client_order_id:
        Unique per order and account; a retry reuses it.
    symbol:
        ccxt unified symbol (``BTC/USDT``).
    qty:
        Base-asset quantity, > 0.
    limit_price:
        Required for ``limit`` and ``stop_limit``.
    stop_price:
        Trigger price for ``stop_loss``, ``stop_limit`` and ``take_profit``.
    """

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"{self.client_order_id}: qty must be > 0, got {self.qty}")
        if self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            raise ValueError(f"{self.client_order_id}: a {self.type} order needs limit_price")
        if self.type in (OrderType.STOP_LOSS, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT) \
                and self.stop_price is None:
            raise ValueError(f"{self.client_order_id}: a {self.type} order needs stop_price")
        for name in ("limit_price", "stop_price"):
            price = getattr(self, name)
            if price is not None and price <= 0:
                raise ValueError(f"{self.client_order_id}: {name} must be > 0")

    @property
    def signed_qty(self) -> Decimal:
        """Quantity with the side's sign (> 0 buys)."""
        return self.qty if self.side is Side.BUY else -self.qty


@dataclass(frozen=True)
class Order:
    """An order's state as the OMS or a venue knows it. Change it only through :meth:`advance`."""

    request: OrderRequest
    status: OrderStatus = OrderStatus.NEW
    venue_order_id: str = ""
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    fee: Decimal = ZERO
    created_ms: int = 0
    updated_ms: int = 0
    reason: str = ""
    venue: str = ""

    @property
    def client_order_id(self) -> str:
        """The idempotency key."""
        return self.request.client_order_id

    @property
    def symbol(self) -> str:
        """ccxt unified symbol."""
        return self.request.symbol

    @property
    def remaining_qty(self) -> Decimal:
        """Quantity not filled yet."""
        return self.request.qty - self.filled_qty

    def advance(self, status: OrderStatus, *, ts_ms: int, **changes: object) -> Order:
        """A copy in ``status`` with ``changes`` applied; raises on a move the state machine forbids.

        Staying in a non-terminal state is allowed (an update of the same state).

        Raises
        ------
        InvalidTransition
            For a forbidden move, a decreasing ``filled_qty`` or a fill above the order quantity.
        """
        if status != self.status and not can_transition(self.status, status):
            raise InvalidTransition(f"{self.client_order_id}: {self.status} -> {status} is not allowed",
                                    client_order_id=self.client_order_id, from_status=self.status,
                                    to_status=status)
        if status == self.status and self.status.terminal and changes:
            raise InvalidTransition(f"{self.client_order_id}: {self.status} is terminal",
                                    client_order_id=self.client_order_id, from_status=self.status,
                                    to_status=status)
        filled = changes.get("filled_qty", self.filled_qty)
        if not isinstance(filled, Decimal) or filled < self.filled_qty or filled > self.request.qty:
            raise InvalidTransition(f"{self.client_order_id}: filled_qty {self.filled_qty} -> {filled} is not allowed "
                                    f"(order qty {self.request.qty})", client_order_id=self.client_order_id,
                                    from_status=self.status, to_status=status)
        return replace(self, status=status, updated_ms=ts_ms, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Fill:
    """One execution. ``fill_id`` is unique per venue; ``fee`` is in ``fee_currency``."""

    fill_id: str
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts_ms: int
    liquidity: str = "taker"
    venue: str = ""

    @property
    def signed_qty(self) -> Decimal:
        """Quantity with the side's sign (> 0 buys)."""
        return self.qty if self.side is Side.BUY else -self.qty


@dataclass(frozen=True)
class MarketInfo:
    """A venue's trading rules for one symbol."""

    symbol: str
    base: str
    quote: str
    lot_size: Decimal = Decimal("0.00000001")
    tick_size: Decimal = Decimal("0.00000001")
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    supports_stops: bool = True


@dataclass(frozen=True)
class Balance:
    """One asset's balance: ``free`` is available, ``total`` includes amounts locked in orders."""

    asset: str
    free: Decimal
    total: Decimal


@dataclass(frozen=True)
class Position:
    """Net base-asset position in one symbol and its average entry price."""

    symbol: str
    qty: Decimal
    avg_price: Decimal = ZERO


@dataclass
class PositionBook:
    """Positions built only from fills: ``qty`` is always the sum of signed fill quantities.

    Also tracks average entry price and realised PnL (quote currency, after fees).
    """

    qty: dict[str, Decimal] = field(default_factory=dict)
    avg_price: dict[str, Decimal] = field(default_factory=dict)
    realized: Decimal = ZERO

    def apply(self, fill: Fill) -> Decimal:
        """Book one fill; return the realised PnL it produced (fees included)."""
        old = self.qty.get(fill.symbol, ZERO)
        delta = fill.signed_qty
        new = old + delta
        avg = self.avg_price.get(fill.symbol, ZERO)
        pnl = -fill.fee
        if old != 0 and (old > 0) != (delta > 0):  # reducing (or flipping)
            closed = min(abs(delta), abs(old))
            pnl += closed * (fill.price - avg) * (1 if old > 0 else -1)
            if new != 0 and (new > 0) != (old > 0):
                avg = fill.price
        elif new != 0:
            avg = (abs(old) * avg + abs(delta) * fill.price) / abs(new)
        self.qty[fill.symbol] = new
        self.avg_price[fill.symbol] = avg if new != 0 else ZERO
        self.realized += pnl
        return pnl

    def positions(self) -> dict[str, Position]:
        """Non-zero positions."""
        return {s: Position(s, q, self.avg_price.get(s, ZERO)) for s, q in self.qty.items() if q != 0}
