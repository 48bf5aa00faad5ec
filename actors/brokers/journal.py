"""Where the OMS writes orders, fills, positions and execution metrics: in memory or in the store."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any, Protocol

import pyarrow as pa

from actors.brokers.models import Fill, Order, OrderRequest, OrderStatus, OrderType, Position, Side, TimeInForce

_Q = Decimal("0.000000000000000001")


class Journal(Protocol):
    """Durable record of the OMS (write-ahead: an order is saved before it is sent)."""

    def save_order(self, order: Order) -> None:
        """Record the latest state of an order."""
        ...

    def save_fill(self, fill: Fill) -> None:
        """Record a fill (idempotent per fill id)."""
        ...

    def save_positions(self, positions: list[Position], ts_ms: int) -> None:
        """Record a positions snapshot."""
        ...

    def save_metrics(self, row: dict[str, Any]) -> None:
        """Record one order's execution metrics."""
        ...

    def load_orders(self) -> list[Order]:
        """Every order's latest state."""
        ...

    def load_fills(self) -> list[Fill]:
        """Every fill, oldest first."""
        ...


class MemoryJournal:
    """A journal in memory (tests, benchmarks, and a simulated crash: build a new OMS on the same journal)."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, Fill] = {}
        self.positions: dict[str, Position] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self.order_writes = 0

    def save_order(self, order: Order) -> None:
        """Replace the order's state."""
        self.orders[order.client_order_id] = order
        self.order_writes += 1

    def save_fill(self, fill: Fill) -> None:
        """Keep the fill once."""
        self.fills.setdefault(fill.fill_id, fill)

    def save_positions(self, positions: list[Position], ts_ms: int) -> None:
        """Replace the snapshot of each symbol given."""
        for p in positions:
            self.positions[p.symbol] = p

    def save_metrics(self, row: dict[str, Any]) -> None:
        """Replace one order's metrics."""
        self.metrics[row["client_order_id"]] = row

    def load_orders(self) -> list[Order]:
        """All orders."""
        return list(self.orders.values())

    def load_fills(self) -> list[Fill]:
        """All fills by time."""
        return sorted(self.fills.values(), key=lambda f: (f.ts_ms, f.fill_id))


def _dec(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_Q)


