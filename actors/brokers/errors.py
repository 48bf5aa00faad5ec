"""Typed errors of order execution, grouped by what the caller should do about them."""

from __future__ import annotations

from decimal import Decimal

from cluster.errors import CoinrayError, ConfigError, TransientError


class BrokerError(CoinrayError):
    """A venue call failed in a way that is not retryable as is."""


class OrderRejected(BrokerError):
    """The venue refused the order. Do not retry the same order.

    Parameters
    ----------
    reason:
        The venue's reason (code and message).
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), {"reason": self.reason}))


class DuplicateOrder(OrderRejected):
    """The venue already has an order with this client order id: look it up, never resend."""


class OrderNotFound(BrokerError):
    """The venue knows no order with that id."""


class BrokerTimeout(TransientError):
    """A venue call timed out or the connection dropped: the outcome is unknown.

    For a submission the order may or may not exist; the OMS looks it up by client id before
    sending again.
    """


class InvalidTransition(CoinrayError):
    """An order state change the state machine forbids (a bug or a venue inconsistency)."""

    def __init__(self, message: str, *, client_order_id: str, from_status: str, to_status: str) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id
        self.from_status = from_status
        self.to_status = to_status

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), {"client_order_id": self.client_order_id,
                                                   "from_status": self.from_status, "to_status": self.to_status}))


class RiskRejected(CoinrayError):
    """The risk guard refused an order before it left.

    Parameters
    ----------
    rule:
        The rule that broke (``max_position``, ``price_band`` ...).
    numbers:
        The values involved (limit, projected value, price ...), for logs and reports.
    """

    def __init__(self, rule: str, numbers: dict[str, Decimal | int | str]) -> None:
        detail = ", ".join(f"{k}={v}" for k, v in numbers.items())
        super().__init__(f"risk rule {rule} rejected the order ({detail})")
        self.rule = rule
        self.numbers = numbers

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.rule, self.numbers))


class LiveTradingRefused(ConfigError):
    """Live trading was asked for without everything it needs (``missing`` lists what)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("live trading refused; missing: " + "; ".join(missing))
        self.missing = missing

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.missing,))


def _rebuild(cls: type[Exception], message: str, fields: dict[str, object]) -> Exception:
    """Unpickle an error whose constructor takes keyword fields (errors cross Ray process boundaries)."""
    return cls(message, **fields)
