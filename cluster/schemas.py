"""Data contracts: Arrow schemas of coinray's tables, timeframes and small schema helpers."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import pyarrow as pa

from cluster.errors import SchemaError


class Timeframe(StrEnum):
    """Candle timeframes coinray stores (ccxt spelling)."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        """The bar length in milliseconds."""
        return TIMEFRAME_MS[self.value]


TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
ROLLUP_TIMEFRAMES: tuple[str, ...] = ("5m", "15m", "1h", "4h", "1d")
BARS_PER_YEAR: dict[str, float] = {tf: 365.0 * 86_400_000 / ms for tf, ms in TIMEFRAME_MS.items()}


class CandleSource(StrEnum):
    """Where a candle came from."""

    REST = "rest"
    WS = "ws"
    TRADES = "trades"
    FILE = "file"
    ROLLUP = "rollup"


def parse_timeframe(value: str) -> Timeframe:
    """Return the :class:`Timeframe` for ``value`` or raise ``ValueError`` naming the allowed values."""
    try:
        return Timeframe(value)
    except ValueError:
        allowed = ", ".join(t.value for t in Timeframe)
        raise ValueError(f"unknown timeframe {value!r}; use one of {allowed}") from None


CANDLES = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),  # open time, UTC epoch ms
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("trades", pa.uint64(), nullable=True),
        pa.field("source", pa.string(), nullable=False),
        pa.field("ingested_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)

DATA_QUALITY = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),  # 1-based data row in the file; 0 = whole file
        pa.field("rule", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=True),
        pa.field("ts", pa.int64(), nullable=True),
        pa.field("checked_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)

DATA_GAPS = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("from_ts", pa.int64(), nullable=False),
        pa.field("to_ts", pa.int64(), nullable=False),
        pa.field("detected_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("repaired_at", pa.timestamp("ms", tz="UTC"), nullable=True),
        pa.field("method", pa.string(), nullable=False),
    ]
)

RANKINGS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("exchange", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("factors", pa.map_(pa.string(), pa.float64()), nullable=False),
        pa.field("contributions", pa.map_(pa.string(), pa.float64()), nullable=False),
        pa.field("rationale", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)


def require_columns(columns: Iterable[str], required: Iterable[str], *, what: str = "frame") -> None:
    """Raise :class:`SchemaError` when any of ``required`` is missing from ``columns``.

    >>> require_columns(["a", "b"], {"a"})
    >>> require_columns(["a"], {"a", "b"})
    Traceback (most recent call last):
    ...
    cluster.errors.SchemaError: frame lacks required column(s): b
    """
    missing = frozenset(required) - set(columns)
    if missing:
        raise SchemaError(
            f"{what} lacks required column(s): {', '.join(sorted(missing))}", missing_columns=missing
        )


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast ``table``'s columns to ``schema`` (order and types), raising on missing ones."""
    require_columns(table.column_names, schema.names, what="table")
    return pa.Table.from_arrays(
        [table.column(f.name).cast(f.type) for f in schema], schema=schema
    )
