"""Dashboard tables (migrations 800-899): alert rules (latest definition wins) and fired-alert history."""

from __future__ import annotations

import pyarrow as pa

from cluster.store.migrations import Migration

_ALERT_RULES = """
CREATE TABLE IF NOT EXISTS {db}.alert_rules (
    rule_id String,
    rule String COMMENT 'JSON pipelines.alerts.AlertRule',
    deleted UInt8 COMMENT '1 = deleted (a tombstone version)',
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY rule_id
"""

_ALERT_EVENTS = """
CREATE TABLE IF NOT EXISTS {db}.alert_events (
    rule_id String,
    rule_name String,
    kind LowCardinality(String),
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    ts Int64 COMMENT 'open time of the bar (or bucket) that fired',
    value Float64,
    message String,
    webhook_status String COMMENT 'empty, HTTP status, or the delivery error',
    fired_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(fired_at)
ORDER BY (rule_id, exchange, symbol, timeframe, ts)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(800, "dashboard: alert_rules, alert_events", (_ALERT_RULES, _ALERT_EVENTS)),
)

ALERT_RULES = pa.schema([
    pa.field("rule_id", pa.string(), nullable=False),
    pa.field("rule", pa.string(), nullable=False),
    pa.field("deleted", pa.uint8(), nullable=False),
    pa.field("updated_at", pa.timestamp("ms", tz="UTC"), nullable=False),
])

ALERT_EVENTS = pa.schema([
    pa.field("rule_id", pa.string(), nullable=False),
    pa.field("rule_name", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("exchange", pa.string(), nullable=False),
    pa.field("symbol", pa.string(), nullable=False),
    pa.field("timeframe", pa.string(), nullable=False),
    pa.field("ts", pa.int64(), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
    pa.field("message", pa.string(), nullable=False),
    pa.field("webhook_status", pa.string(), nullable=False),
    pa.field("fired_at", pa.timestamp("ms", tz="UTC"), nullable=False),
])
