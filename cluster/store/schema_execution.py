"""Execution tables: ``orders``, ``fills``, ``positions`` and ``execution_metrics`` (versions 500-599).

Prices and quantities are exact ``Decimal(38, 18)``; times are UTC epoch ms. ``orders`` keeps the
latest state of each order (ReplacingMergeTree on ``updated_ms``), ``fills`` is idempotent per
venue fill id, and ``positions`` keeps the latest snapshot per account and symbol.
"""

from __future__ import annotations

import pyarrow as pa

from cluster.store.migrations import Migration

_ORDERS = """
CREATE TABLE IF NOT EXISTS {db}.orders (
    account LowCardinality(String),
    venue LowCardinality(String),
    client_order_id String,
    venue_order_id String,
    symbol LowCardinality(String),
    side LowCardinality(String),
    type LowCardinality(String),
    time_in_force LowCardinality(String),
    reduce_only Bool,
    qty Decimal(38, 18),
    limit_price Nullable(Decimal(38, 18)),
    stop_price Nullable(Decimal(38, 18)),
    status LowCardinality(String) COMMENT 'new|accepted|partially_filled|filled|cancelled|rejected|expired',
    filled_qty Decimal(38, 18),
    avg_price Nullable(Decimal(38, 18)),
    fee Decimal(38, 18),
    reason String,
    created_ms Int64,
    updated_ms Int64,
    seq UInt64 COMMENT 'journal write sequence: the latest write wins'
) ENGINE = ReplacingMergeTree(seq)
ORDER BY (account, client_order_id)
"""

_FILLS = """
CREATE TABLE IF NOT EXISTS {db}.fills (
    account LowCardinality(String),
    venue LowCardinality(String),
    fill_id String,
    client_order_id String,
    venue_order_id String,
    symbol LowCardinality(String),
    side LowCardinality(String),
    qty Decimal(38, 18),
    price Decimal(38, 18),
    fee Decimal(38, 18),
    fee_currency LowCardinality(String),
    liquidity LowCardinality(String),
    ts Int64
) ENGINE = ReplacingMergeTree
ORDER BY (account, venue, fill_id)
"""

_POSITIONS = """
CREATE TABLE IF NOT EXISTS {db}.positions (
    account LowCardinality(String),
    venue LowCardinality(String),
    symbol LowCardinality(String),
    qty Decimal(38, 18),
    avg_price Decimal(38, 18),
    ts Int64
) ENGINE = ReplacingMergeTree(ts)
ORDER BY (account, venue, symbol)
"""

_METRICS = """
CREATE TABLE IF NOT EXISTS {db}.execution_metrics (
    account LowCardinality(String),
    venue LowCardinality(String),
    client_order_id String,
    symbol LowCardinality(String),
    side LowCardinality(String),
    status LowCardinality(String),
    reject_rule LowCardinality(String),
    decision_ms Int64,
    arrival_price Nullable(Float64),
    avg_fill_price Nullable(Float64),
    slippage_bps Nullable(Float64),
    submit_ack_ms Nullable(Float64),
    ack_fill_ms Nullable(Float64),
    fill_ratio Float64
) ENGINE = ReplacingMergeTree
ORDER BY (account, client_order_id)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(500, "execution: orders, fills, positions, execution_metrics", (_ORDERS, _FILLS, _POSITIONS, _METRICS)),
)

DEC = pa.decimal128(38, 18)

ORDERS = pa.schema([
    ("account", pa.string()), ("venue", pa.string()), ("client_order_id", pa.string()),
    ("venue_order_id", pa.string()), ("symbol", pa.string()), ("side", pa.string()), ("type", pa.string()),
    ("time_in_force", pa.string()), ("reduce_only", pa.bool_()), ("qty", DEC), ("limit_price", DEC),
    ("stop_price", DEC), ("status", pa.string()), ("filled_qty", DEC), ("avg_price", DEC), ("fee", DEC),
    ("reason", pa.string()), ("created_ms", pa.int64()), ("updated_ms", pa.int64()), ("seq", pa.uint64()),
])

FILLS = pa.schema([
    ("account", pa.string()), ("venue", pa.string()), ("fill_id", pa.string()), ("client_order_id", pa.string()),
    ("venue_order_id", pa.string()), ("symbol", pa.string()), ("side", pa.string()), ("qty", DEC),
    ("price", DEC), ("fee", DEC), ("fee_currency", pa.string()), ("liquidity", pa.string()), ("ts", pa.int64()),
])

POSITIONS = pa.schema([
    ("account", pa.string()), ("venue", pa.string()), ("symbol", pa.string()), ("qty", DEC),
    ("avg_price", DEC), ("ts", pa.int64()),
])

EXECUTION_METRICS = pa.schema([
    ("account", pa.string()), ("venue", pa.string()), ("client_order_id", pa.string()), ("symbol", pa.string()),
    ("side", pa.string()), ("status", pa.string()), ("reject_rule", pa.string()), ("decision_ms", pa.int64()),
    ("arrival_price", pa.float64()), ("avg_fill_price", pa.float64()), ("slippage_bps", pa.float64()),
    ("submit_ack_ms", pa.float64()), ("ack_fill_ms", pa.float64()), ("fill_ratio", pa.float64()),
])
