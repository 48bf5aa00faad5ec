"""Ingestion's tables and views (versions 400-499): latest price, ingestion rate, volume and gap views."""

from __future__ import annotations

from cluster.store.migrations import Migration

# Candle close time = open time + bar length; the newest close wins, whatever the timeframe.
_BAR_MS = ("multiIf(timeframe = '1m', 60000, timeframe = '5m', 300000, timeframe = '15m', 900000, "
           "timeframe = '1h', 3600000, timeframe = '4h', 14400000, 86400000)")

_LATEST_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.latest_price_agg (
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    close_ts AggregateFunction(max, Int64),
    close AggregateFunction(argMax, Float64, Int64)
) ENGINE = AggregatingMergeTree
ORDER BY (exchange, symbol)
"""

_LATEST_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_latest_price TO {db}.latest_price_agg AS
SELECT exchange, symbol, maxState(ts + BAR_MS) AS close_ts, argMaxState(close, ts + BAR_MS) AS close
FROM {db}.candles
GROUP BY exchange, symbol
""".replace("BAR_MS", _BAR_MS)

_LATEST_VIEW = """
CREATE VIEW IF NOT EXISTS {db}.latest_price AS
SELECT exchange, symbol, maxMerge(close_ts) AS close_ts, argMaxMerge(close) AS close
FROM {db}.latest_price_agg
GROUP BY exchange, symbol
"""

_RATE_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.ingest_rate_1m (
    exchange LowCardinality(String),
    source LowCardinality(String),
    timeframe LowCardinality(String),
    minute DateTime('UTC'),
    rows UInt64,
    lag_ms_sum Float64 COMMENT 'sum over rows of ingested_at - candle close time, ms'
) ENGINE = SummingMergeTree
ORDER BY (exchange, source, timeframe, minute)
"""

_RATE_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_ingest_rate TO {db}.ingest_rate_1m AS
SELECT exchange, source, timeframe, toStartOfMinute(ingested_at) AS minute, count() AS rows,
       sum(toFloat64(toUnixTimestamp64Milli(ingested_at) - (ts + BAR_MS))) AS lag_ms_sum
FROM {db}.candles
GROUP BY exchange, source, timeframe, minute
""".replace("BAR_MS", _BAR_MS)

_VOLUME_VIEW = """
CREATE VIEW IF NOT EXISTS {db}.volume_by_exchange AS
SELECT c.exchange AS exchange, c.timeframe AS timeframe, c.ts AS ts, count() AS symbols,
       sum(c.volume) AS volume, sum(c.volume * c.close) AS quote_volume
FROM {db}.candles AS c FINAL
GROUP BY c.exchange, c.timeframe, c.ts
"""

_GAPS_VIEW = """
CREATE VIEW IF NOT EXISTS {db}.data_gaps_v AS
SELECT exchange, symbol, timeframe, from_ts, to_ts, to_ts - from_ts AS span_ms, detected_at, repaired_at,
       method, repaired_at IS NOT NULL AS repaired,
       if(repaired_at IS NULL, NULL, dateDiff('millisecond', detected_at, repaired_at)) AS repair_ms
FROM {db}.data_gaps FINAL
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(400, "ingest: latest price materialized view", (_LATEST_TABLE, _LATEST_MV, _LATEST_VIEW)),
    Migration(401, "ingest: ingestion rate and lag per minute", (_RATE_TABLE, _RATE_MV)),
    Migration(402, "ingest: volume per exchange/timeframe and gap views", (_VOLUME_VIEW, _GAPS_VIEW)),
)
