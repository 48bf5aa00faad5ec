"""Test helpers: the order simulator served from a thread, with trade injection on the server's loop."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from cluster.sim.dataset import SimDataset
from cluster.sim.orders import SimOrderBook, ThreadedServer, build_order_sim_app

AppServer = ThreadedServer


def last_kline_close(dataset: SimDataset) -> Any:
    """Last price of a symbol: its newest recorded 1h (else 1d) close."""
    def price(symbol: str) -> float | None:
        rows = dataset.klines.get((symbol, "1h")) or dataset.klines.get((symbol, "1d"))
        return rows[-1][4] if rows else None
    return price


class SimServer(ThreadedServer):
    """One venue's public routes plus the order routes."""

    def __init__(self, exchange: str, dataset: SimDataset, book: SimOrderBook) -> None:
        self.exchange = exchange
        self.book = book
        super().__init__(build_order_sim_app(exchange, dataset, book))

    def __enter__(self) -> SimServer:
        super().__enter__()
        return self

    def trade(self, symbol: str, price: str, qty: str) -> None:
        """Inject a market trade (runs on the server's loop)."""
        done = threading.Event()

        def apply() -> None:
            self.book.on_trade(symbol, Decimal(price), Decimal(qty))
            done.set()
        self.loop.call_soon_threadsafe(apply)
        done.wait(5)
