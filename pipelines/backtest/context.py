"""What an event-driven strategy sees on each bar: closed-bar features, the account, and order entry."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pipelines.backtest.broker import Broker, Order, OrderType
from pipelines.backtest.feed import Panel

NON_FEATURES = ("symbol", "timeframe", "exchange", "source", "ingested_at", "ts")


def feature_arrays(features: pl.DataFrame, clock: np.ndarray, symbols: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Numeric feature columns as ``(len(clock), len(symbols))`` matrices on the bar clock (NaN = none)."""
    numeric = [c for c, t in features.schema.items() if c not in NON_FEATURES and t.is_numeric()]
    base = pl.DataFrame({"ts": clock})
    out: dict[str, np.ndarray] = {}
    per_symbol = {s: base.join(g, on="ts", how="left") for (s,), g in
                  features.select("symbol", "ts", *numeric).partition_by("symbol", as_dict=True).items()}
    for col in numeric:
        out[col] = np.column_stack([
            per_symbol[s].get_column(col).cast(pl.Float64).fill_null(np.nan).to_numpy() if s in per_symbol
            else np.full(clock.shape[0], np.nan) for s in symbols
        ]) if symbols else np.empty((clock.shape[0], 0))
    return out


class Context:
    """The strategy's view of the replay at the close of bar :attr:`i`.

    Values are read only up to the current bar, so a strategy cannot see the future. Orders
    placed now become active on the next bar (plus the configured latency).
    """

    def __init__(self, panel: Panel, features: dict[str, np.ndarray], broker: Broker, latency_bars: int) -> None:
        self.panel = panel
        self.features = features
        self.broker = broker
        self.latency_bars = latency_bars
        self.index = {s: k for k, s in enumerate(panel.symbols)}
        self.i = 0
        self.state: dict[str, Any] = {}

    # -- time and data ------------------------------------------------------------------------
    @property
    def ts(self) -> int:
        """Open time (epoch ms) of the bar that just closed."""
        return int(self.panel.ts[self.i])

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols in the replay."""
        return self.panel.symbols

    def value(self, symbol: str, column: str) -> float:
        """``column`` of ``symbol`` at the bar that just closed (NaN before it is defined)."""
        return float(self.features[column][self.i, self.index[symbol]])

    def history(self, symbol: str, column: str, n: int) -> np.ndarray:
        """The last ``n`` values of ``column`` up to and including the current bar."""
        k = self.index[symbol]
        return self.features[column][max(0, self.i - n + 1): self.i + 1, k]

    # -- account ------------------------------------------------------------------------------
    @property
    def cash(self) -> float:
        """Cash in quote currency."""
        return self.broker.portfolio.cash

    def position(self, symbol: str) -> float:
        """Units held (negative when short)."""
        return float(self.broker.portfolio.positions[self.index[symbol]])

    @property
    def equity(self) -> float:
        """Cash plus positions at the current closes."""
        close = np.nan_to_num(self.features["close"][self.i]) if "close" in self.features else \
            np.nan_to_num(self.panel.close[self.i])
        return self.broker.portfolio.equity(close)

    # -- orders -------------------------------------------------------------------------------
    def _order(self, symbol: str, *, qty: float | None = None, weight: float | None = None,
               limit: float | None = None, stop: float | None = None, tag: str = "") -> Order:
        kind = OrderType.LIMIT if limit is not None else OrderType.STOP if stop is not None else OrderType.MARKET
        order = Order(self.index[symbol], kind, self.i + 1 + self.latency_bars, qty=qty, target_weight=weight,
                      limit=limit, stop=stop, tag=tag)
        self.broker.submit(order)
        return order

    def buy(self, symbol: str, qty: float, *, limit: float | None = None, stop: float | None = None,
            tag: str = "") -> Order:
        """Buy ``qty`` units: market, or limit/stop when a price is given."""
        return self._order(symbol, qty=abs(qty), limit=limit, stop=stop, tag=tag)

    def sell(self, symbol: str, qty: float, *, limit: float | None = None, stop: float | None = None,
             tag: str = "") -> Order:
        """Sell ``qty`` units (beyond the holding only when shorting is allowed)."""
        return self._order(symbol, qty=-abs(qty), limit=limit, stop=stop, tag=tag)

    def order_target_weight(self, symbol: str, weight: float) -> Order:
        """Trade ``symbol`` to ``weight`` x equity at the next fill (0 closes).

        Replaces the symbol's working orders; orders still in flight (latency) arrive first.
        """
        k = self.index[symbol]
        self.broker.orders = [o for o in self.broker.orders if o.symbol != k or o.active_from > self.i]
        return self._order(symbol, weight=weight)

    def cancel(self, symbol: str | None = None) -> None:
        """Cancel open orders of ``symbol`` (or all)."""
        self.broker.cancel_all(None if symbol is None else self.index[symbol])