class StoreJournal:
    """A journal in the ``orders``/``fills``/``positions``/``execution_metrics`` tables.

    Parameters
    ----------
    store:
        Anything with ``database``, ``insert_arrow`` and ``query_arrow`` (a ``Store`` or a store actor proxy).
    account:
        Account name: one venue account's rows never mix with another's.
    """

    def __init__(self, store: Any, *, account: str) -> None:
        from cluster.store.schema_execution import EXECUTION_METRICS, FILLS, ORDERS, POSITIONS

        self._store = store
        self._db = store.database
        self.account = account
        self._schemas = {"orders": ORDERS, "fills": FILLS, "positions": POSITIONS, "metrics": EXECUTION_METRICS}
        from cluster.store.base import quote

        self._acct = quote(account)
        rows = store.query_arrow(f"SELECT max(seq) AS s, count() AS n FROM {self._db}.orders "
                                 f"WHERE account = {self._acct}")
        start = int(rows.column("s")[0].as_py() or 0) if rows.column("n")[0].as_py() else 0
        self._seq = itertools.count(start + 1)

    def save_order(self, order: Order) -> None:
        """Insert the order's latest state (the highest ``seq`` wins on read)."""
        r = order.request
        row = {"account": self.account, "venue": order.venue, "client_order_id": r.client_order_id,
               "venue_order_id": order.venue_order_id, "symbol": r.symbol, "side": str(r.side), "type": str(r.type),
               "time_in_force": str(r.time_in_force), "reduce_only": r.reduce_only, "qty": _dec(r.qty),
               "limit_price": _dec(r.limit_price), "stop_price": _dec(r.stop_price), "status": str(order.status),
               "filled_qty": _dec(order.filled_qty), "avg_price": _dec(order.avg_price), "fee": _dec(order.fee),
               "reason": order.reason, "created_ms": order.created_ms, "updated_ms": order.updated_ms,
               "seq": next(self._seq)}
        self._store.insert_arrow("orders", pa.Table.from_pylist([row], schema=self._schemas["orders"]))

    def save_fill(self, fill: Fill) -> None:
        """Insert the fill (re-inserting the same fill id is de-duplicated on read)."""
        row = {"account": self.account, "venue": fill.venue, "fill_id": fill.fill_id,
               "client_order_id": fill.client_order_id, "venue_order_id": fill.venue_order_id, "symbol": fill.symbol,
               "side": str(fill.side), "qty": _dec(fill.qty), "price": _dec(fill.price), "fee": _dec(fill.fee),
               "fee_currency": fill.fee_currency, "liquidity": fill.liquidity, "ts": fill.ts_ms}
        self._store.insert_arrow("fills", pa.Table.from_pylist([row], schema=self._schemas["fills"]))

    def save_positions(self, positions: list[Position], ts_ms: int) -> None:
        """Insert a snapshot row per symbol."""
        if not positions:
            return
        rows = [{"account": self.account, "venue": "", "symbol": p.symbol, "qty": _dec(p.qty),
                 "avg_price": _dec(p.avg_price), "ts": ts_ms} for p in positions]
        self._store.insert_arrow("positions", pa.Table.from_pylist(rows, schema=self._schemas["positions"]))

    def save_metrics(self, row: dict[str, Any]) -> None:
        """Insert one order's metrics."""
        full = {"account": self.account, **row}
        self._store.insert_arrow("execution_metrics",
                                 pa.Table.from_pylist([full], schema=self._schemas["metrics"]))

    def load_orders(self) -> list[Order]:
        """Latest state of every order of the account."""
        rows = self._store.query_arrow(
            f"SELECT * FROM {self._db}.orders FINAL WHERE account = {self._acct} ORDER BY created_ms").to_pylist()
        out = []
        for r in rows:
            req = OrderRequest(r["client_order_id"], r["symbol"], Side(r["side"]), OrderType(r["type"]),
                               _norm(r["qty"]), _norm(r["limit_price"]), _norm(r["stop_price"]),
                               TimeInForce(r["time_in_force"]), bool(r["reduce_only"]))
            out.append(Order(req, OrderStatus(r["status"]), r["venue_order_id"], _norm(r["filled_qty"]),
                             _norm(r["avg_price"]), _norm(r["fee"]), r["created_ms"], r["updated_ms"], r["reason"],
                             r["venue"]))
        return out

    def load_fills(self) -> list[Fill]:
        """Every fill of the account, oldest first."""
        rows = self._store.query_arrow(
            f"SELECT * FROM {self._db}.fills FINAL WHERE account = {self._acct} ORDER BY ts, fill_id").to_pylist()
        return [Fill(r["fill_id"], r["client_order_id"], r["venue_order_id"], r["symbol"], Side(r["side"]),
                     _norm(r["qty"]), _norm(r["price"]), _norm(r["fee"]), r["fee_currency"], r["ts"],
                     r["liquidity"], r["venue"]) for r in rows]

    def load_positions(self) -> dict[str, Decimal]:
        """The latest positions snapshot per symbol."""
        rows = self._store.query_arrow(
            f"SELECT symbol, qty FROM {self._db}.positions FINAL WHERE account = {self._acct}").to_pylist()
        return {r["symbol"]: _norm(r["qty"]) for r in rows}


def _norm(value: Any) -> Any:
    """Strip the store's trailing zeros (``1.500000000000000000`` -> ``1.5``); None passes through."""
    if value is None:
        return None
    d = Decimal(value)
    return d.normalize() if d != d.to_integral_value() else d.quantize(Decimal(1))
