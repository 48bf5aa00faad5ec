"""The ``Broker`` protocol: the one interface every venue adapter (paper, ccxt, Robinhood) implements."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

from actors.brokers.models import Balance, Fill, MarketInfo, Order, OrderRequest, Position


@runtime_checkable
class Broker(Protocol):
    """A venue account. Calls are synchronous; errors come from :mod:`actors.brokers.errors`."""

    name: str

    def market(self, symbol: str) -> MarketInfo:
        """Lot size, tick size, min quantity and min notional of ``symbol``."""
        ...

    def submit(self, request: OrderRequest) -> Order:
        """Send an order. Raises ``OrderRejected``, ``DuplicateOrder`` or ``BrokerTimeout`` (outcome unknown)."""
        ...

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        """Cancel an open order; returns its final state. Raises ``OrderNotFound``."""
        ...

    def amend(self, symbol: str, client_order_id: str, new_client_order_id: str, *, qty: Decimal | None = None,
              limit_price: Decimal | None = None) -> Order:
        """Cancel/replace: cancel ``client_order_id`` and send a copy with the changes under the new id."""
        ...

    def fetch_order(self, symbol: str, *, client_order_id: str | None = None,
                    venue_order_id: str | None = None) -> Order | None:
        """The order by client or venue id; ``None`` when the venue never saw it."""
        ...

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders not yet terminal."""
        ...

    def balances(self) -> dict[str, Balance]:
        """Free and total balance per asset."""
        ...

    def positions(self) -> dict[str, Position]:
        """Net position per symbol (spot venues: non-quote balances)."""
        ...

    def fills(self, since_ms: int | None = None) -> list[Fill]:
        """Fills at or after ``since_ms`` (all when None), oldest first: the polled fills stream."""
        ...


def last_price_cross(side_is_buy: bool, price: Decimal, trigger: Decimal, *, stop: bool) -> bool:
    """Whether a trade at ``price`` triggers a stop (``stop=True``) or take-profit order.

    A buy stop triggers at or above its price, a sell stop at or below; take-profit is the reverse.

    >>> last_price_cross(False, Decimal(95), Decimal(96), stop=True)
    True
    >>> last_price_cross(False, Decimal(95), Decimal(96), stop=False)
    False
    """
    above = price >= trigger
    below = price <= trigger
    if stop:
        return above if side_is_buy else below
    return below if side_is_buy else above
