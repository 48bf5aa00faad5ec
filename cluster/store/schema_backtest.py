"""The ``backtests`` table: one row per backtest run, its status, metrics and full JSON result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from cluster.store.migrations import Migration

if TYPE_CHECKING:  # base imports migrations, which imports this module
    from cluster.store.base import Store

_BACKTESTS = """
CREATE TABLE IF NOT EXISTS {db}.backtests (
    run_id String,
    status LowCardinality(String) COMMENT 'running|complete|failed',
    strategy LowCardinality(String),
    params String COMMENT 'JSON object',
    config String COMMENT 'JSON BacktestConfig',
    timeframe LowCardinality(String),
    symbols Array(String),
    start_ts Nullable(Int64),
    end_ts Nullable(Int64),
    metrics Map(String, Float64),
    result String COMMENT 'JSON: summary, trades and equity curve; empty unless complete',
    error String COMMENT 'traceback of a failed run',
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY run_id
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(300, "backtests", (_BACKTESTS,)),
)

BACKTESTS = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("strategy", pa.string(), nullable=False),
    pa.field("params", pa.string(), nullable=False),
    pa.field("config", pa.string(), nullable=False),
    pa.field("timeframe", pa.string(), nullable=False),
    pa.field("symbols", pa.list_(pa.string()), nullable=False),
    pa.field("start_ts", pa.int64(), nullable=True),
    pa.field("end_ts", pa.int64(), nullable=True),
    pa.field("metrics", pa.map_(pa.string(), pa.float64()), nullable=False),
    pa.field("result", pa.string(), nullable=False),
    pa.field("error", pa.string(), nullable=False),
    pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    pa.field("updated_at", pa.timestamp("ms", tz="UTC"), nullable=False),
])


@dataclass(frozen=True)
class BacktestRecord:
    """One state of a run in the ``backtests`` table (a later state replaces an earlier one)."""

    run_id: str
    status: str
    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    timeframe: str
    symbols: tuple[str, ...]
    created_ms: int
    updated_ms: int
    start_ts: int | None = None
    end_ts: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    result: str = ""
    error: str = ""

    def to_arrow(self) -> pa.Table:
        """The record as a one-row table in the ``BACKTESTS`` schema."""
        row = {
            "run_id": self.run_id, "status": self.status, "strategy": self.strategy,
            "params": json.dumps(self.params, sort_keys=True), "config": json.dumps(self.config, sort_keys=True),
            "timeframe": self.timeframe, "symbols": list(self.symbols), "start_ts": self.start_ts,
            "end_ts": self.end_ts, "metrics": list(self.metrics.items()), "result": self.result,
            "error": self.error, "created_at": self.created_ms, "updated_at": self.updated_ms,
        }
        return pa.Table.from_pylist([row], schema=BACKTESTS)


def write_backtest(store: Store, record: BacktestRecord) -> None:
    """Insert one state of a run (``running`` first, then ``complete`` or ``failed``)."""
    store.insert_arrow("backtests", record.to_arrow())


def read_backtest(store: Store, run_id: str) -> dict[str, Any] | None:
    """The latest state of ``run_id`` as a dict, or None when unknown."""
    from cluster.store.base import quote

    rows = store.query_arrow(
        f"SELECT * FROM {store.database}.backtests FINAL WHERE run_id = {quote(run_id)}"
    ).to_pylist()
    if not rows:
        return None
    row: dict[str, Any] = rows[0]
    row["metrics"] = dict(row["metrics"])  # Arrow maps arrive as (key, value) pairs
    return row
