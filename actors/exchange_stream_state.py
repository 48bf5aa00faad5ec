"""Plain data of the stream core: open candles, per-symbol state, checkpoints, gap records and ingest results.

Pure (no Ray, no I/O), plus the Arrow conversions of closed candles and gap rows for the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from actors.exchanges._types import Kline
from cluster.schemas import CANDLES, DATA_GAPS, conform

MINUTE_MS = 60_000
#: Closed candles remembered per symbol for the exchange-kline cross-check (a kline may arrive after its candle).
RECENT_CLOSED = 16


@dataclass
class OpenCandle:
    """A 1m candle being built from trades.

    ``first_id``/``last_id`` order the open and close trade: trade ids for venues with sequential ids;
    trade times (ms) for venues with opaque ids, where trades of one millisecond keep arrival order.
    """

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int
    first_id: int
    last_id: int

    def row(self, exchange: str, symbol: str) -> dict[str, Any]:
        """The candle as a ``CANDLES`` row (source ``trades``)."""
        return {"exchange": exchange, "symbol": symbol, "timeframe": "1m", "ts": self.ts, "open": self.open,
                "high": self.high, "low": self.low, "close": self.close, "volume": self.volume,
                "trades": self.trades, "source": "trades"}


@dataclass(frozen=True)
class Checkpoint:
    """What survives an actor restart: the newest trade id inside a closed candle and the close horizon.

    ``last_id`` is None for venues with opaque trade ids (the generic venue), which resume by time
    from ``closed_until``.
    """

    last_id: int | None
    closed_until: int


@dataclass(frozen=True)
class GapRecord:
    """One ``data_gaps`` row."""

    exchange: str
    symbol: str
    from_ts: int
    to_ts: int
    detected_at_ms: int
    repaired_at_ms: int | None
    method: str
    timeframe: str = "1m"


@dataclass
class SymbolState:
    """Stream state of one symbol."""

    last_id: int | None = None
    last_ts: int | None = None
    watermark: int = 0
    missing: set[int] = field(default_factory=set)
    floor_id: int | None = None
    below_floor: set[int] = field(default_factory=set)
    missing_since_msg: int = 0
    gap_from_ts: int | None = None
    gap_detected_ms: int = 0
    candles: dict[int, OpenCandle] = field(default_factory=dict)
    closed_until: int = 0
    checkpoint_id: int | None = None
    connected: bool = False
    needs_repair: bool = False
    last_recv_ms: int = 0
    msgs: int = 0
    accepted: int = 0
    duplicates: int = 0
    reordered: int = 0
    late: int = 0
    check_from: int = 0
    recent_closed: dict[int, tuple[float, float, float, float, float]] = field(default_factory=dict)
    pending_klines: dict[int, Kline] = field(default_factory=dict)


@dataclass
class IngestResult:
    """What one batch of trades produced."""

    closed: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: list[GapRecord] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    max_trade_ts: int = 0
    trade_ts: list[int] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def merge(self, other: IngestResult) -> None:
        """Add ``other`` (a later result) to this one."""
        self.closed.extend(other.closed)
        self.live.update(other.live)
        self.gaps.extend(other.gaps)
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.max_trade_ts = max(self.max_trade_ts, other.max_trade_ts)
        self.trade_ts.extend(other.trade_ts)
        self.touched |= other.touched


GAPS_SCHEMA = DATA_GAPS  # the ``data_gaps`` contract (cluster.schemas)


def gaps_table(records: Sequence[GapRecord]) -> pa.Table:
    """``data_gaps`` rows as an Arrow table (:data:`GAPS_SCHEMA`)."""
    return pa.Table.from_pylist([
        {"exchange": r.exchange, "symbol": r.symbol, "timeframe": r.timeframe, "from_ts": r.from_ts,
         "to_ts": r.to_ts, "detected_at": r.detected_at_ms, "repaired_at": r.repaired_at_ms, "method": r.method}
        for r in records], schema=GAPS_SCHEMA)


def candles_table(rows: Sequence[Mapping[str, Any]], ingested_at_ms: int) -> pa.Table:
    """Closed-candle rows as a ``CANDLES`` table stamped with ``ingested_at_ms``."""
    return conform(pa.Table.from_pylist([{**r, "ingested_at": ingested_at_ms} for r in rows]), CANDLES)
