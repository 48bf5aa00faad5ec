"""The replay data feed: candles to an aligned multi-symbol panel, range checks, multi-timeframe joins.

A bar's values (and the features computed from them) are visible only once the bar has closed:
the engine decides at bar ``t``'s close and fills no earlier than bar ``t + 1``'s open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa

from cluster.errors import DataError
from cluster.schemas import TIMEFRAME_MS, require_columns

FEED_COLUMNS = ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")


def iso_utc(ts_ms: int) -> str:
    """ISO 8601 UTC text of an epoch-ms time.

    >>> iso_utc(1_704_067_200_000)
    '2024-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_frame(candles: pa.Table | pl.DataFrame) -> pl.DataFrame:
    """Candles (``CANDLES`` schema or any frame with :data:`FEED_COLUMNS`) as a sorted Polars frame.

    Extra columns are kept; rows are sorted by symbol, timeframe, ts and duplicates dropped.
    """
    frame = pl.from_arrow(candles) if isinstance(candles, pa.Table) else candles
    if not isinstance(frame, pl.DataFrame):
        raise DataError("candles must be a table, not a single column")
    require_columns(frame.columns, FEED_COLUMNS, what="candles")
    return frame.unique(["symbol", "timeframe", "ts"], keep="last").sort("symbol", "timeframe", "ts")


def select_range(frame: pl.DataFrame, *, start_ms: int | None, end_ms: int | None) -> pl.DataFrame:
    """Rows with ``start_ms <= ts < end_ms``.

    Raises
    ------
    DataError
        When the requested range lies outside the data (or selects nothing); the message names
        the available range, e.g. ``available 2024-01-01T00:00:00Z .. 2024-09-06T03:00:00Z``.
    """
    if frame.height == 0:
        raise DataError("no candles to backtest (the source is empty)")
    lo, hi = int(frame.get_column("ts").min()), int(frame.get_column("ts").max())  # type: ignore[arg-type]
    available = f"available {iso_utc(lo)} .. {iso_utc(hi)}"
    if (start_ms is not None and start_ms > hi) or (end_ms is not None and end_ms <= lo):
        raise DataError(f"requested range is outside the stored data; {available}")
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise DataError(f"start must be before end; {available}")
    out = frame
    if start_ms is not None:
        out = out.filter(pl.col("ts") >= start_ms)
    if end_ms is not None:
        out = out.filter(pl.col("ts") < end_ms)
    if out.height == 0:
        raise DataError(f"requested range selects no candles; {available}")
    return out


@dataclass(frozen=True)
class Panel:
    """Aligned prices of several symbols on one bar clock (NaN where a symbol has no bar).

    Attributes
    ----------
    ts:
        Bar open times, UTC epoch ms, strictly increasing, shape ``(n,)``.
    symbols:
        Column order of the price matrices.
    open, high, low, close, volume:
        Float matrices of shape ``(n, len(symbols))``.
    timeframe:
        The bar length (``1h``...).
    """

    ts: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    timeframe: str

    @property
    def n_bars(self) -> int:
        """Number of bars on the clock."""
        return int(self.ts.shape[0])

    def slice(self, start: int, stop: int) -> Panel:
        """Bars ``start`` (inclusive) to ``stop`` (exclusive)."""
        return Panel(self.ts[start:stop], self.symbols, self.open[start:stop], self.high[start:stop],
                     self.low[start:stop], self.close[start:stop], self.volume[start:stop], self.timeframe)


def build_panel(frame: pl.DataFrame, *, timeframe: str) -> Panel:
    """Pivot one timeframe of ``frame`` into a :class:`Panel` on the union of bar times.

    Raises
    ------
    DataError
        When ``frame`` has no bars of ``timeframe``.
    """
    one = frame.filter(pl.col("timeframe") == timeframe)
    if one.height == 0:
        have = sorted(set(frame.get_column("timeframe").to_list()))
        raise DataError(f"no {timeframe} candles; the data has {', '.join(have) or 'none'}")
    symbols = tuple(sorted(set(one.get_column("symbol").to_list())))
    clock = one.select("ts").unique().sort("ts")
    mats: dict[str, np.ndarray] = {}
    for col in ("open", "high", "low", "close", "volume"):
        wide = clock.join(one.pivot(on="symbol", index="ts", values=col), on="ts", how="left")
        mats[col] = np.column_stack([
            wide.get_column(s).cast(pl.Float64).fill_null(np.nan).to_numpy() if s in wide.columns
            else np.full(clock.height, np.nan) for s in symbols
        ])
    return Panel(clock.get_column("ts").to_numpy().astype(np.int64), symbols, mats["open"], mats["high"],
                 mats["low"], mats["close"], mats["volume"], timeframe)


def align_timeframe(base: pl.DataFrame, higher: pl.DataFrame, *, base_timeframe: str,
                    higher_timeframe: str, columns: list[str], prefix: str) -> pl.DataFrame:
    """Attach ``columns`` of a higher timeframe to base bars, as of the last *closed* higher bar.

    A higher bar opening at ``h`` closes at ``h + tf_high``; it becomes visible at the base bar
    whose close is at or after that time, so no base bar sees a higher bar that is still open.
    Requires ``symbol`` and ``ts`` in both frames. Adds ``{prefix}{column}`` for each column.
    """
    require_columns(base.columns, {"symbol", "ts"})
    require_columns(higher.columns, {"symbol", "ts", *columns})
    visible_after = TIMEFRAME_MS[higher_timeframe] - TIMEFRAME_MS[base_timeframe]
    right = higher.select(
        "symbol", (pl.col("ts") + visible_after).alias("_visible_ts"),
        *(pl.col(c).alias(f"{prefix}{c}") for c in columns),
    ).sort("symbol", "_visible_ts")
    left = base.with_row_index("_row").sort("symbol", "ts")
    joined = left.join_asof(right, left_on="ts", right_on="_visible_ts", by="symbol", strategy="backward",
                            check_sortedness=False)  # both sides sorted by (symbol, time) above
    return joined.sort("_row").drop("_row", "_visible_ts")
