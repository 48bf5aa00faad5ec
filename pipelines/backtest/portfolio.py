"""The portfolio: cash, multi-asset fractional positions and round-trip trade records."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPS_QTY = 1e-12


@dataclass
class Trade:
    """One round trip in one symbol: from a flat position back to flat (or to a flip).

    Prices are size-weighted averages of the entry and exit fills; ``pnl`` is net of all fees.
    """

    symbol: str
    direction: int  # +1 long, -1 short
    entry_ts: int
    entry_price: float
    size: float  # largest absolute position held during the trade
    entry_bar: int
    exit_ts: int | None = None
    exit_price: float | None = None
    exit_bar: int | None = None
    fees: float = 0.0
    pnl: float = 0.0
    _entry_qty: float = 0.0
    _entry_value: float = 0.0
    _exit_qty: float = 0.0
    _exit_value: float = 0.0

    @property
    def is_open(self) -> bool:
        """True until the position returns to flat."""
        return self.exit_ts is None

    @property
    def return_pct(self) -> float:
        """Net P&L as a percentage of the entry notional."""
        return 100.0 * self.pnl / self._entry_value if self._entry_value else 0.0

    def as_dict(self) -> dict[str, object]:
        """The public fields (JSON-ready numbers; times as epoch ms)."""
        return {"symbol": self.symbol, "direction": self.direction, "entry_ts": self.entry_ts,
                "exit_ts": self.exit_ts, "entry_price": self.entry_price, "exit_price": self.exit_price,
                "size": self.size, "pnl": self.pnl, "return_pct": self.return_pct, "fees": self.fees,
                "entry_bar": self.entry_bar, "exit_bar": self.exit_bar}


@dataclass
class Portfolio:
    """Cash and positions of several symbols; every fill goes through :meth:`apply_fill`."""

    symbols: tuple[str, ...]
    cash: float
    positions: np.ndarray = field(init=False)
    fees_paid: float = 0.0
    traded_notional: float = 0.0
    closed: list[Trade] = field(default_factory=list)
    open_trades: dict[int, Trade] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.zeros(len(self.symbols))

    def equity(self, prices: np.ndarray) -> float:
        """Cash plus positions marked at ``prices`` (NaN prices count as zero exposure)."""
        return self.cash + float(np.nansum(self.positions * prices))

    def apply_fill(self, k: int, qty: float, price: float, fee_paid: float, *, ts: int, bar: int) -> None:
        """Book a fill of ``qty`` units (signed) of symbol ``k`` at ``price`` with ``fee_paid``."""
        self.cash -= qty * price + fee_paid
        self.fees_paid += fee_paid
        self.traded_notional += abs(qty) * price
        before = float(self.positions[k])
        after = before + qty
        if abs(after) < EPS_QTY * max(1.0, abs(before)):
            after = 0.0
        self.positions[k] = after
        same_side = before == 0 or (qty > 0) == (before > 0)
        closing = 0.0 if same_side else min(abs(qty), abs(before))
        opening = abs(qty) - closing
        if closing:
            flipped_or_flat = after == 0 or (after > 0) != (before > 0)
            self._close_part(k, closing, price, fee_paid * closing / abs(qty), ts=ts, bar=bar, flat=flipped_or_flat)
        if opening > 0 and after != 0:
            self._open_part(k, 1.0 if qty > 0 else -1.0, opening, price, fee_paid * opening / abs(qty), ts=ts,
                            bar=bar, size_now=abs(after))

    def _open_part(self, k: int, direction: float, qty: float, price: float, fee_paid: float, *, ts: int,
                   bar: int, size_now: float) -> None:
        trade = self.open_trades.get(k)
        if trade is None:
            trade = Trade(self.symbols[k], int(direction), ts, price, 0.0, bar)
            self.open_trades[k] = trade
        trade._entry_qty += qty
        trade._entry_value += qty * price
        trade.entry_price = trade._entry_value / trade._entry_qty
        trade.size = max(trade.size, size_now)
        trade.fees += fee_paid
        trade.pnl -= fee_paid

    def _close_part(self, k: int, qty: float, price: float, fee_paid: float, *, ts: int, bar: int,
                    flat: bool) -> None:
        trade = self.open_trades[k]
        trade._exit_qty += qty
        trade._exit_value += qty * price
        trade.fees += fee_paid
        trade.pnl += trade.direction * qty * (price - trade.entry_price) - fee_paid
        if flat:
            trade.exit_ts, trade.exit_bar = ts, bar
            trade.exit_price = trade._exit_value / trade._exit_qty
            self.closed.append(self.open_trades.pop(k))
